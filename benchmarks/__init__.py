"""Tessera's benchmarks: numbers, not pass/fail. Run with `./run bench` or `python -m benchmarks`."""
