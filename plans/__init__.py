"""Bluesky plans, one module per experiment, and the plan stubs they share."""
