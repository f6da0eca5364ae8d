"""Operator commands that must survive the process: halt, reset, enable, disable.

Offline (``wb risk halt --reason ...``) a command is a row in ``risk_control``; a running node applies
new rows to its gate with :func:`sync_controls` (polling, like the config watcher), so the CLI works
the same whether or not a node is up. :func:`control_state` folds the rows into the current intent of
the operators: which scopes are halted and which strategies are disabled.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from workbench.risk.journal import connection, transaction
from workbench.risk.schema import ensure_schema

COMMANDS = ("halt", "reset", "enable", "disable")


def issue(store_or_con, command: str, scope: str, reason: str, by: str) -> int:
    """Record an operator command; returns its sequence number."""
    if command not in COMMANDS:
        raise ValueError(f"command {command!r}: expected one of {COMMANDS}")
    if not reason or not reason.strip():
        raise ValueError(f"{command}: a reason is required")
    if not scope:
        raise ValueError(f"{command}: a scope (GLOBAL or a strategy id) is required")
    con = connection(store_or_con)
    ensure_schema(con)
    with transaction(store_or_con):
        seq = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM risk_control").fetchone()[0]
        con.execute(
            "INSERT INTO risk_control VALUES (?, ?, ?, ?, ?, ?)",
            [seq, command, scope, reason.strip(), by, datetime.now(UTC)],
        )
    return int(seq)


def commands(store_or_con, since: int = 0) -> pd.DataFrame:
    con = connection(store_or_con)
    ensure_schema(con)
    return con.execute("SELECT * FROM risk_control WHERE seq > ? ORDER BY seq", [since]).df()


def control_state(store_or_con) -> dict:
    """{"halted": {scope: reason}, "disabled": {strategy: reason}, "enabled": {strategy: reason},
    "last_seq": n}; ``enabled`` lists strategies whose last command was an explicit enable."""
    halted: dict[str, str] = {}
    disabled: dict[str, str] = {}
    enabled: dict[str, str] = {}
    last = 0
    for row in commands(store_or_con).itertuples():
        last = row.seq
        if row.command == "halt":
            halted[row.scope] = row.reason
        elif row.command == "reset":
            halted.pop(row.scope, None)
        elif row.command == "disable":
            disabled[row.scope] = row.reason
            enabled.pop(row.scope, None)
        else:
            disabled.pop(row.scope, None)
            enabled[row.scope] = row.reason
    return {"halted": halted, "disabled": disabled, "enabled": enabled, "last_seq": last}


def apply_control_state(gate, store_or_con) -> int:
    """Put a gate that is starting into the operators' net state recorded so far (a halt or disable
    issued while no node ran stays in force; a later reset/enable cancels it), each scope once;
    returns the high-water mark to continue :func:`sync_controls` from."""
    st = control_state(store_or_con)
    for scope, reason in sorted(st["halted"].items()):
        gate.halt(reason, scope, by="recorded")
    for sid, reason in sorted(st["disabled"].items()):
        gate.set_enabled(sid, False, reason, by="recorded")
    for sid, reason in sorted(st["enabled"].items()):
        gate.set_enabled(sid, True, reason, by="recorded")
    return int(st["last_seq"])


def sync_controls(gate, store_or_con, since: int = 0) -> int:
    """Apply commands newer than ``since`` to a running gate; returns the new high-water mark."""
    for row in commands(store_or_con, since).itertuples():
        if row.command == "halt":
            gate.halt(row.reason, row.scope, by=row.issued_by)
        elif row.command == "reset":
            gate.reset(row.reason, row.scope, by=row.issued_by)
        else:
            gate.set_enabled(row.scope, row.command == "enable", row.reason, by=row.issued_by)
        since = int(row.seq)
    return since
