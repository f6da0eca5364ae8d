"""The running node's control endpoint: real HTTP on 127.0.0.1 with a token, driven by the `wb` CLI."""

from __future__ import annotations

import json
import stat
import urllib.request
from pathlib import Path

import pytest
import yaml

from workbench.cli.main import main
from workbench.ops.control import ControlError, ControlServer, request
from workbench.risk.control import control_state, sync_controls
from workbench.store import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def node(tmp_path, rk):
    store = Store.open(str(tmp_path / "node.duckdb"))
    gate = rk.make_gate()
    server = ControlServer(gate, store, control_file=tmp_path / "control.json").start()
    yield server
    server.stop()
    store.close()


def _cli(node, *args) -> int:
    return main(["--store", str(Path(node.control_file).parent / "offline.duckdb"), *args, "--node",
                 "--control-file", str(node.control_file)])


def test_endpoint_binds_loopback_and_requires_the_token(node, tmp_path):
    assert node.url.startswith("http://127.0.0.1:")
    assert node.token not in repr(node)
    info = json.loads(node.control_file.read_text())
    assert info["url"] == node.url and stat.S_IMODE(node.control_file.stat().st_mode) == 0o600
    with pytest.raises(ControlError) as e:
        request("GET", "/v1/state", url=node.url, token="wrong")
    assert e.value.status == 401
    raw = urllib.request.Request(f"{node.url}/v1/state")  # no Authorization header at all
    with pytest.raises(urllib.error.HTTPError) as e2:
        urllib.request.urlopen(raw, timeout=5)
    assert e2.value.code == 401
    with pytest.raises(ControlError) as e3:
        request("POST", "/v1/halt", {"scope": "GLOBAL"}, control_file=node.control_file)
    assert e3.value.status == 400 and "reason" in e3.value.message
    with pytest.raises(ControlError) as e4:
        request("GET", "/v1/nothing", control_file=node.control_file)
    assert e4.value.status == 404
    with pytest.raises(ValueError, match="loopback"):
        ControlServer(node.gate, node.store, host="0.0.0.0", control_file=tmp_path / "x.json")


def test_cli_commands_act_on_the_running_gate_once(node, rk, capsys):
    gate = node.gate
    assert _cli(node, "risk", "halt", "--reason", "feed gap", "--by", "ops") == 0
    assert gate.global_guard.state.name == "HALT"
    assert gate.evaluate(rk.intent(strategy="LT-001")).reasons[0] == "KILL_SWITCH"
    assert "applied by the node as command #1" in capsys.readouterr().out
    # the audit row is in the node's store, and the node's poller does not apply it a second time
    assert control_state(node.store)["halted"] == {"GLOBAL": "feed gap"}
    assert node.channel.sync() == 1 and sync_controls(gate, node.store, node.channel.applied) == 1

    assert _cli(node, "strategy", "disable", "MM-002", "--reason", "review", "--by", "ops") == 0
    assert not gate.is_enabled("MM-002") and gate.is_enabled("LT-001")
    capsys.readouterr()
    assert _cli(node, "risk", "state") == 0
    out = capsys.readouterr().out
    assert "ENGAGED (ops: feed gap)" in out and "disabled strategies: MM-002" in out

    assert _cli(node, "risk", "reset", "--reason", "feed back", "--by", "ops") == 0
    assert _cli(node, "strategy", "enable", "MM-002", "--reason", "ok", "--by", "ops") == 0
    assert gate.global_guard.state.name == "NORMAL" and gate.is_enabled("MM-002")
    d = gate.evaluate(rk.intent(strategy="MM-002", seq=2))
    assert d.approved
    capsys.readouterr()
    assert _cli(node, "orders", "dump") == 0
    assert d.intent.client_order_id in capsys.readouterr().out


def test_config_apply_and_rollback_through_the_node(node, tmp_path, capsys):
    gate = node.gate
    v0 = gate.config.version
    cfg = yaml.safe_load((REPO / "config" / "risk.yaml").read_text())
    path = tmp_path / "risk.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert _cli(node, "risk", "config", "apply", str(path), "--reason", "init", "--by", "ops") == 0
    v1 = gate.config.version
    assert v1 != v0 and "applied" in capsys.readouterr().out
    cfg["defaults"]["price_band_bps"] = 35
    path.write_text(yaml.safe_dump(cfg))
    assert _cli(node, "risk", "config", "apply", str(path), "--reason", "tighter", "--by", "ops") == 0
    assert gate.config.spec.defaults.price_band_bps == 35
    cfg["stormguard"]["halt_pct"] = 2  # invalid: never applied, the node says why
    path.write_text(yaml.safe_dump(cfg))
    before = gate.config.version
    assert _cli(node, "risk", "config", "apply", str(path), "--reason", "bad", "--by", "ops") == 1
    assert gate.config.version == before and "REJECTED" in capsys.readouterr().out
    assert _cli(node, "risk", "config", "rollback", str(v1), "--reason", "undo", "--by", "ops") == 0
    assert gate.config.spec.defaults.price_band_bps != 35


def test_cli_without_a_node_says_so(tmp_path, capsys):
    rc = main(["--store", str(tmp_path / "x.duckdb"), "risk", "state", "--node", "--control-file",
               str(tmp_path / "none.json")])
    assert rc == 1 and "no running node" in capsys.readouterr().err
