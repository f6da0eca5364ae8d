"""Helpers for ingest tests: real Lean files, and copies of them with one injected defect."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest


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
