"""The real SPY sessions the replay notebook, its tests and ``python -m benchmarks replay`` replay.

The data stays in the shared folder beside the checkout (``../shared/data/real``, or
``$WORKBENCH_REAL_DATA``) and is ingested into the caller's store; nothing is copied into the repo.
The shared Lean data has tick trades for 2013-10-07..11 but second-level quotes for 2013-10-07 only,
so the trade session (2013-10-08, 451,545 ticks: the benchmark's day) and the quote session are
different days.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError

REPO = Path(__file__).resolve().parents[2]
TRADE_DAY = "20131008"  # tick trades, ~450k
QUOTE_DAY = "20131007"  # the only day with second-level quotes in the shared data


def real_data_dir() -> Path:
    """``$WORKBENCH_REAL_DATA`` or ``<repo>/../shared/data/real`` (any cwd: a notebook, CI's clean
    clone with ``../shared`` beside it)."""
    path = Path(os.environ.get("WORKBENCH_REAL_DATA") or REPO.parent / "shared" / "data" / "real")
    if not path.is_dir():
        raise WorkbenchError(f"real data folder {path} not found", where="real_data_dir",
                             hint="put the shared data beside the checkout (../shared) or set WORKBENCH_REAL_DATA")
    return path


def spy_files(trades: str | None = TRADE_DAY, quotes: str | None = QUOTE_DAY) -> list[Path]:
    """The Lean zips of SPY's tick trades on ``trades`` and second-level quotes on ``quotes`` (YYYYMMDD;
    None leaves that kind out)."""
    lean = real_data_dir() / "lean" / "equity" / "usa"
    files = ([lean / "tick" / "spy" / f"{trades}_trade.zip"] if trades else []) + \
        ([lean / "second" / "spy" / f"{quotes}_quote.zip"] if quotes else [])
    for f in files:
        if not f.is_file():
            raise WorkbenchError(f"{f} not found", where="spy_files",
                                 hint=f"files there: {', '.join(sorted(p.name for p in f.parent.glob('*.zip'))) or 'none'}")
    return files


def ingest_spy(store: Any, trades: str | None = TRADE_DAY, quotes: str | None = QUOTE_DAY) -> str:
    """Ingest :func:`spy_files` into ``store`` (the project's Lean ingest); returns SPY's instrument id."""
    from workbench.ingest.lean import ingest_lean

    ingest_lean(store, spy_files(trades, quotes), quiet=True)
    ids = store.instruments()
    return str(ids.loc[ids["symbol"] == "SPY", "instrument_id"].iloc[0])


def spy_entry(instrument_id: str, **config: Any) -> dict:
    """The demo's QuoteReversion strategy sized for SPY (100-share clips, 500 max); ``config`` overrides."""
    return {"strategy_path": "strategies.quote_reversion:QuoteReversion",
            "config_path": "strategies.quote_reversion:QuoteReversionConfig",
            "config": {"instrument_id": instrument_id, "trade_size": 100, "max_position": 500, "entry_spreads": 3.0,
                       **config}}
