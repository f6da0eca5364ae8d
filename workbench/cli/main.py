"""`wb` — the workbench command line.

Each capability registers its own sub-commands from a module in this package that defines
``register(subparsers)``; the handler it sets returns the process exit code.

Errors: a handler raises :class:`~workbench.errors.WorkbenchError` (or a subclass) for bad input and
``main`` prints it on one line with exit 2. Anything else that escapes a handler is a one-line
``error: Type: message`` with exit 1; ``wb --debug ...`` shows the traceback instead. A closed pipe
(``wb store info | head``) ends quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from workbench.errors import WorkbenchError, one_line

# Order is the order shown in `wb --help`.
COMMAND_MODULES = ("store", "ingest", "health", "backtest", "demo", "vol", "risk", "node", "report", "sweep", "ibsim")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wb", description="workbench: research and paper trading on NautilusTrader")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks instead of one-line errors")
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
    except BrokenPipeError:
        # the reader went away (`| head`): silence the flush at exit as well
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:
        if args.debug:
            raise
        prefix = "" if isinstance(exc, WorkbenchError) else "error: "
        print(f"wb: {prefix}{one_line(exc)}" + ("" if isinstance(exc, WorkbenchError) else " (--debug shows the traceback)"),
              file=sys.stderr)
        return 2 if isinstance(exc, WorkbenchError) else 1


if __name__ == "__main__":
    sys.exit(main())
