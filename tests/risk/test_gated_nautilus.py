"""The gate in front of a real nautilus BacktestEngine: nothing reaches the venue unapproved."""

from decimal import Decimal

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, OrderType, TradingState
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

from workbench.engine.gated import GatedStrategy, RiskSupervisor, strategy_config
from workbench.engine.reconcile import reconcile
from workbench.risk.config import config_from_dict
from workbench.risk.gate import RiskGate
from workbench.risk.types import Action, Reason

SPY = TestInstrumentProvider.equity("SPY", "XNAS")


class RogueStrategy(GatedStrategy):
    """Uses the *plain nautilus API* (and one intent) on a script keyed by quote number."""

    def __init__(self, gate, script):
        super().__init__(strategy_config("LT-001"), gate)
        self.script = script
        self.n = 0
        self.bypass = None

    def on_start(self):
        self.subscribe_quote_ticks(SPY.id)

    def on_quote_tick(self, tick):
        self.n += 1
        action = self.script.get(self.n)
        if action == "intent":
            self.submit_intent(self.intent(SPY.id, "BUY", 100, "99.50"))
        elif action == "big_market":
            self.submit_intent(self.intent(SPY.id, "BUY", 11_800, None))
        elif action == "direct_market":
            self.submit_order(self.order_factory.market(SPY.id, OrderSide.BUY, Quantity.from_int(5000)))
        elif action == "direct_limit":
            self.submit_order(
                self.order_factory.limit(
                    SPY.id, OrderSide.BUY, Quantity.from_int(10), Price.from_str("99.00")
                )
            )
        elif action == "deep_limit":
            self.submit_order(
                self.order_factory.limit(
                    SPY.id, OrderSide.BUY, Quantity.from_int(10), Price.from_str("90.00")
                )
            )
        elif action == "modify":
            for o in self.cache.orders_open(strategy_id=self.id):
                self.modify_order(o, price=Price.from_str("99.10"))
        elif action == "cancel_all":
            self.cancel_all_orders(SPY.id)
        elif action == "close_all":
            self.close_all_positions(SPY.id)
        elif action == "buy100":
            self.submit_order(self.order_factory.market(SPY.id, OrderSide.BUY, Quantity.from_int(100)))
        elif action == "sell_far":
            self.submit_order(
                self.order_factory.limit(
                    SPY.id, OrderSide.SELL, Quantity.from_int(50), Price.from_str("100.50")
                )
            )
        elif action == "flatten":  # the usual exit: cancel everything, then close everything
            self.cancel_all_orders(SPY.id)
            self.close_all_positions(SPY.id)
        elif action == "bypass":  # skips the gate on purpose: nautilus' HALTED state must stop it
            self.bypass = self.order_factory.market(SPY.id, OrderSide.BUY, Quantity.from_int(1))
            Strategy.submit_order(self, self.bypass)


def _run(gate, script, mids, t0, *, supervise_quotes=False, step_s=1, derisk_interval_ms=1000):
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
    engine.add_venue(
        Venue("XNAS"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(1_000_000, USD)],
        default_leverage=Decimal(4),
    )
    engine.add_instrument(SPY)
    ticks = []
    for k, mid in enumerate(mids):
        ts = t0 + k * step_s * 1_000_000_000
        ticks.append(
            QuoteTick(
                SPY.id,
                SPY.make_price(mid - 0.01),
                SPY.make_price(mid + 0.01),
                Quantity.from_int(100_000),
                Quantity.from_int(100_000),
                ts,
                ts,
            )
        )
    engine.add_data(ticks)
    s = RogueStrategy(gate, script)
    sup = RiskSupervisor(
        gate,
        [s],
        risk_engine=engine.kernel.risk_engine,
        instrument_ids=[SPY.id.value] if supervise_quotes else [],
        derisk_interval_ms=derisk_interval_ms,
    )
    engine.add_strategy(s)
    engine.add_actor(sup)
    engine.run()
    orders = list(engine.cache.orders())
    state = engine.kernel.risk_engine.trading_state
    engine.dispose()
    return s, sup, orders, TradingState(state)


def _cfg(**over):
    cfg = {
        "equity": 1_000_000,
        "strategies": {"LT-001": {"bucket": "LT"}},
        "exposure": {"buckets": {"LT": {"target_pct": 80, "max_pct": 130}}},
        "stormguard": {"bad_tick": {"max_jump_bps": 300, "confirm_ticks": 1}},
    }
    cfg.update(over)
    return config_from_dict(cfg)


T_MID = int(pd.Timestamp("2024-03-15 11:00", tz="America/New_York").tz_convert("UTC").value)


def test_every_order_cancel_and_modify_was_approved():
    gate = RiskGate(_cfg())
    script = {
        2: "intent",
        3: "direct_market",
        4: "direct_limit",
        5: "modify",
        6: "cancel_all",
        8: "close_all",
    }
    s, _, orders, state = _run(gate, script, [100.0] * 10, T_MID)
    rec = reconcile(orders, s.decisions)
    assert rec == {
        "orders": 4,
        "unapproved_orders": 0,
        "qty_mismatch": 0,
        "unapproved_cancels": 0,
        "unapproved_modifies": 0,
    }
    kinds = [(d.intent.action, d.verdict.value) for d in s.decisions]
    assert (Action.MODIFY, "APPROVE") in kinds and kinds.count((Action.CANCEL, "APPROVE")) == 2
    clipped = next(d for d in s.decisions if d.intent.tag == "DIRECT" and d.intent.price is None)
    assert clipped.approved_qty == Decimal(1000) and Reason.SIZE_CLIPPED in clipped.reasons  # 5000 asked
    assert all(o.quantity.as_decimal() in (Decimal(100), Decimal(1000), Decimal(10)) for o in orders)
    assert gate.book.legs[("LT-001", SPY.id.value)].pos == 0  # fills fed back exactly once
    assert state is TradingState.ACTIVE


def test_kill_switch_halts_nautilus_and_a_bypass_is_denied_and_detected():
    # market buy 5000 (~500k), rest a limit, then -3%: -15k = -1.5% of equity -> HALT
    mids = [100.0, 100.0, 100.0, 100.0, 98.0, 97.0, 97.0, 97.0, 97.0]
    gate2 = RiskGate(
        _cfg(
            defaults={
                "max_order_qty": 20000,
                "max_order_notional": 3_000_000,
                "max_instrument_notional": 3_000_000,
                "max_position_qty": 20000,
                "price_band_bps": 50,
            }
        )
    )
    script = {2: "direct_market", 3: "deep_limit", 7: "intent", 8: "bypass"}
    s, sup, orders, state = _run(gate2, script, mids, T_MID)
    assert gate2.global_guard.state.name == "HALT" and state is TradingState.HALTED
    assert sup.trading_states[-1][1] == "HALTED"
    # the resting limit was cancelled by the kill switch, through an approved CANCEL
    limit = next(o for o in orders if o.order_type == OrderType.LIMIT)
    assert limit.status_string() == "CANCELED"
    last = s.decisions[-1]
    assert last.intent.action is Action.NEW and last.reasons == (Reason.KILL_SWITCH,)
    # the deliberate bypass never reached the venue (nautilus denied it) and reconciliation flags it
    assert s.bypass.status_string() == "DENIED"
    rec = reconcile(orders, s.decisions)
    assert rec["unapproved_orders"] == 1 and rec["unapproved_cancels"] == 0


def test_derisk_playbook_orders_go_through_the_gate_in_a_backtest():
    cfg = _cfg(
        defaults={
            "max_order_qty": 20000,
            "max_order_notional": 3_000_000,
            "max_instrument_notional": 3_000_000,
            "max_position_qty": 20000,
            "price_band_bps": 50,
        }
    )
    gate = RiskGate(cfg)
    t_late = int(pd.Timestamp("2024-03-15 15:40", tz="America/New_York").tz_convert("UTC").value)
    # 15:40 (MID) buy 11_800 -> 118%; from 15:45 LATE (115%): soft derisk; from 15:58 CLOSE: hard derisk

    # quotes every 30 s until 16:00
    strat, sup, orders, _ = _run(
        gate, {2: "big_market"}, [100.0] * 40, t_late, supervise_quotes=True, step_s=30, derisk_interval_ms=30_000
    )
    tags = {d.intent.tag for d in sup.derisk_decisions if d.approved}
    assert tags == {"DERISK_SOFT", "DERISK_HARD"}
    rec = reconcile(orders, strat.decisions)
    assert rec["orders"] > 2 and rec["unapproved_orders"] == 0 and rec["unapproved_cancels"] == 0
    assert all(d in strat.decisions for d in sup.derisk_decisions)
    assert gate.book.gross_cur < 1_150_000  # the playbook actually reduced the book


def test_close_refused_while_a_cancel_is_pending_is_retried_when_the_cancel_lands():
    gate = RiskGate(_cfg())
    s, _, orders, _ = _run(gate, {2: "buy100", 4: "sell_far", 6: "flatten"}, [100.0] * 12, T_MID)
    closes = [d for d in s.decisions if d.intent.reduce_only]
    # first attempt: the working SELL 50 still counts as reducing, so SELL 100 would flip the position
    assert not closes[0].approved and closes[0].reasons == (Reason.INVALID_INTENT,)
    assert len(closes) == 2 and closes[1].approved  # retried after the cancel was acknowledged
    assert s.portfolio.is_flat(SPY.id)
    rec = reconcile(orders, s.decisions)
    assert rec["orders"] == 3 and all(v == 0 for k, v in rec.items() if k != "orders")
