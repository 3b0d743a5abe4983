"""Simulation: physics models, protocol-level instrument simulators and the simulated bench."""
