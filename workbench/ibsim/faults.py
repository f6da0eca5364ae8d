"""Fault injection: make the simulated gateway misbehave the way real IB sometimes does.

Faults are either immediate (call the method on :class:`Faults`) or scheduled on the simulated
clock from a scenario file::

    # scenario.yaml
    - at: "+30s"                 # relative to simulator start (or an absolute ISO time, UTC)
      action: drop_connection
    - at: "+45s"
      action: connectivity_loss
      seconds: 10
      data_lost: true            # 1101 instead of 1102 on restore
    - at: "+0s"
      action: reject_next_order
      reason: "Simulated rejection"
    - {at: "+0s", action: delay_fills, seconds: 2.5}
    - {at: "+0s", action: duplicate_next_execution}
    - {at: "+0s", action: stall_request, request: historical_data, seconds: 20}   # omit seconds: never answer
    - {at: "+60s", action: reject_next_order, every: "5s", times: 12}   # repeated: a reject burst

``every`` + ``times`` (any action) repeat a fault ``times`` times, ``every`` apart on the simulated clock
(a one-shot like ``reject_next_order`` re-armed: every order in that stretch is rejected).

``from`` says what a relative ``at`` counts from: ``start`` (the simulator's start, the default), ``connect``
(the first API client's connection) or ``first_order`` (the first ``placeOrder`` received). A node's start-up
time varies with the machine, so a fault meant to hit a trading node is best timed from its first order::

    - {from: first_order, at: "+120s", action: drop_connection}   # 120 simulated seconds after it

Scenario files are read with ``yaml.safe_load`` (JSON is valid YAML).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from . import requests as rq

NS = 1_000_000_000

# Request names accepted by ``stall_request`` -> client message id.
REQUEST_IDS = {
    "market_data": rq.REQ_MKT_DATA, "place_order": rq.PLACE_ORDER, "cancel_order": rq.CANCEL_ORDER,
    "open_orders": rq.REQ_OPEN_ORDERS, "executions": rq.REQ_EXECUTIONS, "contract_details": rq.REQ_CONTRACT_DATA,
    "historical_data": rq.REQ_HISTORICAL_DATA, "positions": rq.REQ_POSITIONS,
    "account_summary": rq.REQ_ACCOUNT_SUMMARY, "sec_def_opt_params": rq.REQ_SEC_DEF_OPT_PARAMS,
    "head_timestamp": rq.REQ_HEAD_TIMESTAMP, "historical_ticks": rq.REQ_HISTORICAL_TICKS,
    "completed_orders": rq.REQ_COMPLETED_ORDERS, "tick_by_tick": rq.REQ_TICK_BY_TICK_DATA,
}
ACTIONS = ("drop_connection", "connectivity_loss", "reject_next_order", "delay_fills", "duplicate_next_execution",
           "stall_request")


ANCHORS = ("start", "connect", "first_order")


@dataclass(frozen=True)
class ScheduledFault:
    at_ns: int  # absolute simulated time; for another anchor than "start", the offset from it until it happens
    action: str
    args: dict = field(default_factory=dict)
    anchor: str = "start"


@dataclass
class Faults:
    """Pending one-shot faults and the schedule; the gateway consults it on every request/cycle."""

    schedule: list[ScheduledFault] = field(default_factory=list)
    duplicate_next_execution: bool = False
    stalls: dict[int, float | None] = field(default_factory=dict)  # msg id -> seconds (None = forever)
    waiting: list[ScheduledFault] = field(default_factory=list)  # timed from an anchor that has not happened

    def set_schedule(self, faults: list[ScheduledFault]) -> None:
        """The scenario's faults: those timed from the start now, the others once their anchor happens."""
        self.schedule = sorted((f for f in faults if f.anchor == "start"), key=lambda f: f.at_ns)
        self.waiting = [f for f in faults if f.anchor != "start"]

    def anchor(self, name: str, now_ns: int) -> None:
        """``name`` happened at ``now_ns`` (the first time only: later calls find nothing waiting on it)."""
        if any(f.anchor == name for f in self.waiting):
            fired = [ScheduledFault(now_ns + f.at_ns, f.action, f.args) for f in self.waiting if f.anchor == name]
            self.waiting = [f for f in self.waiting if f.anchor != name]
            self.schedule = sorted([*self.schedule, *fired], key=lambda f: f.at_ns)

    def stall_request(self, request: str, seconds: float | None = None) -> None:
        if request not in REQUEST_IDS:
            raise ValueError(f"stall_request: unknown request {request!r}; known: {', '.join(sorted(REQUEST_IDS))}")
        self.stalls[REQUEST_IDS[request]] = seconds

    def take_stall(self, msg_id: int) -> tuple[bool, float | None]:
        if msg_id in self.stalls:
            return True, self.stalls.pop(msg_id)
        return False, None

    def due(self, now_ns: int) -> list[ScheduledFault]:
        ready = [f for f in self.schedule if f.at_ns <= now_ns]
        self.schedule = [f for f in self.schedule if f.at_ns > now_ns]
        return ready


def _parse_at(value, start_ns: int, where: str) -> int:
    import pandas as pd  # here, not at import: a simulator process starts without pandas (process.py)

    if isinstance(value, (int, float)):
        return start_ns + int(value * NS)
    s = str(value).strip()
    if s.startswith("+"):
        try:
            return start_ns + int(pd.Timedelta(s[1:]).value)
        except ValueError as exc:
            raise ValueError(f"{where}: bad relative time {s!r}: {exc}") from None
    try:
        ts = pd.Timestamp(s if not isinstance(value, datetime) else value)
    except ValueError as exc:
        raise ValueError(f"{where}: bad time {s!r}: {exc}") from None
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)


def _repeat(item: dict, where: str) -> tuple[int, int]:
    """(every_ns, times) of a fault: (0, 1) unless both ``every`` and ``times`` are given."""
    if "every" not in item and "times" not in item:
        return 0, 1
    times, every = item.get("times"), item.get("every")
    if not (isinstance(times, int) and not isinstance(times, bool) and 1 <= times <= 100_000):
        raise ValueError(f"{where}: times must be an integer 1..100000, got {times!r}")
    import pandas as pd

    try:
        every_ns = int(pd.Timedelta(str(every)).value)
    except ValueError:
        every_ns = -1
    if not every_ns > 0:
        raise ValueError(f"{where}: every must be a positive duration such as '5s', got {every!r}")
    return every_ns, times


def load_scenario(path: str | Path, start_ns: int) -> list[ScheduledFault]:
    """Read a scenario file into scheduled faults (validated: unknown actions or args are errors)."""
    p = Path(path)
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    if data is None:
        return []
    if isinstance(data, dict) and "faults" in data:
        data = data["faults"]
    if not isinstance(data, list):
        raise ValueError(f"{p}: a scenario is a list of faults (or a mapping with a 'faults' list)")
    out = []
    for i, item in enumerate(data):
        where = f"{p} fault #{i + 1}"
        if not isinstance(item, dict) or "action" not in item:
            raise ValueError(f"{where}: each fault needs an 'action' (one of {', '.join(ACTIONS)})")
        action = item["action"]
        if action not in ACTIONS:
            raise ValueError(f"{where}: unknown action {action!r}; known: {', '.join(ACTIONS)}")
        args = {k: v for k, v in item.items() if k not in ("at", "action", "every", "times", "from")}
        allowed = {"connectivity_loss": {"seconds", "data_lost"}, "reject_next_order": {"reason"},
                   "delay_fills": {"seconds"}, "stall_request": {"request", "seconds"}}.get(action, set())
        extra = set(args) - allowed
        if extra:
            raise ValueError(f"{where}: unexpected field(s) {sorted(extra)} for {action}")
        if action == "stall_request" and args.get("request") not in REQUEST_IDS:
            raise ValueError(f"{where}: stall_request needs request in {sorted(REQUEST_IDS)}")
        anchor = item.get("from", "start")
        if anchor not in ANCHORS:
            raise ValueError(f"{where}: from must be one of {', '.join(ANCHORS)}, got {anchor!r}")
        if anchor == "start":
            at = _parse_at(item.get("at", 0), start_ns, where)
        else:  # an offset from an event to come: an absolute time makes no sense
            rel = item.get("at", 0)
            if not (isinstance(rel, int | float) and not isinstance(rel, bool) or str(rel).strip().startswith("+")):
                raise ValueError(f"{where}: with from: {anchor}, at must be relative ('+30s'), got {rel!r}")
            at = _parse_at(rel, 0, where)
            if not at >= 0:
                raise ValueError(f"{where}: at must not be negative, got {rel!r}")
        every, times = _repeat(item, where)
        out.extend(ScheduledFault(at + k * every, action, args, anchor) for k in range(times))
    return sorted(out, key=lambda f: f.at_ns)
