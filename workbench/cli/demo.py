"""`wb demo [--out DIR] [--quiet]`: the offline end-to-end job; prints the report path."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="generate -> ingest -> health -> backtest -> HTML report (offline)")
    p.add_argument("--out", default="data/reports", help="report folder (default: data/reports)")
    p.add_argument("--quiet", action="store_true", help="print only the report path")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from workbench.demo import run_demo
    from workbench.store import Store

    log = (lambda *_: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    with Store.open(args.store) as store:
        result = run_demo(store, args.out, log=log)
        print(result.summary() if not args.quiet else f"report: {result.report}")
        result.backtest.close()
        result.options.close()
    return 0
