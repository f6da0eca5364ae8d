"""Risk gate benchmark: decision latency (p99) and throughput with every validator on.

Realistic state: 2 strategies, 20 instruments quoted and re-quoted, positions in every instrument,
~40 working orders cycling (each approved order is cancelled 40 decisions later, and the cancel is a
decision too), the journal buffering every decision and the Prometheus collector counting. Only
``RiskGate.evaluate`` is timed; building the intents (the strategy's work) is not.

``risk_decisions_per_s`` is the wall clock of a whole batch (intent building and quotes included)
with the journal flushing at its default; ``risk_evaluate_inverse_mean_latency_per_s`` is the older
figure (1 / mean timed ``evaluate``, journal only buffering). Both sides are warmed and their order
alternates between the two timed passes.

Anchor, measured in the same run on the same intents: the same gate with a single validator
(``order_size``) and no journal/metrics, i.e. the fixed cost of the gate's bookkeeping, so the ratio
shows what the full validator chain costs on this machine.
"""

from __future__ import annotations

import gc
import time

import duckdb
import numpy as np

from benchmarks.lines import emit, metric
from workbench.risk.config import config_from_dict
from workbench.risk.gate import RiskGate
from workbench.risk.journal import Journal
from workbench.risk.metrics import RiskMetrics
from workbench.risk.types import Action, OrderIntent, Side

N = 60_000
T0 = 1_710_514_800_000_000_000  # 2024-03-15 11:00 New York (MID regime)
INSTRUMENTS = [f"S{k:02d}.XNAS" for k in range(20)]


def _config(validators=None) -> dict:
    cfg = {
        "equity": 10_000_000,
        "defaults": {
            "max_order_qty": 2000,
            "max_order_notional": 150_000,
            "max_instrument_notional": 1_500_000,
            "max_position_qty": 20_000,
            "price_band_bps": 50,
        },
        "rate": {"window_s": 1, "soft_cap": 5000},
        "global_rate": {"window_s": 1, "soft_cap": 8000},
        "exposure": {
            "buckets": {
                "LT": {"target_pct": 80, "max_pct": 100},
                "MM_PURE": {"target_pct": 20, "max_pct": 40},
            },
            "group_max_pct": {"tech": 60},
        },
        "strategies": {
            "LT-001": {"bucket": "LT", "priority": 10, "critical": True, "guaranteed_pct": 30},
            "MM-002": {"bucket": "MM_PURE", "priority": 1},
        },
        "instruments": {iid: {"group": "tech" if k % 2 else ""} for k, iid in enumerate(INSTRUMENTS)},
    }
    if validators is not None:
        cfg["validators"] = validators
    return config_from_dict(cfg)


def _scenario(seed: int = 7):
    """Pre-drawn randomness so both gates see the same stream."""
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, len(INSTRUMENTS), N),
        rng.integers(0, 2, N),
        rng.integers(0, 2, N),
        rng.integers(1, 300, N),
        rng.integers(-3, 4, N),
        100 + rng.integers(0, 200, len(INSTRUMENTS)),
    )


def _run(gate: RiskGate, draws, n_decisions: int = N, probe=None) -> np.ndarray:
    """The benchmark's stream; ``probe(evaluate, intent)``, when given, makes the new-order decisions
    of the last two thirds (for the instruction count, see ``risk_instructions``)."""
    inst, strat, side, qty, off, base = draws
    mids = base.astype(float)
    for k, iid in enumerate(INSTRUMENTS):
        gate.on_quote(iid, T0, mids[k] - 0.01, mids[k] + 0.01)
        for s, sid in enumerate(("LT-001", "MM-002")):
            gate.on_fill(
                f"seed-{k}-{s}",
                None,
                T0,
                500 + 100 * s,
                mids[k],
                strategy_id=sid,
                instrument_id=iid,
                side=Side.BUY if (k + s) % 3 else Side.SELL,
            )
    lat = np.empty(n_decisions, dtype=np.int64)
    pending: list[tuple[int, OrderIntent]] = []
    timer = time.perf_counter_ns
    ev = gate.evaluate
    seq = 0
    for n in range(n_decisions):
        ts = T0 + (n + 1) * 200_000  # 5k decisions per second of exchange time
        k = int(inst[n])
        if n % 5 == 0:  # a quote every 5 decisions (not timed)
            mids[k] += 0.01 * (1 if off[n] > 0 else -1)
            gate.on_quote(INSTRUMENTS[k], ts, round(mids[k] - 0.01, 2), round(mids[k] + 0.01, 2))
        seq += 1
        if pending and pending[0][0] <= n:
            _, target = pending.pop(0)
            intent = OrderIntent.new(
                target.strategy_id,
                target.instrument_id,
                target.side,
                target.qty,
                None,
                ts_event=ts,
                seq=seq,
                action=Action.CANCEL,
                target_id=target.client_order_id,
            )
        else:
            buy = bool(side[n])
            px = round(mids[k] + (-0.01 if buy else 0.01) + 0.01 * int(off[n]), 2)
            intent = OrderIntent.new(
                ("LT-001", "MM-002")[strat[n]],
                INSTRUMENTS[k],
                Side.BUY if buy else Side.SELL,
                int(qty[n]),
                f"{px:.2f}",
                ts_event=ts,
                seq=seq,
            )
        if probe is not None and intent.action is Action.NEW and 3 * n >= n_decisions:
            d = probe(ev, intent)  # counted by instructions, not timed
            lat[n] = 0
        else:
            t0 = timer()
            d = ev(intent)
            lat[n] = timer() - t0
        if intent.action is Action.CANCEL:
            gate.on_order_closed(intent.target_id)
        elif d.approved:
            pending.append((n + 40, intent))
    return lat


def _metric(name, value, unit, anchor, anchor_value, goal, higher_is_better):
    return metric(name, value, unit, anchor, anchor_value, goal=goal, higher_is_better=higher_is_better)


def _gates(con: duckdb.DuckDBPyConnection, run_id: str, flushing: bool = False):
    """A fresh (full chain, anchor) pair, so every timed pass starts from the same state; without
    ``flushing`` the journal only buffers (latency passes), with it the journal's default applies."""
    journal = Journal(con, run_id) if flushing else Journal(con, run_id, flush_every=10**9)
    full = RiskGate(_config(), journal=journal, metrics=RiskMetrics())
    return full, RiskGate(_config(["order_size"]))


def _wall(gate: RiskGate, draws) -> float:
    """Wall-clock seconds of a whole batch (intent building and quotes included), journal flushed."""
    t0 = time.perf_counter()
    _run(gate, draws)
    if gate.journal is not None:
        gate.journal.flush()
    return time.perf_counter() - t0


def run() -> list[dict]:
    draws = _scenario()
    con = duckdb.connect(":memory:")
    warm_f, warm_a = _gates(con, "warm")
    _run(warm_a, draws, N // 10)  # warm both paths before any timed pass
    _run(warm_f, draws, N // 10)
    # two timed passes each, order alternated so neither side always runs on a warmer interpreter
    lat_f, lat_a = [], []
    for k in range(2):
        full, bare = _gates(con, f"bench{k}")
        gc.collect()
        for gate, out in ((bare, lat_a), (full, lat_f))[:: 1 if k == 0 else -1]:
            out.append(_run(gate, draws))
    lat_f, lat_a = np.concatenate(lat_f), np.concatenate(lat_a)
    t0 = time.perf_counter()
    full.journal.flush()
    flush_s = time.perf_counter() - t0
    approved = sum(1 for v, r in full.metrics.decisions if v != "REJECT")
    # throughput: wall clock of a batch with the journal's default flushing on (anchor: no journal)
    wall_f, wall_a = [], []
    for k in range(2):
        full_w, bare_w = _gates(con, f"wall{k}", flushing=True)
        gc.collect()
        for gate, out in ((bare_w, wall_a), (full_w, wall_f))[:: 1 if k == 0 else -1]:
            out.append(_wall(gate, draws))
    out = [
        _metric(
            "risk_decision_p99_us",
            np.percentile(lat_f, 99) / 1e3,
            "us",
            "single-validator gate p99",
            np.percentile(lat_a, 99) / 1e3,
            goal=10.0,
            higher_is_better=False,
        ),
        _metric(
            "risk_decisions_per_s",
            N / min(wall_f),
            "decisions/s",
            "single-validator gate, same batch",
            N / min(wall_a),
            goal=100_000,
            higher_is_better=True,
        ),
        _metric(
            "risk_evaluate_inverse_mean_latency_per_s",
            lat_f.size / (lat_f.sum() / 1e9),
            "1/s",
            "single-validator gate",
            lat_a.size / (lat_a.sum() / 1e9),
            goal=100_000,
            higher_is_better=True,
        ),
        _metric(
            "risk_decision_p50_us",
            np.percentile(lat_f, 50) / 1e3,
            "us",
            "single-validator gate p50",
            np.percentile(lat_a, 50) / 1e3,
            goal=10.0,
            higher_is_better=False,
        ),
        metric("risk_journal_rows_per_s", round(N / flush_s), "rows/s", "none", higher_is_better=True),
    ]
    assert approved > 0
    con.close()
    return out


if __name__ == "__main__":
    emit(run())
