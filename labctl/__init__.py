"""labctl: instrument control and autonomous experiments for a photocatalysis bench.

The Python API (see the README's "Python API")::

    import labctl
    with labctl.open_bench("sim", data_dir="data") as bench:
        bench.RE(h2_evolution(bench.lamp, bench.gc, bench.reactor, ...))

``open_bench``, ``record`` and ``open_catalog`` are imported on first use, so ``import labctl``
stays fast and changes nothing in bluesky.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["open_bench", "open_catalog", "record"]

if TYPE_CHECKING:
    from labctl.api import open_bench, open_catalog, record


def __getattr__(name: str) -> Any:
    if name in __all__:
        from labctl import api

        return getattr(api, name)
    raise AttributeError(f"module 'labctl' has no attribute {name!r}")
