"""Instrument drivers: one instrument's command set each, and nothing of Bluesky."""
