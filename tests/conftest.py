"""Shared fixtures: a simulated bench in virtual time, with and without a catalog on disk."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.config import load_bench
from labctl.session import Session


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("labctl-data")


@pytest.fixture
def dry_session(tmp_path: Path) -> Iterator[Session]:
    """A virtual-time session on the packaged simulated bench that records nothing."""
    with Session(data_dir=tmp_path, speed=math.inf, record=False) as s:
        s.open_bench(load_bench("sim"))
        yield s


@pytest.fixture
def recording_session(data_dir: Path) -> Iterator[Session]:
    """A virtual-time session writing JSON-lines files and the Tiled catalog in ``data_dir``."""
    with Session(data_dir=data_dir, speed=math.inf, record=True) as s:
        s.open_bench(load_bench("sim"))
        yield s
