"""Physics models of the bench: plain Python, state advanced by an explicit clock.

``photoreactor`` (H2 evolution and CO2 photoreduction in a sealed reactor under a lamp),
``cycloaddition`` (PO + CO2 in the Parr vessel) and ``photophysics`` (absorption, emission,
bleaching and decays of the Mn2+:(CdSe)13 films).  Each is calibrated to the published numbers in
the project's science notes; the protocol simulators in ``labctl.sim.instruments`` read them.
"""
