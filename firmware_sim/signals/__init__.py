"""Synthetic sensor signals with known truth, for simulated devices, tests and benchmarks."""
