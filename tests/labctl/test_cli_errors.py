"""The CLI's answers to a data folder or an export target it cannot use: a clear error, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def labctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labctl.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only file system (root ignores a folder's permission bits, not a read-only mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only file system needs root")
    mnt = tmp_path / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_read_only_data_folder_is_refused_with_the_fix(read_only_dir: Path, tmp_path: Path) -> None:
    res = labctl("run", "h2-evolution", "--data-dir", str(read_only_dir), "-p", "duration=1h", cwd=tmp_path)
    assert res.returncode == 2
    assert (
        f"error: data folder {read_only_dir} is not writable; give --data-dir a folder you can write to" in res.stderr
    )
    assert "Traceback" not in res.stderr


def test_a_data_folder_that_is_a_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    res = labctl("runs", "list", "--data-dir", str(target), cwd=tmp_path)
    assert res.returncode == 2
    assert f"error: data folder {target}: File exists; give --data-dir a folder you can write to" in res.stderr
    assert "Traceback" not in res.stderr


def test_an_export_to_a_read_only_folder_is_refused_and_the_run_is_untouched(
    read_only_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    made = labctl(
        "run", "h2-evolution", "--data-dir", str(data), "-p", "duration=1h", "-p", "sample_interval=30min",
        "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    (jsonl,) = (data / "runs").glob("*.jsonl")
    before = jsonl.read_bytes()
    out = read_only_dir / "h2.csv"
    res = labctl("runs", "export", jsonl.stem[:8], "--data-dir", str(data), "-o", str(out), cwd=tmp_path)
    assert res.returncode == 2
    assert (
        f"error: could not write {out}: Read-only file system; give --output a path in a folder you can write to"
        in res.stderr
    )
    assert "Traceback" not in res.stderr
    assert jsonl.read_bytes() == before
