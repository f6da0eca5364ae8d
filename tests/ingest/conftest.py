"""Helpers for ingest tests: real Lean files, copies of them with one injected defect, a bars mapping."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

BARS_MAPPING = """kind: bars
instrument: XYZ.XNAS
asset_class: EQUITY
bar_size: 1min
time: {columns: [t], format: "%Y-%m-%d %H:%M:%S"}
fields: {open: o, high: h, low: l, close: c, volume: v}
"""


@pytest.fixture
def bars_mapping(tmp_path: Path) -> Callable[..., Path]:
    """``bars_mapping(extra="")`` writes ``tmp_path/m.yaml``: the hand-written 1-minute bars mapping of
    XYZ.XNAS for CSV columns ``t,o,h,l,c,v`` plus the YAML lines in ``extra``; returns its path."""

    def make(extra: str = "") -> Path:
        path = tmp_path / "m.yaml"
        path.write_text(BARS_MAPPING + extra)
        return path

    return make


@pytest.fixture(scope="session")
def lean(real_data: Path) -> Path:
    return real_data / "lean"


@pytest.fixture
def rezip(tmp_path: Path) -> Callable[..., Path]:
    """Copy a real zip into a Lean-shaped tmp tree, passing each member through ``edit(name, data)``.

    ``rel`` is the path below ``lean/`` (the layout encodes what the file is); members for which
    ``keep(name)`` is false are left out, to make small versions of big option zips.
    """

    def make(src: Path, rel: str, edit: Callable[[str, bytes], bytes] | None = None,
             keep: Callable[[str], bool] | None = None) -> Path:
        dst = tmp_path / "lean" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
            for name in sorted(zin.namelist()):
                if keep is not None and not keep(name):
                    continue
                data = zin.read(name)
                zout.writestr(name, edit(name, data) if edit else data)
        return dst

    return make


def _member_lines(path: Path, member: str | None = None) -> list[list[str]]:
    with zipfile.ZipFile(path) as zf:
        name = member or sorted(zf.namelist())[0]
        text = zf.read(name).decode()
    return [line.split(",") for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def member_lines() -> Callable[..., list[list[str]]]:
    """Read a zip member's CSV rows independently of the code under test (plain split)."""
    return _member_lines
