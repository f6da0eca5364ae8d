"""`wb backtest CONFIG [--out PATH]`: run a backtest file from ``config/``."""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backtest", help="run a backtest run file (YAML) against the store")
    p.add_argument("config", help="run file, e.g. config/backtest_demo.yaml")
    p.add_argument("--out", help="HTML report path (overrides the run file's `report`)")
    p.add_argument("--run-id", help="journal the run under this id (default: a fresh bt-... id); "
                                    "wb report compare reads it")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from workbench.engine import backtest
    from workbench.engine.runconfig import RunConfigError, load_run_config
    from workbench.store import Store

    try:
        run = load_run_config(args.config)
    except RunConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with Store.open(args.store) as store:
        try:
            run_id = args.run_id or f"bt-{uuid.uuid4().hex[:10]}"
            result = backtest(list(run.strategies), run.data, run.venue, store=store, run_id=run_id)
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 3
    print(result.summary().to_string())
    print(f"run_id: {run_id}")
    out = Path(args.out) if args.out else run.report
    if out:
        print(f"report: {result.to_html(out)}")
    result.close()
    return 0
