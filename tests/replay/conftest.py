"""A small seeded quote stream and the replayed strategy shared by the replay tests."""

from __future__ import annotations

import pytest

from workbench.engine import FillSpec, VenueSpec

STRATEGY = {
    "strategy_path": "strategies.quote_reversion:QuoteReversion",
    "config_path": "strategies.quote_reversion:QuoteReversionConfig",
    "config": {"instrument_id": "DEMO.XNAS", "entry_spreads": 2.0},
}


@pytest.fixture
def small_store(seeded_quotes):
    return seeded_quotes(600, 7)


@pytest.fixture
def strategy() -> dict:
    return STRATEGY


@pytest.fixture
def venue() -> VenueSpec:
    # probabilistic fills: the fill model's draws must survive chunking and re-execution
    return VenueSpec(fill=FillSpec(prob_fill_on_limit=0.5, prob_slippage=0.3, seed=5))
