"""What a person opens after a run: ``figures.json``, ``report.md`` and the plots.

``run_report`` writes a run's report (and the gas-phase, reactor-trace and recycling plots);
``photoluminescence`` draws the PL experiments' plots.
"""
