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
from workbench.risk.schema import columns


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


# One row per client order id from its lifecycle (aggregated in DuckDB: a pandas groupby per event kind
# cost ~0.1 s per 10,000 orders). The arrival quote is the latest quote when the venue's acknowledgement
# was handled, else when the order was submitted.
_ORDERS_SQL = """
    SELECT client_order_id,
           min(ts_recv) FILTER (WHERE kind = 'SUBMITTED') AS t_submit,
           min(ts_recv) FILTER (WHERE kind = 'ACCEPTED') AS t_ack,
           coalesce(arg_min((md_bid + md_ask) / 2, event_seq) FILTER (WHERE kind = 'ACCEPTED' AND md_ts > 0),
                    arg_min((md_bid + md_ask) / 2, event_seq) FILTER (WHERE kind = 'SUBMITTED' AND md_ts > 0))
               AS arrival_mid,
           arg_min(coalesce(reason, kind), event_seq) FILTER (WHERE kind IN ('REJECTED', 'DENIED')) AS venue_reject,
           sum(qty) FILTER (WHERE kind = 'FILLED') AS filled,
           sum(qty * price) FILTER (WHERE kind = 'FILLED') AS notional,
           sum(coalesce(commission, 0)) FILTER (WHERE kind = 'FILLED') AS commission,
           min(ts_recv) FILTER (WHERE kind = 'FILLED') AS t_first_fill,
           max(ts_recv) FILTER (WHERE kind = 'FILLED') AS t_last_fill,
           count(*) FILTER (WHERE kind = 'FILLED') AS n_fills,
           min(md_ts) FILTER (WHERE kind = 'FILLED') AS md_first_fill
    FROM risk_order_events WHERE run_id = ? GROUP BY client_order_id"""


def _fill_orders(fills: pd.DataFrame) -> pd.DataFrame:
    """Orders known only from their fills (journals without order events)."""
    f = fills.assign(notional=fills["qty"] * fills["price"]).groupby("client_order_id")
    return f.agg(filled=("qty", "sum"), notional=("notional", "sum"), commission=("commission", "sum"),
                 t_first_fill=("t", "min"), t_last_fill=("t", "max"), n_fills=("qty", "size"),
                 md_first_fill=("md_ts", "min"))


def load_run(store_or_con, run_id: str) -> RunData:
    """The journal of ``run_id``; :class:`UnknownRun` (one line, exit 2 in ``wb``) when it has none."""
    con = getattr(store_or_con, "con", store_or_con)
    tables = columns(con)
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
    has_events = "risk_order_events" in tables and con.execute(
        "SELECT count(*) FROM risk_order_events WHERE run_id = ?", [run_id]).fetchone()[0] > 0
    if has_events:
        fills = con.execute("""
            SELECT client_order_id, instrument_id, side, qty, price, coalesce(commission, 0) AS commission,
                   ts_recv AS t, md_ts, (md_bid + md_ask) / 2 AS mid
            FROM risk_order_events WHERE run_id = ? AND kind = 'FILLED' ORDER BY event_seq""", [run_id]).df()
        orders = con.execute(_ORDERS_SQL, [run_id]).df().set_index("client_order_id")
    else:
        notes.append("no order events journaled: fills from the gate's risk_fills; commissions and "
                     "submit/ack latencies unknown (taken as 0 / not measured)")
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
    if not has_events:
        orders = _fill_orders(fills)
    return RunData(run_id, mode, dec, orders, fills.reset_index(drop=True), marks, notes)
