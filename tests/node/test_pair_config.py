"""The pair run file (``mode: pair``): validated like the other node run files, its strategy entries the
backtest's byte for byte, and its two legs' settings (client ids, discovery files, HTTP ports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.test_config import ENTRY, STRATS, _strategies_block
from workbench.node import NodeConfigError, load_node_config
from workbench.node.pair import leg_configs

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_pair_file_shares_the_backtest_strategy_entries():
    path = ROOT / "config/node_pair.yaml"
    assert _strategies_block(path) == _strategies_block(ROOT / "config/backtest_demo.yaml")
    cfg = load_node_config(path)
    assert cfg.mode == "pair" and cfg.embedded and list(cfg.strategies) == [ENTRY]
    # configured to fill like the sandbox: the simulator's broker acknowledges and matches on arrival
    assert (cfg.sim_ack_latency_ms, cfg.sim_fill_latency_ms) == (0.0, 0.0)


def test_pair_legs_get_their_own_client_id_discovery_file_and_port(tmp_path):
    p = tmp_path / "pair.yaml"
    p.write_text(f"mode: pair\nclient_id: 21\nhttp_port: 8700\ncontrol_file: {tmp_path / 'c.json'}\n" + STRATS)
    paper, real = leg_configs(load_node_config(p))
    assert (paper.mode, real.mode) == ("paper", "real")
    assert (paper.client_id, real.client_id) == (21, 22)
    assert (paper.http_port, real.http_port) == (8700, 8701)
    assert (paper.control_file, real.control_file) == (str(tmp_path / "c-paper.json"), str(tmp_path / "c-real.json"))
    assert leg_configs(load_node_config(p), http_port=0)[1].http_port == 0  # 0: a free port each


@pytest.mark.parametrize("extra, word", [
    ("port: 4002\n", "embedded simulator only"),
    ("http_port: 65535\n", "two ports"),
    ("sim_fill_latency_ms: .nan\n", "sim_fill_latency_ms"),
    ("sim_ack_latency_ms: -1\n", "sim_ack_latency_ms"),
])
def test_bad_pair_settings_are_one_line_errors_naming_the_field(tmp_path, extra, word):
    p = tmp_path / "pair.yaml"
    p.write_text("mode: pair\n" + extra + STRATS)
    with pytest.raises(NodeConfigError) as err:
        load_node_config(p)
    assert word in err.value.one_line() and str(p) in err.value.one_line()
