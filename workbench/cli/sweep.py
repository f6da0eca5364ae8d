"""`wb sweep CONFIG [--scheduler ADDR] [--workers N] [--out DIR]`: a parameter sweep on Dask."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a parameter sweep / walk-forward file (YAML) on Dask")
    p.add_argument("config", help="sweep file, e.g. config/sweep_demo.yaml")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 "
                                       "(default: $WORKBENCH_DASK_SCHEDULER, else a local cluster)")
    p.add_argument("--workers", type=_positive, help="local cluster size (default: one per core)")
    p.add_argument("--serial", action="store_true", help="run the points one by one in this process (no Dask)")
    p.add_argument("--out", help="folder for runs.csv and sweep.html")
    p.add_argument("--cache", help="data export folder or fsspec URL every worker can read "
                                   "(default: $WORKBENCH_SWEEP_CACHE or data/catalog/sweep)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}")
    return value


def _run(args: argparse.Namespace) -> int:
    from workbench.store import Store
    from workbench.sweep.config import build_sweep, load_sweep_config

    config = load_sweep_config(args.config)
    if args.scheduler and (args.workers or args.serial):
        print("wb: --scheduler runs on that cluster: drop --workers/--serial", file=sys.stderr)
        return 2
    with Store.open(args.store) as store:
        if config.demo_market:
            _ensure_demo_market(store, config.kwargs["data"])
        sweep = build_sweep(config, store=store, cache=args.cache)
        result = sweep.run("serial" if args.serial else None, scheduler=args.scheduler, workers=args.workers,
                           progress=not args.quiet)
        print(result.summary().to_string())
        best = result.best(5)
        if len(best):
            print("\nbest:\n" + best[[c for c in best.columns if c in (*result.params, "objective", "objective_is",
                                                                       "objective_oos", "pnl", "run_id")]]
                  .to_string())
        if args.out:
            print(f"report: {_write(result, Path(args.out))}")
        failed = result.failed
        for _, row in failed.iterrows():
            print(f"run {row['index']} failed: {row['error']}", file=sys.stderr)
    return 1 if len(failed) else 0


def _ensure_demo_market(store, data) -> None:
    from workbench.engine.config import DataSpec

    ids = DataSpec.coerce(data).instrument_ids
    if all(store.find_instrument(i) is not None for i in ids):
        return
    from workbench.ingest.generator import MarketConfig, generate_market

    print("generating the seeded demo market into the store ...", file=sys.stderr)
    generate_market(store, MarketConfig())


def _write(result, out: Path) -> Path:
    from workbench.reports import Section, write_report

    out.mkdir(parents=True, exist_ok=True)
    result.to_frame().to_csv(out / "runs.csv", index=False)
    sections = [Section("Summary", table=result.summary().astype(str).to_frame()),
                Section("Objective by parameters", figure=result.plot()),
                Section("Best", table=result.best(10)),
                Section("Plateau (neighbourhood mean vs the point)", table=result.plateau())]
    if result.walk_forward:
        sections.append(Section("In-sample vs out-of-sample rank stability", table=result.rank_stability()))
    if len(result.failed):
        sections.append(Section("Failed runs", table=result.failed[["index", *result.params, "error"]]))
    return write_report(out / "sweep.html", f"workbench sweep {result.sweep_id}", sections)
