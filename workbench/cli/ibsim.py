"""``wb gateway sim`` — run the IB TWS-wire simulator; ``wb ib ...`` — IB ingest through ib_async."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    gw = sub.add_parser("gateway", help="IB gateway tools (simulator)")
    gsub = gw.add_subparsers(dest="gateway_command", metavar="SUBCOMMAND")
    gw.set_defaults(handler=lambda a: (gw.print_help(), 2)[1])
    p = gsub.add_parser("sim", help="serve the store over the TWS API socket protocol (an IB Gateway simulator)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1; loopback only is safest)")
    p.add_argument("--port", type=int, default=4002, help="TCP port (default 4002, IB Gateway paper)")
    p.add_argument("--replay-from", dest="replay_from", help="simulated start time, e.g. '2013-10-07 13:30' (UTC)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (0 = frozen)")
    p.add_argument("--scenario", help="YAML/JSON fault scenario file")
    p.add_argument("--state", help="JSON file holding the simulated account (persists across restarts)")
    p.add_argument("--account", default="DU1234567", help="simulated account id")
    p.add_argument("--synthetic", action="store_true", help="serve a seeded synthetic market instead of the store")
    p.add_argument("--seed", type=int, default=0, help="seed for --synthetic")
    p.set_defaults(handler=_run_sim)

    ib = sub.add_parser("ib", help="Interactive Brokers ingest via ib_async")
    isub = ib.add_subparsers(dest="ib_command", metavar="SUBCOMMAND")
    ib.set_defaults(handler=lambda a: (ib.print_help(), 2)[1])
    try:
        ingest_ib = importlib.import_module("workbench.ingest.ib")
    except ModuleNotFoundError as exc:  # IB ingest not built yet
        if exc.name != "workbench.ingest.ib":
            raise
        return
    ingest_ib.register_cli(isub)


def _run_sim(args: argparse.Namespace) -> int:
    from workbench.errors import WorkbenchError
    from workbench.ibsim.account import AccountConfig
    from workbench.ibsim.app import gateway_from_store, serve, start_of, synthetic_gateway
    from workbench.ibsim.broker import BrokerConfig
    from workbench.ibsim.gateway import GatewayConfig

    try:
        start = start_of(args.replay_from)
    except (ValueError, TypeError) as exc:
        raise WorkbenchError(f"not a date/time: {args.replay_from!r}", where="--replay-from",
                             hint="e.g. --replay-from '2013-10-07 13:30' (UTC)") from exc
    if args.scenario and not os.path.isfile(args.scenario):
        raise WorkbenchError("no such file", where=f"--scenario {args.scenario}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = GatewayConfig(host=args.host, port=args.port, start=start, speed=args.speed,
                        scenario=args.scenario, state_path=args.state,
                        broker=BrokerConfig(account=AccountConfig(account=args.account)))
    if args.synthetic:
        gw = synthetic_gateway(cfg, seed=args.seed)
    else:
        from workbench.store import Store

        path = getattr(args, "store", None) or os.environ.get("WORKBENCH_STORE")
        store = Store.open(path, read_only=True, must_exist=True)
        try:
            gw = gateway_from_store(store, cfg)
        except ValueError as exc:
            print(f"wb gateway sim: {exc}", file=sys.stderr)
            return 2
    print(f"IB simulator on {args.host}:{args.port} (server versions up to {cfg.max_version}); "
          f"point ib_async or a nautilus node at it. Ctrl-C to stop.", file=sys.stderr)
    try:
        asyncio.run(serve(gw))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the bind: port in use, address not available
        raise WorkbenchError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
                             hint="another gateway/TWS may hold the port; stop it or use --port") from exc
    return 0
