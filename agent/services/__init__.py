"""Services: the runtime every product is composed of, the stream watcher, the hub, health and metrics."""
