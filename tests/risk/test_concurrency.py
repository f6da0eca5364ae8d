"""Kill switch and config swaps under arbitrary interleavings of events.

Property: over every interleaving of intents, drawdown (price) events, config swaps and operator
halts, (1) no order intent is approved after the kill switch's activation point, (2) every decision's
limits come from exactly the config version it records. Hypothesis explores 10k interleavings
(2.5k generated event lists x 4 orders each, derandomized so the run is reproducible); a threaded test
then races real threads through the same gate.
"""

import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.risk.config import config_from_dict
from workbench.risk.gate import RiskGate
from workbench.risk.types import Action, OrderIntent, Reason, Side, Verdict

SPY = "SPY.XNAS"
T0 = 1_710_514_800_000_000_000  # 2024-03-15 11:00 New York
EQUITY = 200_000.0


def _config(version: int):
    """Version k: max_order_qty 100k and band 10k+40 bps: both limits identify the version."""
    return config_from_dict(
        {
            "equity": EQUITY,
            "defaults": {
                "max_order_qty": 100 * version,
                "max_order_notional": 10_000_000,
                "max_instrument_notional": 10_000_000,
                "max_position_qty": 100_000,
                "price_band_bps": 10 * version + 40,
            },
            "rate": {"soft_cap": 100_000},
            "global_rate": {"soft_cap": 100_000},
            "exposure": {
                "buckets": {
                    "LT": {"target_pct": 80, "max_pct": 200},
                    "MM_PURE": {"target_pct": 20, "max_pct": 200},
                }
            },
            "budget": {"total_pct": 130},
            "stormguard": {"bad_tick": {"max_jump_bps": 300, "confirm_ticks": 1}},
            "strategies": {"LT-001": {"bucket": "LT"}, "MM-002": {"bucket": "MM_PURE"}},
        }
    ).with_version(version)


CONFIGS = {k: _config(k) for k in (1, 2, 3)}


def _gate() -> RiskGate:
    g = RiskGate(CONFIGS[1])
    g.on_quote(SPY, T0, 99.99, 100.01)
    g.on_fill("seed", None, T0, 1000, 100.0, strategy_id="LT-001", instrument_id=SPY, side=Side.BUY)
    return g


def _check(g: RiskGate, decisions) -> None:
    for d in decisions:
        v = d.values
        if "band_limit_bps" in v:  # a decision that reached the validators
            assert v["band_limit_bps"] == 10 * d.config_version + 40
            assert round(v["max_order_qty"] / v["storm_multiplier"]) == 100 * d.config_version
    if g.halt_seq is not None:
        late = [d for d in decisions if d.decision_seq > g.halt_seq and d.intent.action is not Action.CANCEL]
        assert all(d.verdict is Verdict.REJECT for d in late)
        assert all(
            d.reasons == (Reason.KILL_SWITCH,) for d in late if d.reasons != (Reason.DUPLICATE_INTENT,)
        )
        assert g.global_guard.state.name == "HALT"  # sticky: nothing but a reset leaves it


OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("intent"),
            st.sampled_from(["LT-001", "MM-002"]),
            st.sampled_from(["BUY", "SELL"]),
            st.integers(1, 400),
            st.integers(-30, 30),
        ),
        st.tuples(st.just("drop"), st.integers(5, 90)),
        st.tuples(st.just("swap"), st.sampled_from([1, 2, 3])),
        st.tuples(st.just("halt")),
    ),
    min_size=1,
    max_size=30,
)


def _run(ops) -> None:
    g = _gate()
    mid, ts, decisions = 100.0, T0, []
    for n, op in enumerate(ops):
        ts += 1_000_000
        kind = op[0]
        if kind == "intent":
            _, sid, side, qty, off = op
            px = f"{mid + off / 100:.2f}"
            decisions.append(g.evaluate(OrderIntent.new(sid, SPY, side, qty, px, ts_event=ts, seq=n)))
        elif kind == "drop":
            mid = round(mid - op[1] / 100, 2)
            g.on_quote(SPY, ts, mid - 0.01, mid + 0.01)
        elif kind == "swap":
            g.swap_config(CONFIGS[op[1]], ts)
        else:
            decisions.extend(g.halt("property test", ts=ts))
    _check(g, decisions)


INTERLEAVINGS_PER_EXAMPLE = 4
EXAMPLES = 2_500  # x 4 interleavings = 10k interleavings


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(OPS, st.randoms(use_true_random=False))
def test_no_approval_after_kill_switch_and_no_mixed_config(ops, rnd):
    """Each example is one multiset of events run in its generated order and in 3 more orders
    shuffled by a Hypothesis-controlled RNG (reproducible): 2.5k examples, 10k interleavings."""
    _run(ops)
    for _ in range(INTERLEAVINGS_PER_EXAMPLE - 1):
        shuffled = list(ops)
        rnd.shuffle(shuffled)
        _run(shuffled)


def test_threads_racing_intents_drawdowns_and_swaps():
    """Two trader threads and a market thread (drawdown + config swaps) on one gate. The market waits
    for some decisions before it starts falling and the traders run until they have seen the kill
    switch, so both sides of the activation point are exercised whatever the scheduling."""
    g = _gate()
    decisions: list = []
    lock = threading.Lock()
    start = threading.Barrier(3)

    def trader(sid: str, base_seq: int):
        start.wait()
        mine = []
        for k in range(200_000):
            # timestamps ahead of every quote: never stale, whatever the interleaving
            intent = OrderIntent.new(
                sid,
                SPY,
                "BUY" if k % 2 else "SELL",
                1 + k % 50,
                "99.95",
                ts_event=T0 + 10**12 + k,
                seq=base_seq + k,
            )
            d = g.evaluate(intent)
            mine.append(d)
            if d.reasons == (Reason.KILL_SWITCH,) and k > 100:
                break
            time.sleep(0)
        with lock:
            decisions.extend(mine)

    def market():
        start.wait()
        while g._seq < 400:
            time.sleep(0.001)
        mid = 100.0
        for k in range(400):
            g.swap_config(CONFIGS[1 + k % 3])
            mid -= 0.01
            g.on_quote(SPY, T0 + k + 1, round(mid - 0.01, 2), round(mid + 0.01, 2))
            time.sleep(0)

    threads = [
        threading.Thread(target=trader, args=("MM-002", 0)),
        threading.Thread(target=trader, args=("LT-001", 10**6)),
        threading.Thread(target=market),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert g.global_guard.state.name == "HALT"  # -4.0 on 1000 shares = -2% of equity
    assert len({d.decision_seq for d in decisions}) == len(decisions)
    assert sum(d.approved for d in decisions) >= 100
    assert sum(d.reasons == (Reason.KILL_SWITCH,) for d in decisions) >= 2
    assert len({d.config_version for d in decisions}) >= 2
    _check(g, decisions)
