"""The kill -9 crash campaign: a test and benchmark harness, not product code (moved out of
``workbench.node.recovery``, which keeps what a restarted node and an operator use: ``claim_external``,
``adopt_reconciled``, the ``RecoveryProbe`` strategy a run file names, ``broker_view``).

- :func:`compare` — the node's view (``RecoveryProbe``'s JSON file) vs the broker's (``broker_view``);
- :class:`Campaign` — kill -9 trials of a REAL ``wb node run`` against ``wb gateway sim --state`` running
  as its own process; :func:`crash_campaign` — the trials plus a final clean run, as counts
  (tests/node/test_crash.py runs 3, ``python -m benchmarks node`` 20+).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmarks.loopback import free_port, listening, wait_until
from workbench.node.recovery import broker_view

ROOT = Path(__file__).resolve().parents[1]  # the node and the simulator run from the repo root


def compare(node: dict, broker: dict) -> list[str]:
    """Differences between the node's reconciled view and the broker's (empty = reconciled)."""
    out = []
    if node["position"] != broker["position"]:
        out.append(f"position: node {node['position']} vs broker {broker['position']}")
    mine = sorted(o[0] for o in node["open_orders"])
    if mine != broker["open_orders"]:
        out.append(f"open orders: node {mine} vs broker {broker['open_orders']}")
    return out


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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
                                    env=env, cwd=ROOT)

    def start(self) -> Campaign:
        from workbench.store import Store

        self.port = free_port()
        self.sim = self._spawn(["--store", self.market_store, "gateway", "sim", "--port", str(self.port),
                                "--replay-from", self.replay_from, "--speed", str(self.speed),
                                "--state", str(self.state)], "sim.log", read_stdout=False)
        if not wait_until(lambda: listening(self.port) or self.sim.poll() is not None, 30) or self.sim.poll() is not None:
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
        view = wait_until(lambda: (v := _read(self.view)) is not None and v["pid"] == pid and v
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

        wait_until(agree, self.settle_s, 0.1)
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
        traded = bool(wait_until(lambda: self.state.exists() and broker_view(self.state)["orders"] > before, 15.0, 0.1))
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
