"""`wb node run` end to end: a real nautilus TradingNode with the real IB data client (and IB exec
client in REAL, nautilus sandbox in PAPER) against the embedded simulator over loopback, replaying a
seeded demo market from a DuckDB store. Each run is its own process (nautilus global state)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.store import Store

ROOT = Path(__file__).resolve().parents[2]
WB = str(Path(sys.executable).with_name("wb"))
FIELDS = {"run_id", "mode", "duration_s", "quotes", "intents", "orders", "fills", "unapproved_orders",
          "position_end", "residual_positions", "errors", "run_dir", "tick_to_submit_ms", "reconnects"}


def node_env(tmp_path: Path) -> dict:
    """The node's discovery file in the test's folder, never the user's ~/.workbench/control.json."""
    return {**os.environ, "WB_CONTROL_FILE": str(tmp_path / "control.json")}


def fast_run_file(tmp_path: Path, mode: str) -> Path:
    cfg = tmp_path / f"node_{mode}.yaml"
    # The shipped run file, replayed faster so a short run sees signals and fills.
    cfg.write_text((ROOT / f"config/node_{mode}.yaml").read_text().replace("speed: 10.0", "speed: 120.0"))
    return cfg


@pytest.mark.parametrize("mode", ["paper", "real"])
def test_node_run_trades_quote_reversion_on_the_embedded_simulator(demo_store, tmp_path, mode):
    cfg = fast_run_file(tmp_path, mode)
    proc = subprocess.run([WB, "--store", str(demo_store), "node", "run", str(cfg), "--duration", "8", "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=node_env(tmp_path))
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert FIELDS <= set(summary), proc.stderr[-2000:]
    assert summary["mode"] == mode, summary
    assert summary["quotes"] > 0 and summary["orders"] > 0 and summary["fills"] > 0
    assert summary["unapproved_orders"] == 0 and summary["tick_to_submit_ms"]["n"] > 0
    # Stop ends flat: working orders cancelled, the position closed. PAPER used to end short 200-400 in 3 of
    # 4 runs (a partly filled close the sandbox had dropped, re-cancelled forever); see docs/node.md.
    assert summary["errors"] == [] and summary["residual_positions"] == {}, summary
    assert all(v == 0 for v in summary["position_end"].values()) and proc.returncode == 0
    _check_run_folder(Path(summary["run_dir"]), summary, demo_store)


def _check_run_folder(run: Path, summary: dict, store_path: Path) -> None:
    """config + summary + JSON-lines events; deterministic client order ids; no account id or token; the
    journal merged into the store under the run id."""
    assert {"config.yaml", "summary.json", "events.jsonl", "journal.duckdb"} <= {p.name for p in run.iterdir()}
    assert json.loads((run / "summary.json").read_text())["run_id"] == summary["run_id"]
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    kinds = {e["kind"] for e in events}
    assert {"start", "readiness", "order", "decision", "summary"} <= kinds
    ready = [e for e in events if e["kind"] == "readiness"]  # /ready's answers as they changed
    assert not ready[0]["ready"] and "clients not connected" in ready[0]["reasons"]
    assert any(e["ready"] and e["reasons"] == [] for e in ready[1:])
    approved = {e["client_order_id"]: e["intent_id"] for e in events
                if e["kind"] == "decision" and e["action"] == "NEW" and e["verdict"] != "REJECT"}
    created = [e["client_order_id"] for e in events if e["kind"] == "order" and e["event"] == "OrderInitialized"]
    assert created and all(c == f"RK-{approved[c]}" for c in created)  # RK-<intent_id>, each gate-approved
    token = json.loads((run / "events.jsonl").read_text().splitlines()[0]).get("token")
    assert token is None
    for name in ("config.yaml", "summary.json", "events.jsonl"):
        assert "DU1234567" not in (run / name).read_text()  # the account id of the shipped run files
    with Store.open(str(store_path), read_only=True) as store:
        n = store.con.execute("SELECT count(*) FROM risk_decisions WHERE run_id = ?", [summary["run_id"]]).fetchall()[0]
    assert n[0] == sum(summary["decisions"].values()) > 0


def test_node_run_refuses_a_live_money_port_without_allow_live(tmp_path):
    cfg = tmp_path / "live.yaml"
    cfg.write_text((ROOT / "config/node_real.yaml").read_text() + "port: 4001\n")
    proc = subprocess.run([WB, "node", "run", str(cfg), "--duration", "1"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 2 and "live-money" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
