"""Data-health checks over the store, each one set-based SQL (or numpy) over whole tables.

=======================  =========  =============================================================
check                    severity   meaning
=======================  =========  =============================================================
gap                      WARN       calendar sessions with no TRADE bars between an instrument's
                                    first and last bar (exchange calendar: holidays and half days
                                    are not gaps; options are skipped: they trade sparsely)
ohlc                     CRITICAL   bars where low > min(open, close) or high < max(open, close)
nonpositive_price        CRITICAL   bars/trades with a price not > 0 or not finite (NaN, inf); quotes with
                                    ask not > 0, bid < 0, either not finite
                                    (bid 0 x 0 is "no bid"); chain rows with negative bid/ask
crossed_quote            CRITICAL   bid > ask in ``quotes`` (WARN below ``crossed_share``)
locked_quote             INFO/WARN  bid == ask (WARN above 1 % of an instrument's quotes)
crossed_chain_quote      WARN       bid > ask in chain rows
duplicate                CRITICAL   repeated keys in bars, quotes or trades
return_outlier           WARN       |robust z| of bar-to-bar log returns above ``outlier_z``
                                    (median/MAD); INFO when a split/dividend explains it
chain_no_underlying      CRITICAL   a chain snapshot without an underlying price
chain_underlying_nodata  WARN       the underlying has no stored data in the day before the
                                    snapshot (the vendor's price is all there is)
chain_stale              WARN       the underlying's data runs past the latest chain snapshot by
                                    more than ``stale_sessions`` sessions
repair:<policy>          INFO       rows repaired during ingest (``ingest_log.repairs``)
revisions                INFO       re-delivered rows that differed from stored ones
=======================  =========  =============================================================
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from workbench.health.report import Finding, HealthReport
from workbench.store.calendars import calendar

ZONES = {"XNYS": "America/New_York", "CMES": "America/Chicago"}
DAY_NS = 86_400 * 10**9


def check_health(store: Any, symbol: str | None = None, *, outlier_z: float = 12.0, crossed_share: float = 0.001,
                 stale_sessions: int = 1) -> HealthReport:
    """Run every check over the instruments matching ``symbol`` (id, ticker, or underlying of
    options/futures), or over the whole store. Raises ``KeyError`` for an unknown symbol."""
    ids = _scope(store, symbol)
    store.con.execute("CREATE OR REPLACE TEMP TABLE _wb_scope AS SELECT unnest(?::VARCHAR[]) AS instrument_id",
                      [ids])
    try:
        findings: list[Finding] = []
        for check in (_gaps, _ohlc, _prices, _quotes, _duplicates):
            findings += check(store)
        findings += _outliers(store, outlier_z)
        findings += _quote_share(store, crossed_share)
        findings += _chains(store, stale_sessions)
        findings += _ingest_log(store, ids if symbol else None)
    finally:
        store.con.execute("DROP TABLE IF EXISTS _wb_scope")
    return HealthReport(findings, ids, symbol or "all")


def _scope(store: Any, symbol: str | None) -> list[str]:
    if symbol is None:
        return [r[0] for r in store.con.execute("SELECT instrument_id FROM instruments ORDER BY 1").fetchall()]
    base = [r[0] for r in store.con.execute(
        "SELECT instrument_id FROM instruments WHERE instrument_id = ? OR upper(symbol) = upper(?)",
        [symbol, symbol]).fetchall()]
    rows = store.con.execute(
        "SELECT instrument_id FROM instruments WHERE instrument_id IN (SELECT unnest(?::VARCHAR[])) "
        "OR underlying IN (SELECT unnest(?::VARCHAR[])) OR upper(underlying) = upper(?) ORDER BY 1",
        [base, base, symbol]).fetchall()
    if not rows:
        raise KeyError(f"unknown symbol {symbol!r}: no instrument id, ticker or underlying matches")
    return [r[0] for r in rows]


def _rows(store: Any, sql: str, params: list[Any] | None = None) -> list[tuple]:
    return store.con.execute(sql, params or []).fetchall()


# -- bars ------------------------------------------------------------------------------------------
def _gaps(store: Any) -> list[Finding]:
    spans = _rows(store, """
        SELECT b.instrument_id, b.bar_size, min(b.ts_event), max(b.ts_event), i.calendar
        FROM bars b JOIN instruments i USING (instrument_id)
        WHERE b.price_type = 'TRADE' AND i.asset_class <> 'OPTION'
          AND b.instrument_id IN (SELECT instrument_id FROM _wb_scope)
        GROUP BY ALL ORDER BY 1, 2""")
    out = []
    for iid, bar_size, lo, hi, cal_name in spans:
        zone = ZONES.get(cal_name, "UTC")
        first = pd.Timestamp(lo, unit="ns", tz="UTC").tz_convert(zone).date()
        last = pd.Timestamp(hi, unit="ns", tz="UTC").tz_convert(zone).date()
        cal = calendar(cal_name)
        for w in store.missing_windows(iid, bar_size, first, last):
            n = len(cal.sessions_in_range(pd.Timestamp(w.first), pd.Timestamp(w.last)))
            span = f"{w.first}" if w.first == w.last else f"{w.first}..{w.last}"
            out.append(Finding("WARN", "gap", iid, n, f"{bar_size}: no bars on {n} session(s) {span}",
                               w.start_ns, w.end_ns))
    return out


def _ohlc(store: Any) -> list[Finding]:
    rows = _rows(store, """
        SELECT instrument_id, bar_size, price_type, count(*), min(ts_event), max(ts_event) FROM bars
        WHERE instrument_id IN (SELECT instrument_id FROM _wb_scope)
          AND (low > least(open, close) OR high < greatest(open, close) OR low > high)
        GROUP BY ALL ORDER BY 1, 2, 3""")
    return [Finding("CRITICAL", "ohlc", iid, n, f"{size} {pt}: low/high do not bracket open/close", lo, hi)
            for iid, size, pt, n, lo, hi in rows]


def _prices(store: Any) -> list[Finding]:
    out = []
    # written as NOT (good): DuckDB sorts NaN above every number, so "NaN <= 0" is false and
    # "NaN > 0" true - isfinite() is what catches NaN and inf already in the store
    for table, cond in (
            ("bars", "NOT (isfinite(open) AND isfinite(high) AND isfinite(low) AND isfinite(close) "
                     "AND least(open, high, low, close) > 0)"),
            ("trades", "NOT (isfinite(price) AND price > 0)"),
            ("quotes", "NOT (isfinite(ask) AND ask > 0 AND isfinite(bid) AND bid >= 0) OR (bid = 0 AND bid_size > 0)")):
        for iid, n, lo, hi in _rows(store, f"""
                SELECT instrument_id, count(*), min(ts_event), max(ts_event) FROM {table}
                WHERE instrument_id IN (SELECT instrument_id FROM _wb_scope) AND ({cond})
                GROUP BY ALL ORDER BY 1"""):
            out.append(Finding("CRITICAL", "nonpositive_price", iid, n, f"{table}: {cond}", lo, hi))
    for und, n, lo, hi in _rows(store, """
            SELECT s.underlying, count(*), min(s.as_of), max(s.as_of) FROM chain_rows r JOIN chain_snapshots s
            USING (snapshot_id) WHERE r.instrument_id IN (SELECT instrument_id FROM _wb_scope)
              AND (r.bid < 0 OR r.ask < 0) GROUP BY ALL ORDER BY 1"""):
        out.append(Finding("CRITICAL", "nonpositive_price", und, n, "chain rows: negative bid or ask", lo, hi))
    return out


def _quotes(store: Any) -> list[Finding]:
    rows = _rows(store, """
        SELECT s.underlying, count(*), min(s.as_of), max(s.as_of) FROM chain_rows r JOIN chain_snapshots s
        USING (snapshot_id) WHERE r.instrument_id IN (SELECT instrument_id FROM _wb_scope) AND r.bid > r.ask
        GROUP BY ALL ORDER BY 1""")
    return [Finding("WARN", "crossed_chain_quote", und, n, "chain rows with bid > ask", lo, hi)
            for und, n, lo, hi in rows]


def _quote_share(store: Any, crossed_share: float) -> list[Finding]:
    out = []
    for iid, total, crossed, locked, c_lo, c_hi, l_lo in _rows(store, """
            SELECT instrument_id, count(*), count(*) FILTER (bid > ask),
                   count(*) FILTER (bid = ask AND bid > 0),
                   min(ts_event) FILTER (bid > ask), max(ts_event) FILTER (bid > ask),
                   min(ts_event) FILTER (bid = ask AND bid > 0)
            FROM quotes WHERE instrument_id IN (SELECT instrument_id FROM _wb_scope)
            GROUP BY ALL ORDER BY 1"""):
        if crossed:
            sev = "CRITICAL" if crossed / total > crossed_share else "WARN"
            out.append(Finding(sev, "crossed_quote", iid, crossed, f"bid > ask in {crossed / total:.3%} of quotes",
                               c_lo, c_hi))
        if locked:
            sev = "WARN" if locked / total > 0.01 else "INFO"
            out.append(Finding(sev, "locked_quote", iid, locked, f"bid == ask in {locked / total:.3%} of quotes",
                               l_lo))
    return out


def _duplicates(store: Any) -> list[Finding]:
    out = []
    for table, key in (("bars", "bar_size, price_type, ts_event"), ("quotes", "ts_event, seq"),
                       ("trades", "ts_event, seq")):
        for iid, n, lo, hi in _rows(store, f"""
                SELECT instrument_id, sum(n - 1), min(ts_event), max(ts_event) FROM (
                    SELECT instrument_id, {key}, count(*) AS n FROM {table}
                    WHERE instrument_id IN (SELECT instrument_id FROM _wb_scope) GROUP BY ALL HAVING n > 1)
                GROUP BY ALL ORDER BY 1"""):
            out.append(Finding("CRITICAL", "duplicate", iid, int(n), f"{table}: repeated ({key})", lo, hi))
    return out


def _outliers(store: Any, z: float) -> list[Finding]:
    """Robust z-scores of bar-to-bar log returns (median / MAD, 1.4826 scaling) per series."""
    frame = store.con.execute("""
        WITH r AS (
            SELECT b.instrument_id, b.bar_size, b.ts_event,
                   lag(b.ts_event) OVER w AS prev_ts, ln(b.close / lag(b.close) OVER w) AS r
            FROM bars b JOIN instruments i USING (instrument_id)
            WHERE b.price_type = 'TRADE' AND i.asset_class <> 'OPTION' AND b.close > 0
              AND b.instrument_id IN (SELECT instrument_id FROM _wb_scope)
            WINDOW w AS (PARTITION BY b.instrument_id, b.bar_size ORDER BY b.ts_event)),
        m AS (SELECT instrument_id, bar_size, median(r) AS med FROM r WHERE r IS NOT NULL GROUP BY ALL),
        d AS (SELECT r.*, m.med, abs(r.r - m.med) AS dev FROM r JOIN m USING (instrument_id, bar_size)
              WHERE r.r IS NOT NULL),
        s AS (SELECT instrument_id, bar_size, median(dev) AS mad, avg(dev) AS mean_dev FROM d GROUP BY ALL)
        SELECT d.instrument_id, d.bar_size, d.ts_event, d.prev_ts,
               (d.r - d.med) / (CASE WHEN s.mad > 0 THEN 1.4826 * s.mad ELSE 1.2533 * s.mean_dev END) AS z
        FROM d JOIN s USING (instrument_id, bar_size)
        WHERE (s.mad > 0 OR s.mean_dev > 0)
          AND abs(d.r - d.med) > ? * (CASE WHEN s.mad > 0 THEN 1.4826 * s.mad ELSE 1.2533 * s.mean_dev END)
        ORDER BY 1, 2, 3""", [z]).df()
    if frame.empty:
        return []
    explained = _explained_by_corporate_action(store, frame)
    out = []
    for (iid, size, why), grp in frame.assign(why=explained).groupby(["instrument_id", "bar_size", "why"],
                                                                      sort=True):
        worst = grp.loc[grp["z"].abs().idxmax()]
        detail = f"{size}: {len(grp)} return(s) beyond {z:g} robust sd (worst z={worst['z']:.1f})"
        if why:
            detail += f"; explained by {why}"
        out.append(Finding("INFO" if why else "WARN", "return_outlier", iid, len(grp), detail,
                           int(grp["ts_event"].min()), int(grp["ts_event"].max())))
    return out


def _explained_by_corporate_action(store: Any, frame: pd.DataFrame) -> np.ndarray:
    """'split'/'dividend' where the factor row that applies changes between the two bars."""
    why = np.full(len(frame), "", dtype=object)
    actions = store.con.execute(
        "SELECT instrument_id, date, price_factor, split_factor FROM corporate_actions "
        "WHERE instrument_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1, 2",
        [sorted(frame["instrument_id"].unique())]).df()
    for iid, acts in actions.groupby("instrument_id"):
        rows = np.flatnonzero((frame["instrument_id"] == iid).to_numpy())
        dates = pd.to_datetime(acts["date"]).to_numpy().astype("datetime64[D]")
        local = [pd.to_datetime(frame[c].to_numpy()[rows], utc=True).tz_convert(ZONES["XNYS"]) for c in
                 ("prev_ts", "ts_event")]
        d_prev, d_cur = (x.tz_localize(None).to_numpy().astype("datetime64[D]") for x in local)
        i_prev, i_cur = np.searchsorted(dates, d_prev), np.searchsorted(dates, d_cur)
        split, price = acts["split_factor"].to_numpy(), acts["price_factor"].to_numpy()
        n = len(acts)
        for k, (a, b) in enumerate(zip(i_prev, i_cur, strict=True)):
            if a == b or a >= n:
                continue
            sb = split[b] if b < n else 1.0
            why[rows[k]] = "split" if split[a] != sb else ("dividend" if price[a] != (price[b] if b < n else 1.0)
                                                             else "")
    return why


# -- chains ----------------------------------------------------------------------------------------
def _chains(store: Any, stale_sessions: int) -> list[Finding]:
    snaps = store.con.execute("""
        SELECT s.snapshot_id, s.underlying, s.as_of, s.underlying_price, s.source,
               EXISTS (SELECT 1 FROM bars b WHERE b.instrument_id = s.underlying
                         AND b.ts_event BETWEEN s.as_of - ? AND s.as_of)
               OR EXISTS (SELECT 1 FROM quotes q WHERE q.instrument_id = s.underlying
                         AND q.ts_event BETWEEN s.as_of - ? AND s.as_of)
               OR EXISTS (SELECT 1 FROM trades t WHERE t.instrument_id = s.underlying
                         AND t.ts_event BETWEEN s.as_of - ? AND s.as_of) AS has_data
        FROM chain_snapshots s WHERE s.underlying IN (SELECT instrument_id FROM _wb_scope)
        ORDER BY s.underlying, s.as_of""", [DAY_NS, DAY_NS, DAY_NS]).df()
    out = []
    for und, grp in snaps.groupby("underlying", sort=True):
        no_price = grp[grp["underlying_price"].isna()]
        if len(no_price):
            out.append(Finding("CRITICAL", "chain_no_underlying", und, len(no_price),
                               "snapshots without an underlying price (option rows cannot be valued)",
                               int(no_price["as_of"].min()), int(no_price["as_of"].max())))
        no_data = grp[~grp["has_data"].astype(bool) & grp["underlying_price"].notna()]
        if len(no_data):
            out.append(Finding("WARN", "chain_underlying_nodata", und, len(no_data),
                               "no stored underlying data in the day before the snapshot; only the vendor's price",
                               int(no_data["as_of"].min()), int(no_data["as_of"].max())))
        out += _stale(store, und, int(grp["as_of"].max()), stale_sessions)
    return out


def _stale(store: Any, underlying: str, last_snapshot: int, stale_sessions: int) -> list[Finding]:
    last_data = store.con.execute(
        "SELECT greatest((SELECT max(ts_event) FROM bars WHERE instrument_id = ?), "
        "(SELECT max(ts_event) FROM quotes WHERE instrument_id = ?))", [underlying, underlying]).fetchall()[0][0]
    if last_data is None or last_data <= last_snapshot:
        return []
    cal_name = store.instrument(underlying).calendar
    zone = ZONES.get(cal_name, "UTC")
    first = pd.Timestamp(last_snapshot, unit="ns", tz="UTC").tz_convert(zone).date()
    last = pd.Timestamp(last_data, unit="ns", tz="UTC").tz_convert(zone).date()
    behind = len(calendar(cal_name).sessions_in_range(pd.Timestamp(first), pd.Timestamp(last))) - 1
    if behind <= stale_sessions:
        return []
    return [Finding("WARN", "chain_stale", underlying, behind,
                    f"latest chain snapshot is {behind} session(s) older than the underlying's data",
                    last_snapshot, int(last_data))]


# -- lineage ---------------------------------------------------------------------------------------
def _ingest_log(store: Any, ids: list[str] | None) -> list[Finding]:
    rows = _rows(store, "SELECT coalesce(path, 'source ' || source), repairs, rows_revised FROM ingest_log "
                        "WHERE status = 'OK' ORDER BY ingest_id")
    if ids is not None:
        symbols = {i.split(".")[0].lower() for i in ids if len(i.split(".")[0]) <= 6}
        symbols |= {r[0].lower() for r in store.con.execute(
            "SELECT DISTINCT underlying FROM instruments WHERE instrument_id IN (SELECT unnest(?::VARCHAR[])) "
            "AND underlying IS NOT NULL", [ids]).fetchall()}
        symbols |= {s.split(".")[0] for s in symbols}

        def related(path: str | None) -> bool:
            tokens = set((path or "").lower().replace("\\", "/").replace(".", "/").replace("_", "/").split("/"))
            return bool(tokens & symbols)

        rows = [r for r in rows if related(r[0])]
    out = []
    for path, repairs, revised in rows:
        for policy, n in sorted(json.loads(repairs or "{}").items()):
            if n:
                out.append(Finding("INFO", f"repair:{policy}", None, int(n), str(path)))
        if revised:
            out.append(Finding("INFO", "revisions", None, int(revised),
                               f"{path}: rows differing from stored ones (kept in `revisions`)"))
    return out
