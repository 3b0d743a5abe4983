"""Figures of merit computed from a run's tables.

``gas_phase`` (H2 evolution and CO2 photoreduction: rates, AQY, selectivity, leak flags),
``chromatography`` (peak integration, GC calibration lines, headspace amounts),
``cycloaddition`` (conversion, TON/TOF, CO2 uptake) and ``photoluminescence`` (retention,
bleaching fit, PLQY, decay fits).
"""
