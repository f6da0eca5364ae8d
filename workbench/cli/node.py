"""`wb node run CONFIG [--duration S] [--json]`: run a nautilus node (PAPER/REAL) on the embedded simulator."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    node = sub.add_parser("node", help="live/paper nautilus trading node")
    nsub = node.add_subparsers(dest="node_command", metavar="SUBCOMMAND")
    p = nsub.add_parser("run", help="run a node run file (config/node_paper.yaml, config/node_real.yaml)")
    p.add_argument("config", help="node run file")
    p.add_argument("--duration", type=float, default=60.0, help="wall seconds to run before stopping (default 60)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from workbench.node import load_node_config, run_node
    from workbench.numbers import require_positive

    duration = require_positive(args.duration, "--duration")
    cfg = load_node_config(args.config)
    summary = run_node(cfg, duration, store_path=getattr(args, "store", None))
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        for k, v in summary.items():
            print(f"{k}: {v}")
    return 0 if not summary["errors"] and not summary["residual_positions"] else 3
