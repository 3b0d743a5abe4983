"""Ophyd-async devices of the bench and, under ``devices.drivers``, the instruments' wire protocols."""
