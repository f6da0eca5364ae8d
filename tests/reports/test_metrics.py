"""Matching, each metric and the attribution identity on a small journal worked out by hand.

Instrument X, common final mark M = 101 (run-end quote 100.99/101.01). Intents (s = +1 buy, -1 sell):

    I1 BUY 100 @100.00, quote 99.99/100.01 at 10 s   A: 100 @100.02 (comm 1)   B: 100 @100.04 (comm 1)
    I2 SELL 100 @100.50, quote 100.49/100.51 at 20 s A:  60 @100.50 (comm .5)  B: 100 @100.48 (comm 1)
    I3 BUY 50 @100.20, quote at 30 s                  A:  50 @100.20 (comm .25) B: -- (not decided)
    I4 BUY 100 @100.60, quote at 35 s                 A: gate REJECT           B: 100 @100.60 (comm 1)
    I5 SELL 30 @100.90, quote at 40 s                 A: -- (not decided)      B:  30 @100.90 (comm .3)
    I6 BUY 10 @100.70, quote at 45 s                  A: canceled unfilled     B: venue REJECTED

P_A = 100*.98 - 60*.5 + 50*.8 - 1.75 = 106.25;  P_B = 100*.96 - 100*.52 + 100*.4 - 30*.1 - 3.3 = 77.7
cost-gap = 100*(100.04-100.02) - 60*(100.48-100.50) = 3.2;  fill-gap = +40*.52 (B sold 40 more of I2)
- 100*.4 (B bought I4) = -19.2;  commissions = 3.3 - 1.75 = 1.55;  divergence = 50*.8 (I3) + 30*.1 (I5) = 43
"""

from __future__ import annotations

import math
import re

import pytest

from tests.reports.conftest import MS, S, write_run
from workbench.errors import WorkbenchError
from workbench.reports import compare

MARK = {"X.XNAS": (100 * S, 100.99, 101.01)}


def q(t, bid, ask):
    return (t, bid, ask)


def intents(run):
    i = {
        "I1": dict(key="k1", side="BUY", qty=100, price=100.0, ts=10 * S, md=q(10 * S, 99.99, 100.01)),
        "I2": dict(key="k2", side="SELL", qty=100, price=100.5, ts=20 * S, md=q(20 * S, 100.49, 100.51)),
        "I3": dict(key="k3", side="BUY", qty=50, price=100.2, ts=30 * S, md=q(30 * S, 100.19, 100.21)),
        "I4": dict(key="k4", side="BUY", qty=100, price=100.6, ts=35 * S, md=q(35 * S, 100.59, 100.61)),
        "I5": dict(key="k5", side="SELL", qty=30, price=100.9, ts=40 * S, md=q(40 * S, 100.89, 100.91)),
        "I6": dict(key="k6", side="BUY", qty=10, price=100.7, ts=45 * S, md=q(45 * S, 100.69, 100.71)),
    }
    names = {"A": ["I1", "I2", "I3", "I4", "I6"], "B": ["I1", "I2", "I4", "I5", "I6"]}[run]
    out = []
    for n in names:
        d = dict(i[n], coid=f"RK-{run}{n}")
        if run == "A" and n == "I4":
            d.update(verdict="REJECT", reasons=["POSITION_LIMIT"])
        out.append(d)
    return out


def ev(coid, kind, t, qty=None, px=None, comm=None, reason=None, md=q(0, None, None), side=None):
    return (coid, kind, t, qty, px, comm, reason, md, side)


def events(run):
    t1, t2 = 10 * S, 20 * S
    if run == "A":
        return [
            ev("RK-AI1", "SUBMITTED", t1 + 1 * MS, md=q(t1, 99.99, 100.01)),
            ev("RK-AI1", "ACCEPTED", t1 + 3 * MS, md=q(t1 + 2 * MS, 100.01, 100.03)),
            ev("RK-AI1", "FILLED", t1 + 5 * MS, 100, 100.02, 1.0, md=q(t1 + 2 * MS, 100.01, 100.03), side="BUY"),
            ev("RK-AI2", "SUBMITTED", t2, md=q(t2, 100.49, 100.51)),
            ev("RK-AI2", "ACCEPTED", t2 + 1 * MS, md=q(t2, 100.49, 100.51)),
            ev("RK-AI2", "FILLED", t2 + 9 * MS, 60, 100.5, 0.5, md=q(t2, 100.49, 100.51), side="SELL"),
            ev("RK-AI3", "SUBMITTED", 30 * S, md=q(30 * S, 100.19, 100.21)),
            ev("RK-AI3", "FILLED", 31 * S, 50, 100.2, 0.25, md=q(31 * S, 100.19, 100.21), side="BUY"),
            ev("RK-AI6", "SUBMITTED", 45 * S), ev("RK-AI6", "CANCELED", 50 * S),
        ]
    return [
        ev("RK-BI1", "SUBMITTED", t1 + 2 * MS, md=q(t1, 99.99, 100.01)),
        ev("RK-BI1", "ACCEPTED", t1 + 6 * MS, md=q(t1 + 4 * MS, 100.03, 100.05)),
        ev("RK-BI1", "FILLED", t1 + 10 * MS, 100, 100.04, 1.0, md=q(t1 + 4 * MS, 100.03, 100.05), side="BUY"),
        ev("RK-BI2", "SUBMITTED", t2, md=q(t2, 100.49, 100.51)),
        ev("RK-BI2", "FILLED", t2 + 4 * MS, 40, 100.48, 0.4, md=q(t2, 100.47, 100.49), side="SELL"),
        ev("RK-BI2", "FILLED", t2 + 8 * MS, 60, 100.48, 0.6, md=q(t2, 100.47, 100.49), side="SELL"),
        ev("RK-BI4", "SUBMITTED", 35 * S),
        ev("RK-BI4", "FILLED", 36 * S, 100, 100.6, 1.0, md=q(36 * S, 100.59, 100.61), side="BUY"),
        ev("RK-BI5", "SUBMITTED", 40 * S),
        ev("RK-BI5", "FILLED", 41 * S, 30, 100.9, 0.3, md=q(41 * S, 100.89, 100.91), side="SELL"),
        ev("RK-BI6", "SUBMITTED", 45 * S), ev("RK-BI6", "REJECTED", 45 * S + MS, reason="REJECTED_BY_VENUE"),
    ]


@pytest.fixture
def cmp(con):
    for run, mode in (("A", "BACKTEST"), ("B", "PAPER")):
        write_run(con, run, mode, intents(run), events(run), MARK)
    return compare("A", "B", store=con)


def test_matching_and_first_divergence(cmp):
    t = cmp.to_frame().set_index("match_key")
    assert t["status"].to_dict() == {"k1": "matched", "k2": "matched", "k3": "only_a", "k4": "matched",
                                     "k5": "only_b", "k6": "matched"}
    assert list(t.index) == ["k1", "k2", "k3", "k4", "k5", "k6"]  # market timeline
    assert (cmp.matched, cmp.only_a, cmp.only_b) == (4, 1, 1)
    assert cmp.match_pct == pytest.approx(100 * 4 / 6)
    d = cmp.divergence
    assert d["first_unmatched"]["t_market"] == 30 * S and d["first_unmatched"]["status"] == "only_a"
    # I2 is the first matched intent whose outcome differs (60 vs 100 filled)
    assert d["first_outcome_gap"]["t_market"] == 20 * S
    assert (d["first_outcome_gap"]["filled_a"], d["first_outcome_gap"]["filled_b"]) == (60, 100)
    # I1 filled in both, on the quote of 10 s + 2 ms in A and 10 s + 4 ms in B
    assert d["first_fill_time_gap"]["t_market"] == 10 * S
    assert (d["first_fill_time_gap"]["time_to_fill_mkt_ms_a"], d["first_fill_time_gap"]["time_to_fill_mkt_ms_b"]) == (2, 4)


def test_per_intent_metrics(cmp):
    t = cmp.to_frame().set_index("match_key")
    i1, i2 = t.loc["k1"], t.loc["k2"]
    # slippage signed by side, positive = worse for us: bought 2 ticks over the decision mid 100.00
    assert i1["slip_decision_bps_a"] == pytest.approx(2.0)
    assert i1["slip_decision_bps_b"] == pytest.approx(4.0)
    assert i1["slip_arrival_bps_a"] == pytest.approx(0.0, abs=1e-9)  # arrival mid 100.02
    assert i1["slip_arrival_bps_b"] == pytest.approx(0.0, abs=1e-9)  # arrival mid 100.04
    # sold 100.48 against a 100.50 mid: worse, so positive
    assert i2["slip_decision_bps_b"] == pytest.approx(0.02 / 100.5 * 1e4)
    assert i2["slip_decision_bps_a"] == pytest.approx(0.0, abs=1e-9)
    # latencies on the run clock: decision 10 s, submit +1 ms, ack +3 ms, fill +5 ms
    assert (i1["lat_decision_submit_ms_a"], i1["lat_submit_ack_ms_a"], i1["lat_ack_fill_ms_a"],
            i1["time_to_fill_ms_a"]) == pytest.approx((1, 2, 2, 5))
    assert i2["lat_fill_span_ms_b"] == pytest.approx(4.0)  # two partial fills 4 ms apart
    # market clock: decided on the 10 s quote, first fill handled when the quote of 10 s + 2 ms was the latest
    assert i1["time_to_fill_mkt_ms_a"] == pytest.approx(2.0) and i1["time_to_fill_mkt_ms_b"] == pytest.approx(4.0)
    assert math.isnan(i2["lat_submit_ack_ms_b"])  # no ack journaled: not measured, not 0
    assert (i2["fill_ratio_a"], i2["fill_ratio_b"]) == (0.6, 1.0)
    assert i2["vwap_b"] == pytest.approx(100.48) and i2["commission_b"] == pytest.approx(1.0)
    assert t.loc["k4", "verdict_a"] == "REJECT" and math.isnan(t.loc["k4", "fill_ratio_a"])
    assert t.loc["k6", "venue_reject_b"] == "REJECTED_BY_VENUE" and t.loc["k6", "filled_a"] == 0


def test_aggregates_and_rejects(cmp):
    s = cmp.summary()
    assert s.loc["new_orders_approved"].tolist() == [4, 5]
    assert s.loc["orders_filled"].tolist() == [3, 4]
    assert s.loc["fill_rate"].tolist() == pytest.approx([3 / 4, 4 / 5])
    assert s.loc["qty_fill_ratio"].tolist() == pytest.approx([210 / 260, 330 / 340])
    assert s.loc["commissions"].tolist() == pytest.approx([1.75, 3.3])
    assert s.loc["gate_rejects"].tolist() == [1, 0] and s.loc["venue_rejects"].tolist() == [0, 1]
    assert cmp.reject_counts.loc["gate:POSITION_LIMIT"].tolist() == [1, 0]
    assert cmp.reject_counts.loc["venue:REJECTED_BY_VENUE"].tolist() == [0, 1]
    # A's filled slippages vs decision mid: I1 2 bps, I2 0, I3 0 -> mean 2/3, median 0
    assert s.loc["slip_decision_bps_mean", "A"] == pytest.approx(2 / 3)
    assert s.loc["slip_decision_bps_median", "A"] == pytest.approx(0.0, abs=1e-9)


def test_attribution_identity_by_hand(cmp):
    a = cmp.attribution()
    assert a["pnl_a"] == pytest.approx(106.25, abs=1e-9)
    assert a["pnl_b"] == pytest.approx(77.7, abs=1e-9)
    assert a["cost_gap"] == pytest.approx(3.2, abs=1e-9)
    assert a["fill_gap"] == pytest.approx(-19.2, abs=1e-9)
    assert a["commissions"] == pytest.approx(1.55, abs=1e-9)
    assert a["decision_divergence"] == pytest.approx(43.0, abs=1e-9)
    assert a["total_diff"] == pytest.approx(28.55, abs=1e-9)
    assert abs(a["fill_gap"] + a["cost_gap"] + a["commissions"] + a["decision_divergence"] - a["total_diff"]) < 1e-9
    assert abs(a["residual"]) < 1e-9


def test_curves_end_at_the_common_mark(cmp):
    c = cmp.curves
    assert c["pnl_a"].iloc[-1] == pytest.approx(106.25) and c["pnl_b"].iloc[-1] == pytest.approx(77.7)
    assert (c["drawdown_a"] <= 0).all() and c["diff"].iloc[-1] == pytest.approx(28.55)
    # after I1 only: A holds 100 bought at 100.02, marked at the mid it saw (100.02), minus commission 1
    assert c["pnl_a"].iloc[0] == pytest.approx(-1.0)
    # then B fills when the mid is 100.04: A is marked there too (one market, both runs)
    assert c["pnl_a"].iloc[1] == pytest.approx(1.0) and c["pnl_b"].iloc[1] == pytest.approx(-1.0)


def test_mark_override_moves_only_mark_dependent_parts(con):
    for run, mode in (("A", "BACKTEST"), ("B", "PAPER")):
        write_run(con, run, mode, intents(run), events(run), MARK)
    a = compare("A", "B", store=con, mark={"X.XNAS": 102.0}).attribution()
    # A ends long 90 (100 - 60 + 50), B long 70 (100 - 100 + 100 - 30): +1 on the mark moves A-B by +20
    assert a["total_diff"] == pytest.approx(28.55 + 20, abs=1e-9)
    assert a["cost_gap"] == pytest.approx(3.2, abs=1e-9)
    assert abs(a["residual"]) < 1e-9
    with pytest.raises(WorkbenchError, match="finite"):
        compare("A", "B", store=con, mark={"X.XNAS": float("nan")})


def test_repeated_key_pairs_in_order_of_occurrence(con):
    one = dict(key="k", side="BUY", qty=1, price=10.0, ts=S, md=q(S, 9.99, 10.01))
    write_run(con, "A", "BACKTEST", [dict(one, coid="a1"), dict(one, coid="a2", ts=2 * S)], [], MARK)
    write_run(con, "B", "BACKTEST", [dict(one, coid="b1")], [], MARK)
    t = compare("A", "B", store=con).to_frame()
    assert t["status"].tolist() == ["matched", "only_a"]
    assert t["client_order_id_a"].tolist() == ["a1", "a2"]


def test_unknown_run_and_bad_fill(con):
    write_run(con, "A", "BACKTEST", intents("A"), events("A"), MARK)
    with pytest.raises(WorkbenchError, match="unknown run id 'Z'"):
        compare("A", "Z", store=con)
    bad = [ev("RK-BI1", "FILLED", S, float("inf"), 100.0, 0.0, side="BUY")]
    write_run(con, "B", "PAPER", intents("B"), bad, MARK)
    with pytest.raises(WorkbenchError, match="run B: order RK-BI1.*not a finite fill"):
        compare("A", "B", store=con)


def test_views(cmp, tmp_path):
    assert "28.55" in cmp.headline() and "first unmatched" in cmp.headline()
    assert "<table" in cmp._repr_html_() and "match_pct" in cmp._repr_html_()
    fig = cmp.plot()
    assert {t.name for t in fig.data} >= {"A A", "B B", "A - B", "matched", "only_a", "only_b"}
    page = cmp.to_html(tmp_path / "c.html").read_text()
    assert "P&amp;L attribution" in page and "Plotly" in page
    assert not re.search(r"<script[^>]+src=", page)  # plotly embedded: opens offline
