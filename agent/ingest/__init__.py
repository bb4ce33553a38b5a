"""Ingest: the embedded broker, validated and windowed sensor frames, and the outbound outbox."""
