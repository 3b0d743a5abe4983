"""Protocol simulators: each answers its driver with the instrument's real wire protocol.

Named like the driver they answer (``oriel_lamp``, ``dc2200``, ``parr4848``, ``cornerstone``,
``spectrometer``, ``sr430``), plus the GC (``gc``: relay box, gas sampling and the exported
``chromatogram``) and the assembled ``fluorometer``; ``line`` is the ASCII line framing they share.
"""
