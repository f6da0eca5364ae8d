"""`wb` — the workbench command line.

Each capability registers its own sub-commands from a module in this package that defines
``register(subparsers)``; the handler it sets returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Order is the order shown in `wb --help`.
COMMAND_MODULES = ("store", "ingest", "health", "backtest", "demo", "vol", "risk", "ibsim")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wb", description="workbench: research and paper trading on NautilusTrader")
    parser.add_argument("--store", help="DuckDB store path (default: $WORKBENCH_STORE or data/workbench.duckdb)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        modname = f"workbench.cli.{name}"
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError as exc:  # a capability not built yet; any other import error is a bug
            if exc.name == modname:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
