"""`wb report compare RUN_A RUN_B [--out DIR]`, `wb report runs`: comparison reports of journaled runs."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from workbench.errors import WorkbenchError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="comparison reports of journaled runs (backtest, PAPER, REAL)")
    rsub = p.add_subparsers(dest="report_command", metavar="SUBCOMMAND", required=True)
    c = rsub.add_parser("compare", help="compare two runs intent by intent: matching, slippage, latency, "
                                        "P&L attribution")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument("--out", help="folder for the HTML report (default data/reports)")
    c.add_argument("--mark", action="append", default=[], metavar="INSTRUMENT=PRICE",
                   help="common final mark of an instrument (default: the later run-end quote's mid)")
    c.set_defaults(handler=_compare)
    r = rsub.add_parser("runs", help="list journaled runs with mode and time")
    r.set_defaults(handler=_runs)


def _open(args):
    from workbench.store import Store

    return Store.open(args.store, read_only=True, must_exist=True)


def _marks(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        iid, sep, px = item.partition("=")
        try:
            out[iid] = float(px) if sep and iid else float("nan")
        except ValueError:
            out[iid] = float("nan")
        if not (out[iid] > 0 and out[iid] != float("inf")):
            raise WorkbenchError(f"--mark {item!r}: expected INSTRUMENT=PRICE with a finite price > 0")
    return out


def _compare(args: argparse.Namespace) -> int:
    from workbench.reports import compare

    marks = _marks(args.mark)
    with _open(args) as store:
        c = compare(args.run_a, args.run_b, store=store, mark=marks or None)
    print(c.headline())
    print(c.summary().to_string())
    print(c.attribution().to_string())
    safe = lambda s: re.sub(r"[^A-Za-z0-9_.-]", "_", s)  # noqa: E731 - run ids become a file name
    out = Path(args.out or "data/reports") / f"compare_{safe(args.run_a)}_vs_{safe(args.run_b)}.html"
    print(f"report: {c.to_html(out)}")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from workbench.risk.runlog import list_runs

    with _open(args) as store:
        runs = list_runs(store)
    if runs.empty:
        print("no journaled runs (wb backtest and wb node run journal theirs)")
        return 0
    print(runs.to_string(index=False))
    return 0
