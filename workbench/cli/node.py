"""`wb node run CONFIG [--duration S] [--json] [--http-port P]`: run a nautilus node (PAPER/REAL) on the embedded simulator."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    node = sub.add_parser("node", help="live/paper nautilus trading node")
    nsub = node.add_subparsers(dest="node_command", metavar="SUBCOMMAND")
    p = nsub.add_parser("run", help="run a node run file (config/node_paper.yaml, node_real.yaml, node_pair.yaml)")
    p.add_argument("config", help="node run file")
    p.add_argument("--duration", type=float, default=60.0, help="wall seconds to run before stopping (default 60)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--http-port", type=int, default=None, metavar="P",
                   help="loopback HTTP port for the control endpoint, /health, /ready, /metrics "
                        "(0 = a free port; default: the run file's http_port, 0)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from workbench.node import load_node_config, run_node
    from workbench.numbers import require_positive

    duration = require_positive(args.duration, "--duration")
    cfg = load_node_config(args.config)
    if args.http_port is not None and not 0 <= args.http_port <= 65535:
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"--http-port must be 0 (a free port) .. 65535, got {args.http_port}",
                             where="wb node run")
    summary = run_node(cfg, duration, store_path=getattr(args, "store", None), http_port=args.http_port)
    if "compare" in summary:  # a pair run: the report that sets its legs side by side
        import sys

        print(f"compare the legs: {summary['compare']}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        for k, v in summary.items():
            print(f"{k}: {v}")
    return 0 if not summary["errors"] and not summary["residual_positions"] else 3
