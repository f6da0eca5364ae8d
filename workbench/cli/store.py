"""`wb store info [--json]`."""

from __future__ import annotations

import argparse
import json

from workbench.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("store", help="inspect the DuckDB market-data store")
    s = p.add_subparsers(dest="store_command", metavar="ACTION")
    info = s.add_parser("info", help="row counts per table and event-time ranges")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=_info)
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])


def _info(args: argparse.Namespace) -> int:
    with Store.open(args.store, must_exist=True) as store:
        info = store.info()
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    print(f"store {info['path']} (schema v{info['schema_version']})")
    for key in ("instruments", "bars", "quotes", "trades", "chain_snapshots", "chain_rows", "open_interest",
                "corporate_actions", "revisions", "ingests", "requests"):
        print(f"  {key:<18} {info[key]:>12,}")
    for table, (lo, hi) in info["ranges"].items():
        print(f"  {table:<18} {lo} .. {hi}")
    return 0
