"""Device firmware simulators: they publish over MQTT what a real device would."""
