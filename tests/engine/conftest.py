from __future__ import annotations

import pytest


@pytest.fixture
def quote_store(seeded_quotes):
    """A store with one equity and 20k random-walk quotes (seeded, two ticks wide)."""
    return seeded_quotes(20_000, 3)
