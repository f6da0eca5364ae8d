"""Crash recovery: what a restarted node believes vs what the broker holds, and the kill -9 campaign.

After ``kill -9`` the node's in-memory cache is gone; the broker (IB, or our simulator) still holds the
orders and the position. On restart nautilus's live reconciliation (``LiveExecEngine``: the IB exec
client's open-order, execution and position reports) rebuilds the cache before the trader starts. Here:

- :func:`claim_external`, :func:`adopt_reconciled` — the restarted node takes over what the killed one left:
  each gated strategy claims its instrument's reconciled orders and position (nautilus ``EXTERNAL`` otherwise,
  which no stop closes) and the gate books the working ones, so the stop cancels and closes them.
- :class:`RecoveryProbe` — a non-trading strategy entry added to a run file: when the trader starts (i.e.
  after reconciliation) and after every order/position event it writes the node's view (net positions,
  open orders by client order id) to a JSON file, atomically, tagged with its pid.
- :func:`broker_view` — the broker's book of record from the simulator's ``--state`` file: positions, working
  orders by client order id (IB ``orderRef`` minus the adapter's ``:orderId`` suffix), and duplicates: client
  order ids or (client, order id) pairs the broker accepted more than once.
- :func:`compare` — node view vs broker view; :func:`crash_campaign` — the kill -9 trials (tests/node/
  test_crash.py runs 3, ``python -m benchmarks node`` 20+).

A client order id is the gate's ``RK-<intent id>``; the intent id hashes the decision (strategy, instrument,
side, quantity, price, exchange-clock time, sequence), so a re-sent intent would reuse the id and show up
as a duplicate ``orderRef`` at the broker.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

ACTIVE = frozenset({"PendingSubmit", "PreSubmitted", "Submitted", "ApiPending", "PendingCancel"})


# ------------------------------------------------------------------------------- adoption after a restart
def claim_external(entries: list[dict]) -> list[dict]:
    """The run file's strategy entries for the node's build, each gated strategy claiming its instrument
    (nautilus ``external_order_claims``): reconciliation then gives the broker's working orders and
    position there to that strategy instead of ``EXTERNAL``, whose orders no stop cancels and whose position
    no stop closes (the residual a restart after ``kill -9`` used to leave). The run file itself is not
    changed (its entries stay byte-identical to the backtest's); an entry that sets its own claims keeps
    them; only the first gated strategy of an instrument claims it (nautilus allows one)."""
    from nautilus_trader.common.config import resolve_path

    from workbench.engine.gated import GatedStrategy

    out, claimed = [], set()
    for e in entries:
        conf = e.get("config") or {}
        iid = conf.get("instrument_id")
        claims = conf.get("external_order_claims")
        if claims is not None:
            claimed.update(str(c) for c in claims)
        elif iid is not None and str(iid) not in claimed and issubclass(resolve_path(e["strategy_path"]), GatedStrategy):
            claimed.add(str(iid))
            e = {**e, "config": {**conf, "external_order_claims": [str(iid)]}}
        out.append(e)
    return out


def adopt_reconciled(supervisor) -> list[str]:
    """At trader start (after reconciliation; the RiskSupervisor starts before the strategies): book into
    the run's gate what the gated strategies hold without a decision of this run, i.e. what they claimed
    from the broker (:func:`claim_external`). Booked, the working orders count in the position and exposure
    checks and their cancels are known orders (not UNKNOWN_ORDER), and the position's reduce-only close
    passes the gate, so the stop cancels and closes them like any other. One line per item booked."""
    from nautilus_trader.model.enums import OrderSide

    from workbench.risk.types import Side

    gate, cache, out = supervisor.gate, supervisor.cache, []
    ts = supervisor.clock.timestamp_ns()
    for sid, strategy in sorted(supervisor.strategies.items()):
        positions = {p.instrument_id: p for p in cache.positions_open(strategy_id=strategy.id)}
        orders = {o.client_order_id.value: o for o in cache.orders_open(strategy_id=strategy.id)}
        orders.update((o.client_order_id.value, o) for o in cache.orders_inflight(strategy_id=strategy.id))
        for coid, o in sorted(orders.items()):
            # no quote has arrived yet at trader start: a market order is valued at the position's price;
            # with none either the price is NaN and the gate refuses to book it (logged, counted), not 0
            p = positions.get(o.instrument_id)
            price = o.price.as_double() if o.has_price else float(p.avg_px_open) if p is not None else float("nan")
            side = Side.BUY if o.side == OrderSide.BUY else Side.SELL
            if gate.adopt_order(coid, sid, o.instrument_id.value, side, o.leaves_qty.as_double(), price, ts):
                out.append(f"order {coid} {side} {o.leaves_qty} {o.instrument_id} @ {price:g}")
        for iid, p in sorted(positions.items(), key=lambda kv: kv[0].value):
            leg = gate.book.legs.get((sid, iid.value))
            diff = float(p.signed_qty) - (leg.pos if leg is not None else 0.0)
            if diff:  # the gate's position becomes the broker's: one fill at the position's average price
                side = Side.BUY if diff > 0 else Side.SELL
                gate.on_fill(f"ADOPTED:{sid}:{iid.value}:{ts}", None, ts, abs(diff), float(p.avg_px_open),
                             strategy_id=sid, instrument_id=iid.value, side=side)
                out.append(f"position {sid} {iid.value} {diff:+g} @ {float(p.avg_px_open):g}")
    return out


class RecoveryProbeConfig(StrategyConfig, frozen=True):
    """instrument_id: the instrument whose position is reported; out: the JSON file written."""

    instrument_id: str
    out: str


class RecoveryProbe(Strategy):
    """Writes the node's own view (position, open orders) after reconciliation and on every change."""

    def __init__(self, config: RecoveryProbeConfig) -> None:
        super().__init__(config)
        self.iid = InstrumentId.from_str(config.instrument_id)
        self.writes = 0

    def on_start(self) -> None:
        # the kernel starts the trader only after execution reconciliation: this is the reconciled view
        self.msgbus.subscribe(topic="events.order.*", handler=self._changed)
        self.msgbus.subscribe(topic="events.position.*", handler=self._changed)
        self._changed(None)

    def _changed(self, _event) -> None:
        orders = sorted((o.client_order_id.value, o.status_string(), o.strategy_id.value)
                        for o in self.cache.orders_open())
        owners = sorted((p.strategy_id.value, float(p.signed_qty)) for p in self.cache.positions_open(instrument_id=self.iid))
        view = {"pid": os.getpid(), "seq": self.writes, "ts": self.clock.timestamp_ns(),
                "position": float(self.portfolio.net_position(self.iid)), "open_orders": orders,
                "positions_by_strategy": owners}
        self.writes += 1
        _atomic_write(Path(self.config.out), json.dumps(view))


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def coid_of(order_ref: str) -> str:
    """The nautilus client order id in an IB ``orderRef`` (the 1.231 adapter sends ``<coid>:<orderId>``)."""
    head, sep, tail = order_ref.rpartition(":")
    return head if sep and tail.isdigit() else order_ref


def broker_view(state_path: str | Path) -> dict:
    """The simulator's account state (its ``--state`` file, written atomically on every change)."""
    doc = json.loads(Path(state_path).read_text(encoding="utf-8"))
    orders = doc["orders"]
    refs = Counter(coid_of(o["order_ref"]) for o in orders if o["order_ref"])
    ids = Counter((o["client_id"], o["order_id"]) for o in orders)
    return {
        "position": float(sum(Decimal(p["qty"]) for p in doc["positions"])),
        "open_orders": sorted(coid_of(o["order_ref"]) for o in orders if o["status"] in ACTIVE),
        "orders": len(orders),
        "duplicate_orders": sum(n - 1 for n in refs.values() if n > 1) + sum(n - 1 for n in ids.values() if n > 1),
    }


def compare(node: dict, broker: dict) -> list[str]:
    """Differences between the node's reconciled view and the broker's (empty = reconciled)."""
    out = []
    if node["position"] != broker["position"]:
        out.append(f"position: node {node['position']} vs broker {broker['position']}")
    mine = sorted(o[0] for o in node["open_orders"])
    if mine != broker["open_orders"]:
        out.append(f"open orders: node {mine} vs broker {broker['open_orders']}")
    return out


# ------------------------------------------------------------------------------------------- the campaign
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(pred, timeout_s: float, step: float = 0.05):
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Campaign:
    """kill -9 trials of a REAL node (``wb node run``) against a simulator running as its own process.

    ``market_store``: the simulator's data; the node gets its own (empty) store in ``work`` (a real gateway
    does not share our store either). ``entry``: the strategy entry (a backtest run file's). Every
    process is started here and always ended here (``close``; also a context manager)."""

    def __init__(self, market_store: str | Path, work: str | Path, entry: dict, *, replay_from: str,
                 speed: float = 60.0, seed: int = 0, kill_after_s: tuple[float, float] = (0.3, 3.0),
                 settle_s: float = 5.0, wb: str | None = None) -> None:
        import random
        import sys

        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.market_store, self.entry, self.replay_from, self.speed = str(market_store), entry, replay_from, speed
        self.rng = random.Random(seed)
        self.kill_after_s, self.settle_s = kill_after_s, settle_s
        self.wb = wb or str(Path(sys.executable).with_name("wb"))
        self.state = self.work / "broker_state.json"
        self.view = self.work / "node_view.json"
        self.control = self.work / "control.json"
        self.sim = None
        self.node = None
        self.trials: list[dict] = []

    # -- processes -------------------------------------------------------------------------------------
    def _spawn(self, args: list[str], log: str, *, read_stdout: bool):
        import subprocess

        env = {**os.environ, "WB_CONTROL_FILE": str(self.control)}
        with open(self.work / log, "ab") as fh:  # a pipe nobody reads would block the writer when full
            return subprocess.Popen([self.wb, *args], stdout=subprocess.PIPE if read_stdout else fh, stderr=fh,
                                    env=env, cwd=Path(__file__).resolve().parents[2])

    def start(self) -> Campaign:
        from workbench.store import Store

        self.port = _free_port()
        self.sim = self._spawn(["--store", self.market_store, "gateway", "sim", "--port", str(self.port),
                                "--replay-from", self.replay_from, "--speed", str(self.speed),
                                "--state", str(self.state)], "sim.log", read_stdout=False)
        if not _wait(lambda: _listening(self.port) or self.sim.poll() is not None, 30) or self.sim.poll() is not None:
            self.close()
            raise RuntimeError(f"simulator did not start: {(self.work / 'sim.log').read_text()[-800:]}")
        self.node_store = self.work / "node.duckdb"
        Store.open(str(self.node_store)).close()
        import yaml

        probe = {"strategy_path": "workbench.node.recovery:RecoveryProbe",
                 "config_path": "workbench.node.recovery:RecoveryProbeConfig",
                 "config": {"instrument_id": self.entry["config"]["instrument_id"], "out": str(self.view)}}
        self.cfg = self.work / "node_real.yaml"
        self.cfg.write_text(yaml.safe_dump({"mode": "real", "port": self.port, "control_file": str(self.control),
                                            "strategies": [self.entry, probe]}, sort_keys=False))
        return self

    def _start_node(self, duration_s: float):
        self.node = self._spawn(["--store", str(self.node_store), "node", "run", str(self.cfg), "--duration",
                                 str(duration_s), "--json"], "node.log", read_stdout=True)
        pid = self.node.pid
        view = _wait(lambda: (v := _read(self.view)) is not None and v["pid"] == pid and v
                     or self.node.poll() is not None, 60)
        if not isinstance(view, dict):
            raise RuntimeError(f"node did not start (rc {self.node.poll()}): "
                               f"{(self.work / 'node.log').read_text()[-1500:]}")
        return view

    def _reconciled(self) -> list[str]:
        """Node vs broker right after a restart's reconciliation; fills in flight may land on either side
        first, so they must agree within ``settle_s``."""
        pid = self.node.pid
        diff: list[str] = []

        def agree():
            nonlocal diff
            v = _read(self.view)
            b = broker_view(self.state) if self.state.exists() else {"position": 0.0, "open_orders": []}
            diff = compare(v, b) if v and v["pid"] == pid else ["no node view"]
            return not diff

        _wait(agree, self.settle_s, 0.1)
        return diff

    def _kill(self) -> None:
        import signal

        self.node.send_signal(signal.SIGKILL)
        self.node.wait(10)
        self.node.stdout.close()
        # Runbook step: the killed node's control discovery file is stale (its pid is gone); remove it.
        doc = _read(self.control)
        if doc is not None and doc.get("pid") == self.node.pid:
            self.control.unlink()
        self.node = None

    def trial(self) -> dict:
        """Start (= restart after the previous kill), check reconciliation, wait for this process's first order
        at the broker, trade a random while more, kill -9."""
        import time

        restart = bool(self.trials)
        before = broker_view(self.state)["orders"] if self.state.exists() else 0
        t0 = time.monotonic()
        view = self._start_node(600.0)
        started = time.monotonic() - t0
        diff = self._reconciled() if restart else []
        # kill while trading: once this process has placed an order (bounded wait), at a random moment
        traded = bool(_wait(lambda: self.state.exists() and broker_view(self.state)["orders"] > before, 15.0, 0.1))
        alive = self.rng.uniform(*self.kill_after_s)
        time.sleep(alive)
        self._kill()
        rec = {"trial": len(self.trials), "restart_diff": diff, "start_s": round(started, 3), "traded": traded,
               "killed_after_s": round(alive, 3),
               "position_at_start": view["position"], "broker": broker_view(self.state) if self.state.exists()
               else None}
        self.trials.append(rec)
        return rec

    def finish(self, duration_s: float = 8.0) -> dict:
        """A last restart that runs to its end: reconciled after the last kill, then a clean stop; the
        node's final position must be the broker's and no order may be left working at the broker."""
        self._start_node(duration_s)
        diff = self._reconciled()
        out, _ = self.node.communicate(timeout=duration_s + 90)
        rc = self.node.returncode
        self.node = None
        summary = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
        broker = broker_view(self.state)
        end = sum((summary.get("position_end") or {}).values())
        return {"restart_diff": diff, "rc": rc, "summary": summary, "broker": broker,
                "end_position_matches": end == broker["position"], "orphan_orders": broker["open_orders"]}

    def close(self) -> None:
        for p in (self.node, self.sim):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except Exception:  # noqa: BLE001 - a process that ignores SIGTERM is killed
                    p.kill()
                    p.wait(10)
            if p is not None and p.stdout is not None:
                p.stdout.close()
        self.node = self.sim = None

    def __enter__(self) -> Campaign:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def crash_campaign(market_store, work, entry: dict, trials: int, final_s: float = 8.0, **kw) -> dict:
    """Run ``trials`` kill -9 trials then a final clean run; returns the counts the benchmark reports."""
    with Campaign(market_store, work, entry, **kw) as c:
        for _ in range(trials):
            c.trial()
        final = c.finish(final_s)
    restarts = [t["restart_diff"] for t in c.trials[1:]] + [final["restart_diff"]]
    return {
        "trials": len(c.trials),
        "duplicate_orders": final["broker"]["duplicate_orders"],
        "position_mismatches": sum(any(d.startswith("position") for d in diff) for diff in restarts)
        + (0 if final["end_position_matches"] else 1),
        "open_order_mismatches": sum(any(d.startswith("open orders") for d in diff) for diff in restarts),
        "orphan_orders_at_stop": len(final["orphan_orders"]),
        "broker_orders": final["broker"]["orders"],
        "final_rc": final["rc"], "final_errors": final["summary"].get("errors"),
        "restart_diffs": [d for d in restarts if d],
        "start_s": [t["start_s"] for t in c.trials],
        "trials_killed_while_trading": sum(t["traded"] for t in c.trials),
    }
