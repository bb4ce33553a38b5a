"""Evaluation harnesses for the encoders: real recordings and simulated sets, scored.

They sit above both `adapters/` (what is scored) and `firmware_sim/` (what makes the
synthetic sets), so that neither of those imports the other. `tessera eval KIND` runs them.
"""
