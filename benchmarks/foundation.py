"""Foundation benchmarks (issue 2): ingest, store -> nautilus, backtest overhead, coverage queries.

Each metric is measured beside its anchor in the same run. Goals: ingest >= 3M rows/s,
store->nautilus >= 1.5M quotes/s, backtest overhead ratio >= 0.95, missing_windows <= 50 ms.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.lines import metric, try_anchor
from workbench.store import Instrument, Store

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def _best(fn, repeat=3):
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _quote_store(n: int) -> Store:
    store = Store.open(":memory:")
    store.upsert_instruments([Instrument.equity("BENCH")])
    rng = np.random.default_rng(1)
    ts = pd.Timestamp("2024-03-04 14:30", tz="UTC").value + np.arange(n, dtype=np.int64) * 20_000_000
    mid = np.round(100 + np.cumsum(rng.normal(0, 0.01, n)), 2)
    store.write_quotes("BENCH.XNAS", pd.DataFrame({"ts_event": ts, "bid": mid - 0.01, "ask": mid + 0.01,
                                                   "bid_size": rng.integers(1, 20, n) * 100.0,
                                                   "ask_size": rng.integers(1, 20, n) * 100.0}), source="bench")
    return store


def bench_ingest() -> dict:
    from workbench.ingest import ingest_lean

    files = sorted((REAL / "lean" / "equity" / "usa" / "tick").rglob("*.zip")) + \
        sorted((REAL / "lean" / "equity" / "usa" / "minute").rglob("*.zip")) + \
        sorted((REAL / "lean" / "equity" / "usa" / "second").rglob("*.zip"))

    import zipfile

    # both sides are credited the same figure: the input data lines of every member, counted once
    # here outside the timed runs (stored rows differ from input rows: a Lean quote bar becomes
    # BID and ASK bars plus a quote, tick quotes are carried/dropped by documented repairs)
    input_rows = 0
    for f in files:
        with zipfile.ZipFile(f) as z:
            for name in z.namelist():
                input_rows += sum(1 for line in z.read(name).splitlines() if line.strip())

    def ours():
        store = Store.open(":memory:")
        ingest_lean(store, files, quiet=True)
        store.close()
        return input_rows

    def anchor():
        # the naive path a user would write: pandas.read_csv per member, then a DuckDB table of it.
        # Each member keeps its own table, so the anchor's store holds every row as ours does (it
        # used to CREATE OR REPLACE one table: only the last member stayed). It does not convert
        # units or zones, validate, dedupe, number seq, log or commit per file, and its column types
        # are whatever pandas infers per member (a naive append into one table per layout fails:
        # a member's condition codes infer as int64, another's as text).
        import warnings

        import duckdb

        con = duckdb.connect()
        rows = 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed-type condition codes
            for f in files:
                with zipfile.ZipFile(f) as z:
                    for name in z.namelist():
                        df = pd.read_csv(z.open(name), header=None)
                        con.register("df", df)
                        con.execute(f"CREATE TABLE t{rows} AS SELECT * FROM df")
                        con.unregister("df")
                        rows += len(df)
        con.close()
        assert rows == input_rows, (rows, input_rows)  # pandas read every line the count saw
        return input_rows

    # best of 3 each, interleaved and alternating who goes first, so a load spike or a warm cache
    # favours neither; wall and CPU seconds (all threads of the process) of the same run are kept
    def timed(fn):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - t0, time.process_time() - c0

    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "anchor": []}
    why = None
    for i in range(3):
        for side in (("ours", "anchor") if i % 2 == 0 else ("anchor", "ours")):
            if side == "ours":
                runs["ours"].append(timed(ours))
            elif why is None:
                took, why = try_anchor(timed, anchor)
                if took:
                    runs["anchor"].append(took)
    t, cpu = min(runs["ours"])
    ta, cpu_a = min(runs["anchor"]) if runs["anchor"] else (None, None)
    # ours reads the next file on a second thread while DuckDB writes, and pyarrow's CSV reader and
    # DuckDB may use more than one core: the per-CPU-second figures say what each row really cost
    extra = {"cores": round(cpu / t, 2), "rows_per_cpu_s": round(input_rows / cpu),
             "load_avg_1m": round(os.getloadavg()[0], 2)}  # a shared machine: say how loaded it was
    if ta:
        extra |= {"anchor_cores": round(cpu_a / ta, 2), "anchor_rows_per_cpu_s": round(input_rows / cpu_a),
                  "ratio_per_cpu_s": round(cpu_a / cpu, 3)}
    return metric("ingest_rows_per_s", input_rows / t, "rows/s",
                  "pandas.read_csv+duckdb table per member (no validation, conversion or dedup)",
                  input_rows / ta if ta else None, anchor_error=why, goal=3e6, higher_is_better=True, **extra)


def bench_store_to_nautilus(n: int = 1_000_000) -> dict:
    from nautilus_trader.persistence.wranglers import QuoteTickDataWrangler

    from workbench.engine.data import load_quotes
    from workbench.engine.instruments import to_nautilus

    store = _quote_store(n)
    inst = to_nautilus(store.instrument("BENCH.XNAS"))
    load_quotes(store, inst, end=1)  # JIT warm-up outside the timing (reported separately by numba cache)
    t, quotes = _best(lambda: load_quotes(store, inst), 3)
    assert len(quotes) == n

    def wrangler():
        df = store.read_quotes("BENCH.XNAS").rename(columns={"bid": "bid_price", "ask": "ask_price"})
        df.index = pd.to_datetime(df.pop("ts_event"), utc=True)
        return QuoteTickDataWrangler(inst).process(df.copy())

    took, why = try_anchor(_best, wrangler, 2)
    if took:
        wq = took[1]
        assert len(wq) == n and wq[n // 2] == quotes[n // 2]
    store.close()
    return metric("store_to_nautilus_quotes_per_s", n / t, "quotes/s", "wrangler_quotes_per_s",
                  n / took[0] if took else None, anchor_error=why, goal=1.5e6, higher_is_better=True)


def bench_backtest_overhead(n: int = 300_000) -> dict:
    from decimal import Decimal

    from nautilus_trader.examples.strategies.ema_cross import EMACross, EMACrossConfig
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.identifiers import InstrumentId

    from workbench.engine import VenueSpec, backtest
    from workbench.engine.backtest import build_engine
    from workbench.engine.data import load_quotes
    from workbench.engine.instruments import to_nautilus

    store = _quote_store(n)
    cfg = dict(instrument_id=InstrumentId.from_str("BENCH.XNAS"),
               bar_type=BarType.from_str("BENCH.XNAS-1-MINUTE-BID-INTERNAL"), trade_size=Decimal(100),
               subscribe_quote_ticks=False, request_bars=False)
    venue = VenueSpec(commission_per_unit=None)

    def ours():
        r = backtest(EMACross(EMACrossConfig(**cfg)), ["BENCH.XNAS"], venue, store=store)
        out = len(r.fills)
        r.close()
        return out

    def raw():
        # hand-built: same engine settings, quotes loaded once by the user, then the run
        inst = to_nautilus(store.instrument("BENCH.XNAS"))
        engine = build_engine(venue, ["XNAS"])
        engine.add_instrument(inst)
        engine.add_data(load_quotes(store, inst))
        engine.add_strategy(EMACross(EMACrossConfig(**cfg)))
        engine.run()
        out = len(engine.trader.generate_fills_report())
        engine.dispose()
        return out

    t, fills = _best(ours, 3)
    took, why = try_anchor(_best, raw, 3)
    store.close()
    if why:
        return metric("backtest_overhead_ratio", None, "raw_time/workbench_time", "raw BacktestEngine seconds",
                      anchor_error=why, goal=0.95, higher_is_better=True, workbench_seconds=round(t, 3))
    ta, afills = took
    assert fills == afills
    # the metric is itself a ratio to the anchor: value = ratio = raw seconds / workbench seconds
    out = metric("backtest_overhead_ratio", ta / t, "raw_time/workbench_time", "raw BacktestEngine seconds", ta,
                 goal=0.95, higher_is_better=True, workbench_seconds=round(t, 3))
    return out | {"ratio": out["value"]}


def bench_missing_windows(symbols: int = 500, years: int = 20) -> dict:
    from workbench.store.calendars import calendar

    store = Store.open(":memory:")
    insts = [Instrument.equity(f"S{i:03d}") for i in range(symbols)]
    store.upsert_instruments(insts)
    sessions = calendar("XNYS").sessions_in_range("2004-01-01", f"{2004 + years - 1}-12-31")
    ts_all = sessions.tz_localize("America/New_York").as_unit("ns").asi8
    rng = np.random.default_rng(5)
    frames = []
    for inst in insts:
        keep = rng.random(len(ts_all)) > 0.01  # ~1% holes
        frames.append(pd.DataFrame({"instrument_id": inst.instrument_id, "bar_size": "1d", "price_type": "TRADE",
                                    "ts_event": ts_all[keep]}))
    big = pd.concat(frames)
    store.con.register("big", big)
    store.con.execute("INSERT INTO bars SELECT b.instrument_id, bar_size, price_type, ts_event, 1, 1, 1, 1, 1, "
                      "'bench', 0, i.ikey FROM big b JOIN instruments i USING (instrument_id)")
    ids = [i.instrument_id for i in insts]
    start, end = "2004-01-01", f"{2004 + years - 1}-12-31"
    store.missing_windows(ids, "1d", start, end)  # warm the calendar cache
    t, out = _best(lambda: store.missing_windows(ids, "1d", start, end), 3)
    assert len(out) == symbols

    def anchor():  # the per-symbol loop a user would write
        return {i: store.missing_windows(i, "1d", start, end) for i in ids[:50]}

    took, why = try_anchor(_best, anchor, 1)
    store.close()
    return metric("missing_windows_ms", t * 1000, "ms", "per-symbol loop ms (scaled from 50)",
                  took[0] * 1000 * symbols / 50 if took else None, anchor_error=why, goal=50, higher_is_better=False)


def run() -> list[dict]:
    return [bench_ingest(), bench_store_to_nautilus(), bench_backtest_overhead(), bench_missing_windows()]
