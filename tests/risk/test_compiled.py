"""The compiled decision core: rate rings that outgrow their first size, values rows that decode under
the config they were made with, and a hot path that leaves nothing for the cyclic GC."""

import gc

import pytest

from workbench.risk.config import config_from_dict
from workbench.risk.types import Action, Reason


def _roomy(rk, rate_cap: int) -> dict:
    """Limits nothing but the strategy's order rate reaches."""
    huge = 10**9
    return rk.base_config(
        defaults={
            "max_order_qty": 10,
            "max_order_notional": huge,
            "max_instrument_notional": huge,
            "max_position_qty": huge,
            "price_band_bps": 50,
        },
        rate={"window_s": 10, "soft_cap": rate_cap, "warn_frac": 1.0},
        global_rate={"window_s": 10, "soft_cap": 10 * rate_cap},
        budget={"total_pct": huge},
        exposure={
            "hard_cap_pct": huge,
            "buckets": {
                "LT": {"target_pct": 1, "max_pct": huge},
                "MM_PURE": {"target_pct": 1, "max_pct": huge},
            },
        },
        policy={
            "regimes": [{"name": "ALL", "start": "open+0m", "tolerance_pct": huge, "allow_derisk": False}],
            "outside_session": "ALL",
        },
    )


def test_rate_windows_keep_counting_past_the_first_ring_size(rk):
    cap = 3000  # the rings start with room for 1024 timestamps and must widen twice, keeping order
    cfg = _roomy(rk, cap)
    g = rk.make_gate(cfg)
    ds = [g.evaluate(rk.intent(qty=1, price="99.00", seq=k, ts=rk.T0 + k)) for k in range(cap + 1)]
    assert all(d.approved for d in ds[:cap]) and ds[cap].reasons == (Reason.RATE_LIMIT,)
    assert ds[cap - 1].values["rate_count"] == cap - 1 and ds[cap].values["rate_count"] == cap
    # cancels count too; once the window slides past the first approvals they drop out in order
    c = g.evaluate(
        rk.intent(qty=1, price=None, action=Action.CANCEL, target_id=ds[0].client_order_id, seq=10**6)
    )
    assert c.approved
    later = g.evaluate(rk.intent(qty=1, price="99.00", seq=10**6 + 1, ts=rk.T0 + 10**10 + 99))
    assert later.approved and later.values["rate_count"] == cap + 1 - 100


def test_values_decode_with_the_chain_order_they_were_made_under(rk):
    g = rk.make_gate()
    first = g.evaluate(rk.intent(qty=10, seq=1))
    order = ["budget", "price_band", "order_size"]
    g.swap_config(config_from_dict(rk.base_config(validators=order)).with_version(1))
    second = g.evaluate(rk.intent(qty=10, seq=2))
    base = ["storm_multiplier", "regime", "reducing"]
    assert list(first.values)[:5] == base + ["max_order_qty", "max_order_notional"]
    assert list(second.values) == base + [
        "budget_delta",
        "budget_available",
        "band_bps",
        "band_limit_bps",
        "max_order_qty",
        "max_order_notional",
        "order_notional",
    ]
    assert first.values["rate_count"] == 0 and isinstance(first.values["rate_count"], int)
    assert first.values == first.values and first.values is not first.values  # a fresh dict per read


def test_deciding_creates_nothing_the_cyclic_gc_tracks(rk):
    g = rk.make_gate(_roomy(rk, 10_000))
    for k in range(50):  # warm: legs, strategy rows, cached outcomes
        g.evaluate(rk.intent(qty=1, price="99.00", seq=k))
    gc.collect()
    gc.disable()
    try:
        before = len(gc.get_objects())
        ds = [g.evaluate(rk.intent(qty=1, price="99.00", seq=100 + k)) for k in range(500)]
        ds += [
            g.evaluate(
                rk.intent(qty=1, price=None, action=Action.CANCEL, target_id=d.client_order_id, seq=10**4 + k)
            )
            for k, d in enumerate(ds[:200])
        ]
        grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    assert all(d.approved for d in ds)
    assert grown < 10, grown  # the list above, not one object per decision
    assert not any(
        gc.is_tracked(x) for x in (ds[0], ds[0].raw_values, g.book.orders[ds[300].client_order_id])
    )


def test_decisions_follow_the_book_arrays_when_they_are_reallocated(rk):
    """The compiled gate calls the chain with raw pointers into the book's arrays: a book that grows
    past its first 64 rows (new legs) must be judged on the new array, not the freed one."""
    names = [f"N{k:02d}.XNAS" for k in range(40)]
    cfg = _roomy(rk, 10**6)
    cfg["instruments"] = {n: {"tick": 0.01, "lot": 1} for n in names}
    g = rk.make_gate(cfg)
    before = g.book.F
    for k, n in enumerate(names):
        g.on_quote(n, rk.T0, 10.0 + k, 10.02 + k)
        for s, sid in enumerate(("LT-001", "MM-002")):
            ok = g.evaluate(rk.intent(sid, n, qty=1, price=f"{10.02 + k:.2f}", seq=2 * k + s))
            assert ok.approved, ok.summary()
            # 60 bps through the ask: the band (50 bps) must see this leg's own quote
            bad = g.evaluate(rk.intent(sid, n, qty=1, price=f"{(10.02 + k) * 1.006:.2f}", seq=1000 + 2 * k + s))
            assert bad.reasons == (Reason.PRICE_BAND,), (n, bad.values)
    assert g.book.F is not before and len(g.book.F) > len(before)
    leg = g.book.legs[("MM-002", names[-1])]
    assert leg.open_buy == 1.0 and g.book.orders  # the commit landed in the live array


def test_book_arrays_are_checked_when_assigned(rk):
    import numpy as np

    g = rk.make_gate()
    with pytest.raises(ValueError, match="book F"):
        g.book.F = np.zeros((64, 32), dtype=np.float32)
    with pytest.raises(ValueError, match="book R"):
        g.book.R = np.zeros((8, 100))[:, ::2]
    assert g.evaluate(rk.intent()).approved  # the rejected assignments left the book as it was


def test_latency_histogram_counts_like_bisect_left():
    from bisect import bisect_left

    from workbench.risk.metrics import LATENCY_BUCKETS_S, RiskMetrics
    from workbench.risk.types import Verdict

    m = RiskMetrics()
    bounds = [int(b * 1e9) for b in LATENCY_BUCKETS_S]
    lat = [0, 999, 1000, 1001, 2500, 9_999_999, 10_000_000, 10_000_001, 10**12]
    want = [0] * (len(bounds) + 1)
    for x in lat:
        m.observe(Verdict.APPROVE, (Reason.OK,), x)
        want[bisect_left(bounds, x)] += 1
    assert m._counts == want and m._sum_ns == sum(lat)
    assert m.decisions == {("APPROVE", "OK"): len(lat)}


def test_journal_flush_keeps_decisions_appended_during_the_write(rk):
    import duckdb

    from workbench.risk.journal import DecisionLog, Journal

    con = duckdb.connect(":memory:")
    j = Journal(con, "run")
    g = rk.make_gate(journal=j)
    first = g.evaluate(rk.intent(seq=1))
    write = j._write_decisions
    late = []

    def write_and_decide(ds):  # another thread deciding while this batch is written
        late.append(g.evaluate(rk.intent(seq=2)))
        write(ds)

    j._write_decisions = write_and_decide
    j.flush()
    assert j._decisions == late  # the late decision waits for the next batch, not lost
    j._write_decisions = write
    j.flush()
    seqs = DecisionLog.load(con, "run").to_frame()["decision_seq"].tolist()
    assert sorted(seqs) == [first.decision_seq, late[0].decision_seq]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_chain_that_fails_in_compiled_code_rejects_by_raising(rk):
    """A numba cfunc that raises prints the error and returns 0; 0 must never read as an approval."""
    from numba import cfunc

    import workbench.risk.gate as gate_mod
    from workbench.risk import kernels

    @cfunc(kernels._CHAIN_C_SIG)
    def broken(Fp, nf, Rp, nr, wr, leg, q, px, sign, ts, reduce_only, storm, regime, rem):
        raise ValueError("broken chain")

    g = rk.make_gate()
    assert g.evaluate(rk.intent(seq=1)).approved  # the leg exists: the next order goes to the chain
    g._bind_kernels(gate_mod._CHAIN, broken.address, gate_mod._COUNT_RATE, gate_mod._COUNT_RATE_C)
    orders = dict(g.book.orders)
    with pytest.raises(RuntimeError, match="validator chain failed"):
        g.evaluate(rk.intent(seq=2))
    assert g.book.orders == orders  # nothing booked
    g._bind_kernels(gate_mod._CHAIN, gate_mod._CHAIN_C, gate_mod._COUNT_RATE, gate_mod._COUNT_RATE_C)
    assert g._lock.acquire(blocking=False)  # the failed decision released the gate lock
    g._lock.release()
    assert g.evaluate(rk.intent(seq=3)).approved
