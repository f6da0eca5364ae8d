"""Read one journaled run (backtest or node) from the store into frames a comparison works on.

Every mode journals the same tables (``risk_runs``, ``risk_decisions``, ``risk_order_events``; see
workbench/risk/runlog.py), so a BACKTEST, PAPER or REAL run is read the same way. Older journals are
read too: decisions without ``match_key`` match on ``intent_id``; a run without order events takes its
fills from the gate's ``risk_fills`` (no commissions, no latencies: :attr:`RunData.notes` says so).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError


class UnknownRun(WorkbenchError, LookupError):
    """No journal rows for a run id."""


@dataclass
class RunData:
    """A run's journal as frames: ``decisions`` (one row per gate decision), ``orders`` (one row per
    client order id: submit/ack times, arrival quote, venue reject, filled qty, notional, commission,
    first/last fill), ``fills`` (one row per fill) and the run-end ``marks``."""

    run_id: str
    mode: str
    decisions: pd.DataFrame
    orders: pd.DataFrame
    fills: pd.DataFrame
    marks: dict[str, tuple[int, float, float]]
    notes: list[str] = field(default_factory=list)


def _tables(con) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for t, c in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                            "WHERE schema_name = current_schema()").fetchall():
        out.setdefault(t, set()).add(c)
    return out


def _decisions(con, run_id: str, cols: set[str]) -> pd.DataFrame:
    key = "coalesce(match_key, intent_id)" if "match_key" in cols else "intent_id"
    md = ("coalesce(md_ts, 0) AS md_ts, md_bid, md_ask" if "md_ts" in cols
          else "0::BIGINT AS md_ts, NULL::DOUBLE AS md_bid, NULL::DOUBLE AS md_ask")
    return con.execute(f"""
        SELECT decision_seq, intent_id, client_order_id, strategy_id, instrument_id, action, side,
               CAST(qty AS DOUBLE) AS qty, CAST(price AS DOUBLE) AS price,
               CAST(approved_qty AS DOUBLE) AS approved_qty, verdict, array_to_string(reasons, ',') AS reasons,
               ts_event, {key} AS match_key, {md}
        FROM risk_decisions WHERE run_id = ? ORDER BY decision_seq""", [run_id]).df()


def _events(con, run_id: str) -> pd.DataFrame:
    return con.execute("""
        SELECT event_seq, client_order_id, instrument_id, side, kind, ts_recv, qty, price, commission, reason,
               md_ts, md_bid, md_ask
        FROM risk_order_events WHERE run_id = ? ORDER BY event_seq""", [run_id]).df()


def _orders(ev: pd.DataFrame, fills: pd.DataFrame) -> pd.DataFrame:
    """One row per client order id from its lifecycle events and fills."""
    g = ev.groupby("client_order_id", sort=False)
    first = lambda kind: ev[ev["kind"] == kind].groupby("client_order_id").first()  # noqa: E731
    sub, ack = first("SUBMITTED"), first("ACCEPTED")
    rej = ev[ev["kind"].isin(["REJECTED", "DENIED"])].groupby("client_order_id").first()
    out = pd.DataFrame(index=pd.Index(g.size().index, name="client_order_id"))
    out["t_submit"] = sub["ts_recv"]
    out["t_ack"] = ack["ts_recv"]
    # the arrival quote: the latest quote when the venue's acknowledgement was handled (else the submit)
    arr = ack[["md_bid", "md_ask"]].combine_first(sub[["md_bid", "md_ask"]])
    out["arrival_mid"] = (arr["md_bid"] + arr["md_ask"]) / 2
    out["venue_reject"] = rej["reason"].fillna(rej["kind"]) if len(rej) else np.nan
    if len(fills):
        f = fills.assign(notional=fills["qty"] * fills["price"]).groupby("client_order_id")
        agg = f.agg(filled=("qty", "sum"), notional=("notional", "sum"), commission=("commission", "sum"),
                    t_first_fill=("t", "min"), t_last_fill=("t", "max"), n_fills=("qty", "size"),
                    md_first_fill=("md_ts", "min"))
        out = out.join(agg, how="outer")
    return out


def load_run(store_or_con, run_id: str) -> RunData:
    """The journal of ``run_id``; :class:`UnknownRun` (one line, exit 2 in ``wb``) when it has none."""
    con = getattr(store_or_con, "con", store_or_con)
    tables = _tables(con)
    if "risk_decisions" not in tables:
        raise UnknownRun(f"unknown run id {run_id!r}: this store has no risk journal", where="compare",
                         hint="journal a run first: wb backtest ... or wb node run ...")
    notes: list[str] = []
    run = (con.execute("SELECT mode, marks FROM risk_runs WHERE run_id = ?", [run_id]).fetchone()
           if "risk_runs" in tables else None)
    dec = _decisions(con, run_id, tables["risk_decisions"])
    if run is None and dec.empty:
        raise UnknownRun(f"unknown run id {run_id!r}", where="compare", hint="wb report runs lists the journaled runs")
    mode = run[0] if run else "UNKNOWN"
    marks = {k: tuple(v) for k, v in json.loads(run[1]).items()} if run and run[1] else {}
    ev = _events(con, run_id) if "risk_order_events" in tables else pd.DataFrame()
    if len(ev):
        f = ev[ev["kind"] == "FILLED"]
        fills = pd.DataFrame({"client_order_id": f["client_order_id"], "instrument_id": f["instrument_id"],
                              "side": f["side"], "qty": f["qty"], "price": f["price"],
                              "commission": f["commission"].fillna(0.0), "t": f["ts_recv"], "md_ts": f["md_ts"],
                              "mid": (f["md_bid"] + f["md_ask"]) / 2})
    else:
        notes.append("no order events journaled: fills from the gate's risk_fills; commissions and "
                     "submit/ack latencies unknown (taken as 0 / not measured)")
        ev = pd.DataFrame(columns=["client_order_id", "kind", "ts_recv", "md_bid", "md_ask", "reason"])
        src = "risk_fills" if "risk_fills" in tables else (
            "(SELECT NULL AS client_order_id, NULL AS instrument_id, NULL AS side, 0 AS qty, 0 AS price, "
            "0::BIGINT AS ts_event, NULL AS fill_id, NULL AS run_id WHERE false)")
        fills = con.execute(f"""
            SELECT client_order_id, instrument_id, side, CAST(qty AS DOUBLE) AS qty, CAST(price AS DOUBLE) AS price,
                   0.0 AS commission, ts_event AS t, ts_event AS md_ts, NULL::DOUBLE AS mid
            FROM {src} WHERE run_id = ? ORDER BY ts_event, fill_id""", [run_id]).df()
    fills = fills.astype({"qty": float, "price": float, "commission": float, "mid": float, "md_ts": "int64"})
    bad = fills[~(np.isfinite(fills["qty"]) & np.isfinite(fills["price"]) & (fills["qty"] > 0))]
    if len(bad):
        row = bad.iloc[0]
        raise WorkbenchError(f"fill qty={row['qty']} price={row['price']} is not a finite fill",
                             where=f"run {run_id}: order {row['client_order_id']}")
    for iid, (_, b, a) in marks.items():
        if not (math.isfinite(b) and math.isfinite(a)):
            raise WorkbenchError("run-end mark is not a finite quote", where=f"run {run_id}: marks.{iid}")
    return RunData(run_id, mode, dec, _orders(ev, fills), fills.reset_index(drop=True), marks, notes)
