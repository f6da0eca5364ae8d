"""Intent-by-intent matching of two runs and the per-intent execution metrics (docs/reports.md).

Two decisions are the same intent when their ``match_key`` is equal (strategy, decision sequence, the
request and the quote it was decided on; never the wall clock); a key repeated within a run is paired
in order of occurrence. The intent table has one row per key with ``status`` matched / only_a /
only_b, the intent's fields, and for each side (suffix ``_a``/``_b``) its verdict, execution and metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.reports.runs import RunData

SIDE_METRICS = ("verdict", "reasons", "client_order_id", "ordered", "filled", "fill_ratio", "vwap", "notional",
                "commission", "venue_reject", "decision_mid", "arrival_mid", "slip_decision_bps",
                "slip_arrival_bps", "lat_decision_submit_ms", "lat_submit_ack_ms", "lat_ack_fill_ms",
                "lat_fill_span_ms", "time_to_fill_ms", "time_to_fill_mkt_ms", "decision_seq", "ts_decision")
LATENCIES = ("lat_decision_submit_ms", "lat_submit_ack_ms", "lat_ack_fill_ms", "lat_fill_span_ms", "time_to_fill_ms",
             "time_to_fill_mkt_ms")
_MS = 1e-6
_TEXT = ("verdict", "reasons", "client_order_id", "venue_reject")


def per_intent(run: RunData) -> pd.DataFrame:
    """The run's decisions with their order's execution and metrics (one row per decision)."""
    d = run.decisions
    new = d["action"] == "NEW"
    o = run.orders.reindex(d["client_order_id"].where(new))
    o.index = d.index
    sign = np.where(d["side"] == "BUY", 1.0, -1.0)
    approved = new & (d["verdict"] != "REJECT")
    filled = o["filled"].fillna(0.0).where(approved, np.nan) if "filled" in o else pd.Series(np.nan, index=d.index)
    notional = o["notional"].fillna(0.0).where(approved) if "notional" in o else filled * np.nan
    vwap = (notional / filled).where(filled > 0)
    dmid = ((d["md_bid"] + d["md_ask"]) / 2).where(d["md_ts"] > 0)
    col = lambda name: o[name] if name in o else pd.Series(np.nan, index=d.index)  # noqa: E731
    out = pd.DataFrame({
        "match_key": d["match_key"], "decision_seq": d["decision_seq"], "strategy_id": d["strategy_id"],
        "instrument_id": d["instrument_id"], "action": d["action"], "side": d["side"], "qty": d["qty"],
        "price": d["price"], "md_ts": d["md_ts"], "ts_decision": d["ts_event"], "verdict": d["verdict"],
        "reasons": d["reasons"], "client_order_id": d["client_order_id"],
        "ordered": d["approved_qty"].where(approved), "filled": filled,
        "fill_ratio": (filled / d["approved_qty"]).where(approved), "vwap": vwap, "notional": notional,
        "commission": col("commission").fillna(0.0).where(approved), "venue_reject": col("venue_reject"),
        "decision_mid": dmid, "arrival_mid": col("arrival_mid"),
        # signed by side: positive = worse for us (paid above / sold below the mid)
        "slip_decision_bps": sign * (vwap - dmid) / dmid * 1e4,
        "slip_arrival_bps": sign * (vwap - col("arrival_mid")) / col("arrival_mid") * 1e4,
        "lat_decision_submit_ms": (col("t_submit") - d["ts_event"]) * _MS,
        "lat_submit_ack_ms": (col("t_ack") - col("t_submit")) * _MS,
        "lat_ack_fill_ms": (col("t_first_fill") - col("t_ack")) * _MS,
        "lat_fill_span_ms": (col("t_last_fill") - col("t_first_fill")) * _MS,
        "time_to_fill_ms": (col("t_first_fill") - d["ts_event"]) * _MS,
        # on the market's clock (exchange times of the quotes at decision and first fill): comparable
        # across modes, whatever a node's replay speed made of its wall clock
        "time_to_fill_mkt_ms": ((col("md_first_fill") - d["md_ts"]) * _MS).where(d["md_ts"] > 0),
    })
    num = [c for c in SIDE_METRICS if c not in _TEXT]
    out[num] = out[num].astype(float)  # all-NaN columns of an empty journal come back as object
    # a repeated key is paired in order of occurrence
    out["pair"] = out["match_key"] + "#" + out.groupby("match_key").cumcount().astype(str)
    return out


def match(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """The intent table of two :func:`per_intent` frames, ordered on the market-data timeline."""
    common = ["strategy_id", "instrument_id", "action", "side", "qty", "price", "md_ts"]
    m = a.merge(b, on="pair", how="outer", suffixes=("_a", "_b"), indicator=True, sort=False)
    m["status"] = m["_merge"].map({"both": "matched", "left_only": "only_a", "right_only": "only_b"}).astype(str)
    for c in common:  # the same on both sides of a matched pair (they are in the key); one column
        m[c] = m[f"{c}_a"].combine_first(m[f"{c}_b"])
    m["match_key"] = m["match_key_a"].combine_first(m["match_key_b"])
    # market time of the decision; a decision taken without a quote falls back to its run clock
    m["t_market"] = m["md_ts"].where(m["md_ts"] > 0, m["ts_decision_a"].combine_first(m["ts_decision_b"]))
    m["seq_order"] = m["decision_seq_a"].combine_first(m["decision_seq_b"])
    m = m.sort_values(["t_market", "seq_order", "pair"], kind="stable", ignore_index=True)
    cols = ["pair", "match_key", "status", "t_market", *common]
    cols += [f"{c}{s}" for s in ("_a", "_b") for c in SIDE_METRICS]
    return m[cols]


def first_divergence(intents: pd.DataFrame) -> dict | None:
    """The first intent (market timeline) present in only one run, the first matched intent whose outcome
    differed (verdict or filled quantity) and the first matched fill at a different market time: the
    usual causes of the divergence that follows."""
    out = {}
    only = intents[intents["status"] != "matched"]
    if len(only):
        r = only.iloc[0]
        out["first_unmatched"] = {"t_market": int(r["t_market"]), "status": r["status"], "pair": r["pair"],
                                  "action": r["action"], "side": r["side"]}
    m = intents[intents["status"] == "matched"]
    gap = m[(m["verdict_a"] != m["verdict_b"]) | (m["filled_a"].fillna(0) != m["filled_b"].fillna(0))]
    if len(gap):
        r = gap.iloc[0]
        out["first_outcome_gap"] = {"t_market": int(r["t_market"]), "pair": r["pair"], "action": r["action"],
                                    "verdict_a": r["verdict_a"], "verdict_b": r["verdict_b"],
                                    "filled_a": float(np.nan_to_num(r["filled_a"])),
                                    "filled_b": float(np.nan_to_num(r["filled_b"]))}
    # the same fills at different market times: an order still working in one run and not the other is
    # the usual reason a strategy that gates on its working orders decides differently next
    both = m[(m["filled_a"] > 0) & (m["filled_b"] > 0)]
    late = both[both["time_to_fill_mkt_ms_a"] != both["time_to_fill_mkt_ms_b"]]
    if len(late):
        r = late.iloc[0]
        out["first_fill_time_gap"] = {"t_market": int(r["t_market"]), "pair": r["pair"],
                                      "time_to_fill_mkt_ms_a": float(r["time_to_fill_mkt_ms_a"]),
                                      "time_to_fill_mkt_ms_b": float(r["time_to_fill_mkt_ms_b"])}
    return out or None


def _stats(x: pd.Series) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if not len(x):
        return (np.nan, np.nan, np.nan)
    return (float(x.mean()), float(x.median()), float(np.percentile(x, 95)))


def aggregates(run_intents: pd.DataFrame, run: RunData) -> dict:
    """Execution aggregates of one run over all its intents (docs/reports.md)."""
    t = run_intents
    new = t[t["action"] == "NEW"]
    approved = new[new["verdict"] != "REJECT"]
    filled = approved[approved["filled"] > 0]
    out = {
        "intents": len(t), "new_orders_approved": len(approved),
        "gate_rejects": int((t["verdict"] == "REJECT").sum()), "venue_rejects": int(new["venue_reject"].notna().sum()),
        "orders_filled": len(filled),
        "fill_rate": len(filled) / len(approved) if len(approved) else np.nan,
        "qty_fill_ratio": float(approved["filled"].sum() / approved["ordered"].sum()) if len(approved) else np.nan,
        "commissions": float(run.fills["commission"].sum()),
    }
    for name in ("slip_decision_bps", "slip_arrival_bps"):
        mean, med, p95 = _stats(filled[name])
        out.update({f"{name}_mean": mean, f"{name}_median": med, f"{name}_p95": p95})
    for name in LATENCIES:
        _, med, p95 = _stats(new[name])
        out.update({f"{name}_p50": med, f"{name}_p95": p95})
    return out


def rejects(run_intents: pd.DataFrame) -> pd.Series:
    """Reject counts by reason: the gate's (``gate:REASON``) and the venue's (``venue:reason``)."""
    gate = run_intents.loc[run_intents["verdict"] == "REJECT", "reasons"].str.split(",").explode()
    venue = run_intents["venue_reject"].dropna()
    return pd.concat([("gate:" + gate).value_counts(), ("venue:" + venue.astype(str)).value_counts()])
