"""Shared fixtures: the real-data folder beside the checkout and a fresh in-memory store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"

os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``../shared/data/real``; required (CI has it), so its absence is a failure, not a skip."""
    if not REAL_DATA.is_dir():
        raise FileNotFoundError(f"real-data fixtures missing: expected {REAL_DATA} beside the checkout")
    return REAL_DATA


@pytest.fixture
def store():
    from workbench.store import Store

    s = Store.open(":memory:")
    yield s
    s.close()
