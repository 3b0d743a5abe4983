"""Ophyd-async devices of the bench and, under ``labctl.devices.drivers``, the instruments' wire protocols."""
