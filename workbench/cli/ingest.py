"""`wb ingest lean|chain|csv PATH... [--quiet]`: files into the store, one batch per file.

Exit codes: 0 ingested (or already there), 1 bad input (the message names file, line, field) or
nothing to ingest (an empty zip or folder: 0 rows), 2 usage errors.
"""

from __future__ import annotations

import argparse
import sys

from workbench.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="ingest Lean, option-chain or mapped CSV/Parquet files into the store")
    s = p.add_subparsers(dest="ingest_command", metavar="FORMAT")

    lean = s.add_parser("lean", help="Lean zips and factor files (files or directories, recursive)")
    lean.add_argument("paths", nargs="+", metavar="PATH")
    lean.add_argument("--snapshot-times", default=None, metavar="HH:MM,...",
                      help="US/Eastern times at which minute option quotes become chain snapshots (default 15:30)")
    _common(lean)
    lean.set_defaults(handler=_lean)

    chain = s.add_parser("chain", help="option-chain snapshots: iVolatility, Cboe delayed-quote CSV or JSON")
    chain.add_argument("paths", nargs="+", metavar="PATH")
    chain.add_argument("--format", choices=("ivolatility", "cboe", "cboe_json"), default=None,
                       help="default: detect")
    _common(chain)
    chain.set_defaults(handler=_chain)

    csv = s.add_parser("csv", help="CSV/Parquet through a YAML column mapping (see config/csv_mappings/)")
    csv.add_argument("paths", nargs="+", metavar="PATH")
    csv.add_argument("--mapping", required=True, help="YAML mapping file")
    _common(csv)
    csv.set_defaults(handler=_csv)
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--force", action="store_true", help="re-read files whose bytes were ingested before")


def _run(args: argparse.Namespace, work) -> int:
    from workbench.ingest import IngestError

    try:
        with Store.open(args.store) as store:
            summary = work(store)
    except IngestError as exc:
        print(f"wb: ingest failed, nothing written: {exc.one_line()}", file=sys.stderr)
        return 1
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"wb: ingest failed: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    print(summary.summary())
    if getattr(summary, "failed", 0):  # every file was tried; any failure is an exit != 0
        return 1
    if not any(f.status in ("ingested", "skipped") for f in summary.files):
        print("wb: nothing ingested: 0 rows", file=sys.stderr)  # an empty zip is not a success
        return 1
    return 0


def _lean(args: argparse.Namespace) -> int:
    from workbench.ingest import ingest_lean

    times = [t for t in args.snapshot_times.split(",") if t.strip()] if args.snapshot_times else None
    return _run(args, lambda st: ingest_lean(st, args.paths, quiet=args.quiet, force=args.force,
                                             snapshot_times=times, keep_going=True))


def _chain(args: argparse.Namespace) -> int:
    from workbench.ingest import ingest_chains

    return _run(args, lambda st: ingest_chains(st, args.paths, args.format, quiet=args.quiet, force=args.force,
                                               keep_going=True))


def _csv(args: argparse.Namespace) -> int:
    from workbench.ingest import ingest_csv

    return _run(args, lambda st: ingest_csv(st, args.paths, args.mapping, quiet=args.quiet, force=args.force,
                                                  keep_going=True))
