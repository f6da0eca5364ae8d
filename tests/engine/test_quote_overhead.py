"""The node's per-quote overhead (issue 12 goal node_overhead_vs_raw_nautilus): each quote is applied to
the gate once although the strategy and the RiskSupervisor both receive it, and the strategy's per-quote
"any order still working?" question is answered without building order lists — with the same answer as
``orders_working`` at every quote, in-flight orders included. Real BacktestEngine runs, counted calls."""

from __future__ import annotations

from strategies.quote_reversion import QuoteReversion, QuoteReversionConfig
from workbench.engine.backtest import backtest
from workbench.engine.config import VenueSpec
from workbench.risk.gate import RiskGate

ENTRY = {"strategy_path": "strategies.quote_reversion:QuoteReversion",
         "config_path": "strategies.quote_reversion:QuoteReversionConfig",
         "config": {"instrument_id": "DEMO.XNAS", "trade_size": 100, "max_position": 500, "entry_spreads": 3.0,
                    "warmup": 50}}
DATA = {"instrument_ids": ["DEMO.XNAS"]}
N = 1500


def test_each_quote_reaches_the_gate_once(seeded_quotes, monkeypatch):
    calls = []
    applied = RiskGate.on_quote

    def counted(self, instrument_id, ts, bid, ask):
        calls.append(ts)
        return applied(self, instrument_id, ts, bid, ask)

    monkeypatch.setattr(RiskGate, "on_quote", counted)
    res = backtest(ENTRY, DATA, store=seeded_quotes(N, 5))
    assert len(res.orders) > 5  # the strategy trades: its decisions used the gate's marks
    assert len(calls) == N  # before: 2 * N (the strategy's and the supervisor's feed)
    assert len(set(calls)) == N


class _Checked(QuoteReversion):
    """QuoteReversion that, at every quote, compares the fast answer with the order lists."""

    def __init__(self, config):
        super().__init__(config)
        self.seen: list[tuple[bool, bool, bool]] = []  # (fast, from the lists, an order in flight)

    def on_quote_tick(self, tick):
        iid = self.instrument_id
        inflight = bool(self.cache.orders_inflight(instrument_id=iid, strategy_id=self.id)) or any(
            o.status.name == "INITIALIZED" for o in self.orders_working(iid))
        self.seen.append((self.has_orders_working(iid), bool(self.orders_working(iid)), inflight))
        super().on_quote_tick(tick)


def test_has_orders_working_agrees_with_orders_working_in_flight_too(seeded_quotes):
    cfg = QuoteReversionConfig(**ENTRY["config"], strategy_id="QuoteReversion")
    s = _Checked(cfg)
    backtest(s, DATA, VenueSpec(latency_ms=2500), store=seeded_quotes(N, 3))  # acks slower than the quotes
    assert all(fast == listed for fast, listed, _ in s.seen)
    assert any(f for f, _, inflight in s.seen if inflight)  # in-flight orders were asked about ...
    assert any(not f for f, _, _ in s.seen)  # ... and idle quotes too
    assert s.has_orders_working("DEMO.XNAS") == bool(s.orders_working("DEMO.XNAS"))  # str ids as well
