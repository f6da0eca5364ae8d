"""`wb risk ...`, `wb strategy enable|disable`, `wb orders dump`: risk operations on the store.

Offline these act on the store (operator commands are rows a running node picks up; config versions
are applied through the registry).  With ``--node`` they go to a running node's local control endpoint
(:mod:`workbench.ops.control`: 127.0.0.1, bearer token from the node's discovery file) and take effect in
its gate at once.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

DEFAULT_CONFIG = Path("config/risk.yaml")


def _store(args):
    from workbench.store import Store

    return Store.open(args.store)


def _who(args) -> str:
    return args.by or getpass.getuser()


def _node_option(q: argparse.ArgumentParser) -> None:
    q.add_argument("--node", action="store_true", help="send to the running node's control endpoint")
    q.add_argument("--control-file", help="the node's discovery file (default ~/.workbench/control.json)")


def _call(args, method: str, path: str, body: dict | None = None):
    """Ask the running node; prints the node's refusal and returns None on error."""
    from workbench.ops.control import ControlError, request

    try:
        return request(method, path, body, control_file=args.control_file)
    except ControlError as e:
        print(f"node: {e.message}", file=sys.stderr)
        return None


def _print_node_state(st: dict) -> None:
    print(f"config: v{st['config_version']} {str(st['config_hash'])[:12]}  policy: {st['policy_mode']}")
    halt = st["global"] == "HALT"
    print(f"kill switch: {'ENGAGED (' + str(st['halt_reason']) + ')' if halt else 'not engaged'}")
    print(f"disabled strategies: {', '.join(st['disabled']) or 'none'}")
    print(f"stormguard GLOBAL: {st['global']}")
    for sid, state in st["strategies"].items():
        print(f"stormguard {sid}: {state}")
    print(f"open orders: {st['open_orders']}  control commands applied: #{st['control_seq']}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("risk", help="risk gate: state, kill switch, config versions, scenarios")
    r = p.add_subparsers(dest="risk_command", metavar="ACTION")
    q = r.add_parser("state", help="operator state, StormGuard, config version, decision counts")
    _node_option(q)
    q.set_defaults(handler=_state)
    for name, fn in (("halt", _halt), ("reset", _reset)):
        q = r.add_parser(name, help=f"{name} the kill switch for a scope (recorded for the running node)")
        q.add_argument("--reason", required=True)
        q.add_argument("--scope", default="GLOBAL", help="GLOBAL or a strategy id")
        q.add_argument("--by", help="operator name (default: the OS user)")
        _node_option(q)
        q.set_defaults(handler=fn)
    c = r.add_parser("config", help="versioned risk config").add_subparsers(
        dest="config_command", metavar="ACTION"
    )
    q = c.add_parser("apply", help="validate and apply a config file as a new version")
    q.add_argument("path", nargs="?", default=str(DEFAULT_CONFIG))
    q.add_argument("--reason", required=True)
    q.add_argument("--by")
    _node_option(q)
    q.set_defaults(handler=_config_apply)
    q = c.add_parser("diff", help="diff a config file (or version) against the active version")
    q.add_argument("target", nargs="?", default=str(DEFAULT_CONFIG), help="file path or version number")
    q.set_defaults(handler=_config_diff)
    q = c.add_parser("rollback", help="re-apply an earlier version as a new version")
    q.add_argument("version", type=int)
    q.add_argument("--reason", required=True)
    q.add_argument("--by")
    _node_option(q)
    q.set_defaults(handler=_config_rollback)
    c.add_parser("history", help="all applied versions").set_defaults(handler=_config_history)
    q = r.add_parser("scenarios", help="run the risk scenarios (pure gate and nautilus backtest)")
    q.add_argument("--mode", choices=("pure", "nautilus", "both"), default="both")
    q.add_argument("-k", dest="match", help="only scenarios whose name contains this text")
    q.set_defaults(handler=_scenarios)
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])

    s = sub.add_parser("strategy", help="enable or disable a strategy at the risk gate")
    ss = s.add_subparsers(dest="strategy_command", metavar="ACTION")
    for name in ("enable", "disable"):
        q = ss.add_parser(name)
        q.add_argument("strategy_id")
        q.add_argument("--reason", required=True)
        q.add_argument("--by")
        _node_option(q)
        q.set_defaults(handler=_strategy, action_name=name)
    s.set_defaults(handler=lambda a: (s.print_help(), 2)[1])

    o = sub.add_parser("orders", help="orders approved by the risk gate")
    oo = o.add_subparsers(dest="orders_command", metavar="ACTION")
    q = oo.add_parser("dump", help="approved orders with fills, from the audit journal")
    q.add_argument("--run", help="only this run id")
    q.add_argument("--csv", action="store_true", help="CSV instead of a table")
    _node_option(q)
    q.set_defaults(handler=_orders_dump)
    o.set_defaults(handler=lambda a: (o.print_help(), 2)[1])


def _state(args) -> int:
    if args.node:
        st = _call(args, "GET", "/v1/state")
        if st is None:
            return 1
        _print_node_state(st)
        return 0
    from workbench.risk.control import control_state
    from workbench.risk.hotconfig import ConfigRegistry

    with _store(args) as store:
        active = ConfigRegistry(store).active()
        st = control_state(store)
        con = store.con
        storm = con.execute(
            "SELECT scope, arg_max(new, wall_ns) AS state, arg_max(reason, wall_ns) AS reason "
            "FROM risk_events WHERE kind = 'STORMGUARD' GROUP BY scope ORDER BY scope"
        ).fetchall()
        counts = con.execute(
            "SELECT verdict, count(*) FROM risk_decisions GROUP BY verdict ORDER BY verdict"
        ).fetchall()
    print(f"config: {'none applied' if active is None else f'v{active.version} {active.content_hash[:12]}'}")
    print(f"kill switch: {', '.join(f'{k} ({v})' for k, v in sorted(st['halted'].items())) or 'not engaged'}")
    print(f"disabled strategies: {', '.join(sorted(st['disabled'])) or 'none'}")
    for scope, state, reason in storm:
        print(f"stormguard {scope}: {state} ({reason})")
    print("decisions: " + (", ".join(f"{v}={n}" for v, n in counts) or "none"))
    return 0


def _check_scope(store, command: str, scope: str) -> None:
    """Refuse a scope/strategy the active config does not know: recording it would say "applied"
    while no gate ever acts on it."""
    from workbench.errors import WorkbenchError
    from workbench.risk.hotconfig import ConfigRegistry

    if command in ("halt", "reset") and scope == "GLOBAL":
        return
    cfg = ConfigRegistry(store).active()
    if cfg is None and DEFAULT_CONFIG.exists():
        from workbench.risk.config import load_config

        cfg = load_config(DEFAULT_CONFIG)
    known = sorted(cfg.spec.strategies) if cfg is not None else []
    if scope not in known:
        kind = "scope" if command in ("halt", "reset") else "strategy id"
        raise WorkbenchError(
            f"unknown {kind} {scope!r} (known: {', '.join(known) or 'none'})",
            where=f"wb risk {command}",
            hint="a strategy id from the active risk config" + (" or GLOBAL" if kind == "scope" else ""),
        )


def _command(args, command: str, scope: str) -> int:
    if not args.node:
        with _store(args) as store:
            _check_scope(store, command, scope)
    if args.node:
        path = {"halt": "/v1/halt", "reset": "/v1/reset"}.get(command, f"/v1/strategy/{command}")
        field = "scope" if command in ("halt", "reset") else "strategy"
        res = _call(args, "POST", path, {field: scope, "reason": args.reason, "by": _who(args)})
        if res is None:
            return 1
        print(f"{command} {scope} applied by the node as command #{res['seq']}")
        _print_node_state(res["state"])
        return 0
    from workbench.risk.control import issue

    with _store(args) as store:
        seq = issue(store, command, scope, args.reason, _who(args))
    print(f"{command} {scope} recorded as command #{seq}")
    return 0


def _halt(args) -> int:
    return _command(args, "halt", args.scope)


def _reset(args) -> int:
    return _command(args, "reset", args.scope)


def _strategy(args) -> int:
    return _command(args, args.action_name, args.strategy_id)


def _config_apply(args) -> int:
    if args.node:
        body = {"text": Path(args.path).read_text(), "reason": args.reason, "by": _who(args)}
        res = _call(args, "POST", "/v1/config/apply", body)
        if res is not None:
            print(res["summary"])
        return 0 if res is not None and res["ok"] else 1
    from workbench.risk.hotconfig import ConfigRegistry

    with _store(args) as store:
        res = ConfigRegistry(store).apply_file(args.path, by=_who(args), reason=args.reason)
    print(res.summary())
    return 0 if res.ok else 1


def _config_diff(args) -> int:
    from workbench.risk.hotconfig import ConfigRegistry

    target = int(args.target) if args.target.isdigit() else Path(args.target).read_text()
    with _store(args) as store:
        print(ConfigRegistry(store).diff(None, target) or "no differences")
    return 0


def _config_rollback(args) -> int:
    if args.node:
        body = {"version": args.version, "reason": args.reason, "by": _who(args)}
        res = _call(args, "POST", "/v1/config/rollback", body)
        if res is not None:
            print(res["summary"])
        return 0 if res is not None and res["ok"] else 1
    from workbench.risk.hotconfig import ConfigRegistry

    with _store(args) as store:
        try:
            res = ConfigRegistry(store).rollback(args.version, by=_who(args), reason=args.reason)
        except KeyError as exc:
            print(exc.args[0], file=sys.stderr)
            return 1
    print(res.summary())
    return 0 if res.ok else 1


def _config_history(args) -> int:
    from workbench.risk.hotconfig import ConfigRegistry

    with _store(args) as store:
        h = ConfigRegistry(store).history()
    print(h.to_string(index=False) if len(h) else "no config applied yet")
    return 0


def _scenarios(args) -> int:
    from workbench.risk.scenario import all_scenarios, run_pure

    runners = []
    if args.mode in ("pure", "both"):
        runners.append(run_pure)
    if args.mode in ("nautilus", "both"):
        from workbench.engine.gated_scenarios import run_scenario_backtest

        runners.append(run_scenario_backtest)
    failed = 0
    for scenario in all_scenarios():
        if args.match and args.match.lower() not in scenario.name.lower():
            continue
        for run in runners:
            result = run(scenario)
            failed += not result.passed
            print(result.line(), flush=True)
    return 1 if failed else 0


def _orders_dump(args) -> int:
    if args.node:
        import pandas as pd

        rows = _call(args, "GET", "/v1/orders")
        if rows is None:
            return 1
        frame = pd.DataFrame(rows)
        if args.csv:
            frame.to_csv(sys.stdout, index=False)
        else:
            print(frame.to_string(index=False) if len(frame) else "no working orders")
        return 0
    from workbench.risk.schema import ensure_schema

    with _store(args) as store:
        ensure_schema(store.con)
        where, params = ("AND d.run_id = ?", [args.run]) if args.run else ("", [])
        frame = store.con.execute(
            f"""
            SELECT d.run_id, d.client_order_id, d.intent_id, d.strategy_id, d.instrument_id, d.side,
                   d.approved_qty AS qty, d.price, d.tag, d.verdict, d.ts_event,
                   coalesce(f.filled, 0) AS filled_qty, f.avg_px,
                   c.client_order_id IS NOT NULL AS cancel_approved
            FROM risk_decisions d
            LEFT JOIN (SELECT run_id, client_order_id, sum(qty) AS filled,
                              sum(qty * price) / sum(qty) AS avg_px
                       FROM risk_fills GROUP BY ALL) f USING (run_id, client_order_id)
            LEFT JOIN (SELECT DISTINCT run_id, client_order_id FROM risk_decisions
                       WHERE action = 'CANCEL' AND verdict <> 'REJECT') c USING (run_id, client_order_id)
            WHERE d.action = 'NEW' AND d.verdict <> 'REJECT' {where}
            ORDER BY d.run_id, d.decision_seq""",
            params,
        ).df()
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
    else:
        print(frame.to_string(index=False) if len(frame) else "no approved orders")
    return 0
