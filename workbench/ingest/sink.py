"""Writes of many instruments at once (one Lean option zip holds ~2,000 contracts).

Thin wrappers over the store's multi-instrument writes (``Store.write_many``) and set-based
``upsert_instruments``: one merge per table instead of one per contract, with the same
semantics — new keys inserted, identical rows unchanged, differing rows recorded as revisions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa


def per_instrument(tbl: pa.Table) -> list[tuple[str, pa.Table]]:
    """Split a table sorted by instrument_id into (id, rows without the id column)."""
    ids = tbl.column("instrument_id").to_numpy(zero_copy_only=False)
    if len(ids) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    body = tbl.drop_columns(["instrument_id"])
    return [(str(ids[a]), body.slice(a, b - a)) for a, b in zip(starts, ends, strict=True)]


def write_bars_many(store: Any, bar_size: str, tbl: pa.Table, *, price_type: str, source: str) -> None:
    if tbl.num_rows:
        store.write_many("bars", tbl, source=source, bar_size=bar_size, price_type=price_type)


def write_open_interest_many(store: Any, tbl: pa.Table, *, source: str) -> None:
    if tbl.num_rows:
        store.write_many("open_interest", tbl, source=source)


def ensure_instruments(store: Any, instruments: list[Any]) -> None:
    """Register what the store does not know yet; known ids with other terms are an error."""
    if instruments:
        store.upsert_instruments(list({i.instrument_id: i for i in instruments}.values()))
