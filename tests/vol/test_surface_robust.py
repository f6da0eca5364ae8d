"""Degrade per expiry, not per surface: an expiry without a forward or under min_T is dropped with
its reason; the forward falls back to spot at the other expiries' rate curve when parity fails."""

from __future__ import annotations

import pandas as pd
import pytest

from workbench.vol import VolSurface, synthetic_chain


def _one_sided(chain: pd.DataFrame, expiry) -> pd.DataFrame:
    """No put quotes at all on ``expiry``: put-call parity cannot give its forward."""
    return chain[~((chain["expiry"] == expiry) & (chain["right"] == "P"))]


def test_expiry_without_parity_falls_back_to_spot_at_the_curve_rate():
    chain, as_of = synthetic_chain(seed=7)
    expiries = sorted(chain["expiry"].unique())
    target = expiries[len(expiries) // 2]
    surf = VolSurface.from_chain(_one_sided(chain, target), as_of)
    fwd = surf.forwards[pd.Timestamp(target)]
    assert fwd.method == "spot_curve"
    spot = float(chain["underlying_price"].iloc[0])
    assert fwd.forward == pytest.approx(spot / fwd.discount)
    assert pd.Timestamp(target) in [pd.Timestamp(e) for e in surf.expiries]


def test_unusable_expiries_are_dropped_with_reasons_in_summary():
    chain, as_of = synthetic_chain(seed=7)
    expiries = sorted(chain["expiry"].unique())
    target = expiries[len(expiries) // 2]
    no_spot = _one_sided(chain, target).drop(columns=["underlying_price"])
    short = no_spot[no_spot["expiry"] == expiries[0]].assign(
        expiry=pd.Timestamp(as_of, tz="UTC").tz_convert("America/New_York").tz_localize(None).normalize())
    surf = VolSurface.from_chain(pd.concat([no_spot, short]), as_of)
    dropped = {pd.Timestamp(e): why for e, why in surf.dropped.items()}
    assert "cannot infer a forward" in dropped[pd.Timestamp(target)]
    assert "under min_T" in next(why for e, why in dropped.items() if e != pd.Timestamp(target))
    assert len(surf.smiles) == len(expiries) - 1
    text = surf.summary()
    assert "dropped expiries: 2" in text and f"{pd.Timestamp(target):%Y-%m-%d}: cannot infer a forward" in text


def test_too_few_quotes_is_a_listed_reason():
    chain, as_of = synthetic_chain(seed=7)
    expiries = sorted(chain["expiry"].unique())
    last = expiries[-1]
    thin = pd.concat([chain[chain["expiry"] != last],
                      chain[chain["expiry"] == last].sort_values("strike").iloc[::25]])
    surf = VolSurface.from_chain(thin, as_of)
    why = {pd.Timestamp(e): w for e, w in surf.dropped.items()}.get(pd.Timestamp(last), "")
    assert "usable OTM quotes" in why or "cannot infer a forward" in why
