"""`wb health [SYMBOL] [--json]`: data-health report; exit 1 on CRITICAL findings.

Exit codes: 0 no critical findings, 1 critical findings, 2 unknown symbol.
"""

from __future__ import annotations

import argparse
import json
import sys

from workbench.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("health", help="data-health report (gaps, bad prices, crossed quotes, outliers, repairs)")
    p.add_argument("symbol", nargs="?", default=None,
                   help="instrument id, ticker or underlying (its options/futures are included); default all")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--outlier-z", type=float, default=12.0, help="robust z-score above which a return is flagged")
    p.add_argument("--limit", type=int, default=40, help="findings shown in the text report")
    p.set_defaults(handler=_health)


def _health(args: argparse.Namespace) -> int:
    from workbench.health import check_health

    with Store.open(args.store, must_exist=True) as store:
        try:
            report = check_health(store, args.symbol, outlier_z=args.outlier_z)
        except KeyError as exc:
            print(f"health: {exc.args[0]}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str))
    else:
        print(report.summary(args.limit))
    return 0 if report.ok else 1
