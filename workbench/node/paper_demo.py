"""The demo report's BACKTEST-vs-PAPER section: the demo strategy as a PAPER node (IB data client over
loopback to the embedded simulator replaying the demo session, nautilus sandbox fills) for a short wall
time at a high replay speed, then a backtest of exactly the stretch of the market it saw, compared intent
by intent (workbench.reports.compare). Offline. Anything that stops the node (a port, a lock, a
discovery file) becomes a visible note in the report, never a failed demo."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError, one_line
from workbench.reports import Section

TITLE = "BACKTEST vs PAPER: quote mean reversion on the simulator's replay of the demo session"


def paper_vs_backtest(store: Any, entry: dict, instrument_id: str, *, duration_s: float = 15.0,
                      speed: float = 80.0, http_port: int = 0, log: Any = print) -> list[Section]:
    """Sections for the demo report (one note section when the PAPER run could not be made)."""
    try:
        return _sections(store, entry, instrument_id, duration_s, speed, http_port, log)
    except (WorkbenchError, OSError, RuntimeError, ValueError) as exc:
        return [Section(TITLE, text=f"not shown: the PAPER run failed ({one_line(exc)})")]


def _sections(store, entry: dict, instrument_id: str, duration_s: float, speed: float, http_port: int,
              log) -> list[Section]:
    from workbench.engine import backtest
    from workbench.node.config import node_config_from_dict
    from workbench.node.runner import run_node
    from workbench.reports import compare
    from workbench.risk.runlog import run_window

    if store.path == ":memory:":
        return [Section(TITLE, text="not shown: the store is in memory (a node reads a store file)")]
    first = store.con.execute("SELECT min(ts_event) FROM quotes WHERE instrument_id = ?", [instrument_id]).fetchone()
    if not first or first[0] is None:
        return [Section(TITLE, text=f"not shown: no quotes of {instrument_id} in the store")]
    with tempfile.TemporaryDirectory() as tmp:  # the endpoint's discovery file: never the user's
        cfg = node_config_from_dict({
            "mode": "paper", "strategies": [entry], "speed": speed, "http_port": http_port,
            "replay_from": str(pd.Timestamp(first[0], tz="UTC").tz_localize(None)),
            "control_file": str(Path(tmp) / "control.json")}, where="demo PAPER run")
        log(f"    PAPER node on the embedded simulator, {duration_s:g} s at {speed:g}x ...")
        summary = run_node(cfg, duration_s, store_path=store.path)
    window = run_window(store, summary["run_id"])
    if window is None:
        return [Section(TITLE, text=f"not shown: the PAPER run {summary['run_id']} saw no quotes "
                                    f"({'; '.join(summary['errors']) or 'no errors'})")]
    data = {"instrument_ids": [instrument_id], "start": pd.Timestamp(window[0], tz="UTC"),
            "end": pd.Timestamp(window[1], tz="UTC")}
    bt_id = "bt-" + summary["run_id"]
    backtest(entry, data, store=store, run_id=bt_id).close()
    c = compare(bt_id, summary["run_id"], store=store)
    notes = [c.headline(), f"PAPER run {summary['run_id']}: {summary['quotes']} quotes, {summary['orders']} orders, "
             f"{summary['fills']} fills in {summary['duration_s']:g} s wall; the backtest {bt_id} covers the same "
             f"quotes ({pd.Timestamp(window[0], tz='UTC')} .. {pd.Timestamp(window[1], tz='UTC')}).",
             f"`wb report compare {bt_id} {summary['run_id']}` writes the full report."]
    if summary["errors"]:
        notes.append("PAPER run errors: " + "; ".join(summary["errors"]))
    return [Section(TITLE, text="\n".join(notes), table=c.summary(), figure=c.plot()),
            Section("BACKTEST vs PAPER: P&L attribution", table=c.attribution())]
