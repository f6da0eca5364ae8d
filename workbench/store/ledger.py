"""The request ledger: every external data request (IB backfill, chain capture) is recorded with
its parameters, window, status and row count, so a rerun requests only what is still missing
("request once, store forever") and a killed backfill resumes where it stopped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd


class LedgerMixin:
    con: Any

    def record_request(self, source: str, request_key: str, params: dict[str, Any] | None = None,
                       window_start: int | None = None, window_end: int | None = None) -> int:
        """Open a PENDING ledger entry; returns its id."""
        rid = int(self.con.execute("SELECT nextval('request_id_seq')").fetchall()[0][0])
        self.con.execute(
            "INSERT INTO request_ledger (request_id, source, request_key, params, window_start, window_end, status, "
            "requested_at) VALUES (?, ?, ?, ?, ?, ?, 'PENDING', ?)",
            [rid, source, request_key, json.dumps(params or {}, sort_keys=True, default=str), window_start,
             window_end, datetime.now(UTC)])
        return rid

    def complete_request(self, request_id: int, status: str = "DONE", rows: int = 0, error: str | None = None) -> None:
        if status not in ("DONE", "EMPTY", "FAILED"):
            raise ValueError(f"status {status!r} not in DONE/EMPTY/FAILED")
        self.con.execute("UPDATE request_ledger SET status = ?, rows = ?, error = ?, completed_at = ? "
                         "WHERE request_id = ?", [status, rows, error, datetime.now(UTC), request_id])

    def request_done(self, source: str, request_key: str) -> bool:
        """True if an identical request already completed (DONE or EMPTY)."""
        rows = self.con.execute("SELECT count(*) FROM request_ledger WHERE source = ? AND request_key = ? "
                                "AND status IN ('DONE', 'EMPTY')", [source, request_key]).fetchall()
        return bool(rows[0][0])

    def requests(self, source: str | None = None) -> pd.DataFrame:
        sql = "SELECT * FROM request_ledger"
        params: list[Any] = []
        if source:
            sql += " WHERE source = ?"
            params.append(source)
        return self.con.execute(sql + " ORDER BY request_id", params).df()
