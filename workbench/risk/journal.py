"""The audit journal: every decision, event and fill of the gate, in DuckDB.

Decisions are buffered in memory (a tuple append on the hot path) and written in one transaction per
:meth:`Journal.flush` — the gate flushes when the buffer fills, on kill switch / reset / config change,
and on shutdown — so a flush is all-or-nothing and never leaves half a batch. Query helpers return
``arch``-style results::

    log = DecisionLog.load(store.con, run_id="bt-1")
    log.reasons_histogram()       # reason -> count, per verdict
    log.to_frame()                # one row per decision, validator values parsed from JSON
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager

import msgspec
import pandas as pd
import pyarrow as pa

from workbench.risk._core import JournalCore
from workbench.risk.outcome import decode_rows
from workbench.risk.schema import ensure_schema
from workbench.risk.types import RiskDecision, RiskEvent


def connection(store_or_con):
    """Accept a workbench ``Store`` (uses ``.con``) or a raw DuckDB connection."""
    return getattr(store_or_con, "con", store_or_con)


@contextmanager
def transaction(store_or_con):
    tx = getattr(store_or_con, "transaction", None)
    if tx is not None:
        with tx():
            yield
        return
    con = connection(store_or_con)
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


# The identity of a decision across runs of the same logic (BACKTEST, PAPER, REAL), computed in the
# flush's SQL (vectorised: no per-decision Python hash on the gate's path). ``intent_id`` hashes
# ts_event, the engine clock: exchange time in a backtest, wall time live, so it never matches across
# modes. This key hashes the strategy, the request (quantities and prices at a fixed scale, so 100 and
# 100.00 agree) and the quote the decision saw: its exchange time in whole seconds (IB's tick-by-tick
# resolution, so a stored nanosecond quote and the same quote relayed by a gateway agree) and bid/ask.
# The decision sequence enters when runs are matched, as the ordinal among equal keys in decision
# order (workbench/reports/matching.py), not as the strategy's global counter: one extra intent in a
# run (a cancel a quote earlier) would otherwise shift the identity of every later decision.
# docs/reports.md defines it.
MATCH_KEY_SQL = (
    "substr(md5(concat_ws('|', strategy_id, instrument_id, action, side, "
    "CAST(CAST(qty AS DECIMAL(38,10)) AS VARCHAR), "
    "coalesce(CAST(CAST(price AS DECIMAL(38,10)) AS VARCHAR), 'MKT'), "
    "CASE WHEN md_ts > 0 THEN concat(CAST(md_ts // 1000000000 AS VARCHAR), ':', "
    "CAST(md_bid AS VARCHAR), ':', CAST(md_ask AS VARCHAR)) ELSE '' END, "
    "tag, CASE WHEN reduce_only THEN 'R' ELSE '' END)), 1, 20)"
)


def _json(obj) -> str:
    return msgspec.json.encode(obj, order="sorted", enc_hook=str).decode()


def _num(x) -> str | None:
    return None if x is None else str(x)


class Journal(JournalCore):
    """``owns``: the connection was opened for this journal, and :meth:`close` closes it (a ``Store``'s
    or a caller's connection stays theirs: close only lets go of it)."""

    def __init__(self, store_or_con, run_id: str, flush_every: int = 50_000, *, owns: bool = False):
        self.store = store_or_con
        self.con = connection(store_or_con)
        self.owns = owns
        self.run_id = run_id
        self.flush_every = flush_every
        ensure_schema(self.con)
        self._decisions: list[RiskDecision] = []
        self._events: list[RiskEvent] = []
        self._fills: list[tuple] = []
        self._write_lock = threading.Lock()

    def event(self, e: RiskEvent) -> None:
        self._events.append(e)

    def fill(self, fill_id, coid, strategy, instrument, side, qty, price, ts) -> None:
        self._fills.append(
            (self.run_id, fill_id, coid, strategy, instrument, side, _num(qty), _num(price), ts)
        )

    def close(self) -> None:
        """Flush, then let go of the connection (closed when the journal owns it). The gate keeping the
        journal (nautilus' strategies keep the gate) must not keep a connection alive to interpreter exit:
        DuckDB reports every such object as a leak on stderr. Idempotent; a journal without a connection
        writes nothing more (:meth:`flush` is then a no-op)."""
        if self.con is None:
            return
        try:
            self.flush()
        finally:
            con, self.con, self.store = self.con, None, None
            if self.owns:
                con.close()

    def flush(self) -> None:
        """Write everything buffered in one transaction. The batch is taken out of the buffers first
        (cheap), so records arriving during the write go to the next batch; a failed write puts its
        batch back. The decision buffer is one list for the journal's life (the gate appends to it
        directly): the batch is its prefix, copied and deleted, each step atomic under the GIL."""
        with self._write_lock:
            if self.con is None:  # closed: the buffers stay (nothing is dropped silently), never written
                return
            buf = self._decisions
            ds, es, fs = buf[:], self._events, self._fills
            if not (ds or es or fs):
                return
            del buf[: len(ds)]
            self._events, self._fills = [], []
            try:
                with transaction(self.store):
                    if ds:
                        self._write_decisions(ds)
                    if es:
                        rows = [
                            (
                                self.run_id,
                                e.kind,
                                e.scope,
                                e.old,
                                e.new,
                                e.reason,
                                e.ts_event,
                                e.wall_ns,
                                _json(e.detail),
                            )
                            for e in es
                        ]
                        self.con.executemany(
                            "INSERT INTO risk_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                        )
                    if fs:
                        self.con.executemany(
                            "INSERT INTO risk_fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING",
                            fs,
                        )
            except BaseException:
                buf[:0], self._events[:0], self._fills[:0] = ds, es, fs
                raise

    def _write_decisions(self, ds: list[RiskDecision]) -> None:
        intents = [d.intent for d in ds]
        cols = {
            "decision_seq": [d.decision_seq for d in ds],
            "intent_id": [i.intent_id for i in intents],
            "client_order_id": [d.client_order_id for d in ds],
            "strategy_id": [i.strategy_id for i in intents],
            "instrument_id": [i.instrument_id for i in intents],
            "action": [str(i.action) for i in intents],
            "side": [str(i.side) for i in intents],
            "qty": [str(i.qty) for i in intents],
            "price": [_num(i.price) for i in intents],
            "approved_qty": [_num(d.approved_qty) for d in ds],
            "tag": [i.tag for i in intents],
            "verdict": [str(d.verdict) for d in ds],
            "reasons": [[str(r) for r in d.reasons] for d in ds],
            "validator_values": [_json(v) for v in decode_rows([d.raw_values for d in ds])],
            "changes": [_json(d.changes) for d in ds],
            "config_version": [d.config_version for d in ds],
            "storm_state": [d.storm_state.name for d in ds],
            "policy_mode": [d.policy_mode.name for d in ds],
            "ts_event": [i.ts_event for i in intents],
            "wall_ns": [d.wall_ns for d in ds],
            "md_ts": [i.md_ts for i in intents],
            "md_bid": [i.md_bid for i in intents],
            "md_ask": [i.md_ask for i in intents],
            "reduce_only": [i.reduce_only for i in intents],
        }
        buf = pa.table(cols)  # noqa: F841 - read by DuckDB's replacement scan below
        # by column name: a store migrated in place has the later columns at the end
        self.con.execute(
            "INSERT INTO risk_decisions (run_id, decision_seq, intent_id, client_order_id, strategy_id, "
            "instrument_id, action, side, qty, price, approved_qty, tag, verdict, reasons, validator_values, "
            "changes, config_version, storm_state, policy_mode, ts_event, wall_ns, match_key, md_ts, md_bid, "
            "md_ask) SELECT ?, decision_seq, intent_id, client_order_id, "
            "strategy_id, instrument_id, action, side, CAST(qty AS DECIMAL(38,10)), CAST(price AS DECIMAL(38,10)), "
            "CAST(approved_qty AS DECIMAL(38,10)), tag, verdict, reasons, validator_values, changes, "
            f"config_version, storm_state, policy_mode, ts_event, wall_ns, {MATCH_KEY_SQL}, md_ts, "
            "CASE WHEN isnan(md_bid) THEN NULL ELSE md_bid END, "
            "CASE WHEN isnan(md_ask) THEN NULL ELSE md_ask END FROM buf",
            [self.run_id],
        )


class DecisionLog:
    """The journaled decisions of a run (or all runs): ``to_frame()``, ``reasons_histogram()``,
    ``summary()``, ``plot()``."""

    def __init__(self, frame: pd.DataFrame, events: pd.DataFrame):
        self.frame = frame
        self.events = events

    @classmethod
    def load(cls, store_or_con, run_id: str | None = None) -> DecisionLog:
        con = connection(store_or_con)
        ensure_schema(con)
        where, params = ("WHERE run_id = ?", [run_id]) if run_id else ("", [])
        frame = con.execute(
            f"SELECT * FROM risk_decisions {where} ORDER BY run_id, decision_seq", params
        ).df()
        events = con.execute(f"SELECT * FROM risk_events {where} ORDER BY run_id, wall_ns", params).df()
        return cls(frame, events)

    def to_frame(self) -> pd.DataFrame:
        out = self.frame.copy()
        out["validator_values"] = [json.loads(v) for v in out["validator_values"]]
        out["changes"] = [json.loads(v) for v in out["changes"]]
        return out

    def reasons_histogram(self) -> pd.DataFrame:
        if self.frame.empty:
            return pd.DataFrame(columns=["verdict", "reason", "count"])
        ex = self.frame[["verdict", "reasons"]].explode("reasons").rename(columns={"reasons": "reason"})
        return (
            ex.groupby(["verdict", "reason"])
            .size()
            .rename("count")
            .reset_index()
            .sort_values(["count", "verdict", "reason"], ascending=[False, True, True], ignore_index=True)
        )

    def summary(self) -> str:
        n = len(self.frame)
        counts = self.frame["verdict"].value_counts().to_dict() if n else {}
        return f"{n} decisions {counts}; {len(self.events)} events\n" + self.reasons_histogram().to_string(
            index=False
        )

    def plot(self):
        import plotly.express as px

        h = self.reasons_histogram()
        return px.bar(h, x="reason", y="count", color="verdict", title="Risk decisions by reason")
