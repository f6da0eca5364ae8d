"""In-flight orders count (issue 12, item 3): with nautilus's latency model on the venue an order stays
SUBMITTED for a while; a strategy that looked only at ``cache.orders_open`` sent a second order on the
next signal before the first was acknowledged. Reproduced in a real BacktestEngine, then fixed twice:
``GatedStrategy.orders_working`` (working + in flight + not yet submitted) in QuoteReversion, and the
gate's position check, which books an order at approval, so it already counts the in-flight ones."""

from __future__ import annotations

from pathlib import Path

import yaml

from strategies.quote_reversion import QuoteReversion
from workbench.engine.backtest import backtest
from workbench.engine.config import VenueSpec

ROOT = Path(__file__).resolve().parents[2]
ENTRY = {"strategy_path": "strategies.quote_reversion:QuoteReversion",
         "config_path": "strategies.quote_reversion:QuoteReversionConfig",
         "config": {"instrument_id": "DEMO.XNAS", "trade_size": 100, "max_position": 500, "entry_spreads": 3.0,
                    "warmup": 50}}
DATA = {"instrument_ids": ["DEMO.XNAS"]}
SLOW_ACK = VenueSpec(latency_ms=2500)  # > the 1 s between quotes: every order is in flight over a signal


def _overlaps(result) -> int:
    """Orders created while another order of the strategy was still live (not closed)."""
    spans = sorted((o.init_event.ts_init, o.ts_last if o.is_closed else 1 << 62) for o in result.engine.cache.orders())
    n, live_until = 0, -1
    for start, end in spans:
        n += start < live_until
        live_until = max(live_until, end)
    return n


def _max_abs_position(result) -> float:
    pos, worst = 0.0, 0.0
    fills = result.fills.sort_values("ts_event", kind="stable")
    for side, qty in zip(fills["order_side"], fills["last_qty"], strict=True):
        pos += float(qty) if str(side).endswith("BUY") else -float(qty)
        worst = max(worst, abs(pos))
    return worst


def test_latency_no_longer_doubles_quote_reversion_orders(seeded_quotes):
    store = seeded_quotes(3000, 3)
    fast = backtest(ENTRY, DATA, store=store)
    slow = backtest(ENTRY, DATA, SLOW_ACK, store=store)
    assert len(fast.orders) > 10 and len(slow.orders) > 10  # the scenario trades
    assert _overlaps(fast) == 0
    assert _overlaps(slow) == 0, "a second order was sent while the first was still in flight"
    assert _max_abs_position(slow) <= 500


class _OpenOnly(QuoteReversion):
    """The pre-fix QuoteReversion: treats an order as working only once the venue acknowledged it."""

    def orders_working(self, instrument_id=None):
        return self.cache.orders_open(instrument_id=self.instrument_id, strategy_id=self.id)

    def has_orders_working(self, instrument_id=None):  # the per-quote form asks the same (open only)
        return bool(self.orders_working(instrument_id))


def test_gate_position_limit_counts_in_flight_orders(seeded_quotes, tmp_path):
    """A strategy that double-sends is stopped by the gate: its max_position_qty (here the strategy's own
    500) is checked against position + working + in-flight orders, so the extra in-flight order is refused
    with POSITION_LIMIT and the position never goes past the limit."""
    store = seeded_quotes(3000, 3)
    risk = yaml.safe_load((ROOT / "config/risk.yaml").read_text())
    risk["strategies"]["QuoteReversion-000"]["limits"] = {"max_position_qty": 500}
    risk_path = tmp_path / "risk.yaml"
    risk_path.write_text(yaml.safe_dump(risk))
    from strategies.quote_reversion import QuoteReversionConfig

    cfg = QuoteReversionConfig(**ENTRY["config"], risk_config=str(risk_path), strategy_id="QuoteReversion")
    res = backtest(_OpenOnly(cfg), DATA, SLOW_ACK, store=store, risk_config=str(risk_path))
    assert _overlaps(res) > 0  # the naive strategy does double-send ...
    refused = [d for d in res.decisions if "POSITION_LIMIT" in {str(r) for r in d.reasons}]
    assert refused  # ... and the gate refuses what would exceed the limit with the in-flight orders
    assert _max_abs_position(res) <= 500
