"""A running node shares the store and answers on loopback HTTP, tested with separate processes: the
node (`wb node run`), an offline `wb risk halt` written to the same DuckDB file while it runs (no lock
error; the node's poller brings it into the running gate), and an HTTP client for /health, /ready,
/metrics and the token-protected control routes."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.loopback import wait_until
from tests.node.test_node_run import ROOT, WB, fast_run_file, node_env


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _until(pred, timeout_s: float, what: str):
    got = wait_until(pred, timeout_s, 0.1)
    if not got:
        raise AssertionError(f"timed out waiting for {what}")
    return got


def _control(control_file: Path) -> dict | None:
    try:
        return json.loads(control_file.read_text())
    except (OSError, ValueError):
        return None


def test_offline_halt_reaches_the_running_node_and_http_probes_answer(demo_store, tmp_path):
    env = node_env(tmp_path)
    cfg = fast_run_file(tmp_path, "paper")
    node = subprocess.Popen([WB, "--store", str(demo_store), "node", "run", str(cfg), "--duration", "12", "--json",
                             "--http-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env)
    try:
        info = _until(lambda: _control(tmp_path / "control.json"), 60, "the discovery file")
        url, token = info["url"], info["token"]
        assert url.startswith("http://127.0.0.1:")
        assert _get(f"{url}/health") == (200, '{"status": "alive"}')
        status, body = _until(lambda: (r := _get(f"{url}/ready"))[0] == 200 and r, 30, "/ready 200")
        assert json.loads(body) == {"ready": True, "reasons": []}
        _until(lambda: "node_orders_total" in (m := _get(f"{url}/metrics")[1]) and "RK" not in m
               and _metric(m, "node_orders_total") > 0 and m, 20, "an order in /metrics")
        metrics = _get(f"{url}/metrics")[1]
        for family in ("risk_decisions_total", "node_quotes_total", "node_fills_total", "node_reconnects_total",
                       "node_tick_to_submit_seconds_bucket", "node_decisions_total", "node_rejects",
                       "risk_decision_latency_seconds_bucket"):
            assert family in metrics, family
        assert token not in metrics and "DU1234567" not in metrics
        assert _get(f"{url}/v1/state")[0] == 401  # the control routes keep their token
        assert json.loads(_get(f"{url}/v1/state", token)[1])["global"] != "HALT"

        # the documented offline kill switch, on the store the node is using, from another process
        halt = subprocess.run([WB, "--store", str(demo_store), "risk", "halt", "--reason", "test: offline halt"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
        assert halt.returncode == 0, halt.stderr
        state = _until(lambda: (s := json.loads(_get(f"{url}/v1/state", token)[1]))["global"] == "HALT" and s,
                       10, "the running gate to halt")
        assert state["halt_reason"].endswith("test: offline halt")
        out, err = node.communicate(timeout=90)
    finally:
        reap(node)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["halted"] is True and summary["unapproved_orders"] == 0, summary
    assert "Conflicting lock" not in err and not (tmp_path / "control.json").exists()
    events = [json.loads(x) for x in (Path(summary["run_dir"]) / "events.jsonl").read_text().splitlines()]
    assert token not in (Path(summary["run_dir"]) / "events.jsonl").read_text()
    halted_at = next(i for i, e in enumerate(events) if e["kind"] == "decision" and "KILL_SWITCH" in e["reasons"])
    # after the kill switch no new order is approved (cancels/closes may be: they reduce risk)
    assert not [e for e in events[halted_at:] if e["kind"] == "decision" and e["action"] == "NEW"
                and e["verdict"] != "REJECT" and not e["reduce_only"]], events[halted_at:]


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_halt_recorded_while_no_node_ran_is_in_force_at_start(demo_store, tmp_path):
    env = node_env(tmp_path)
    subprocess.run([WB, "--store", str(demo_store), "risk", "halt", "--reason", "test: before start"],
                   check=True, capture_output=True, timeout=60, cwd=ROOT, env=env)
    try:
        proc = subprocess.run([WB, "--store", str(demo_store), "node", "run", str(fast_run_file(tmp_path, "paper")),
                               "--duration", "5", "--json"], capture_output=True, text=True, timeout=90, cwd=ROOT,
                              env=env)
    finally:
        subprocess.run([WB, "--store", str(demo_store), "risk", "reset", "--reason", "test: done"], check=True,
                       capture_output=True, timeout=60, cwd=ROOT, env=env)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["halted"] is True and summary["orders"] == 0, summary
    assert summary["decisions"].get("REJECT", 0) > 0 and "APPROVE" not in summary["decisions"], summary
    assert sys.executable  # the node ran in its own process


def reap(node) -> None:
    """Kill a node subprocess a failed test left running and collect it (no zombie, no open pipes)."""
    if node.poll() is None:
        node.kill()
        node.communicate()
