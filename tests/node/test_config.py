"""Node run files: validation at load, the live-money guard, export, and strategy entries shared
byte for byte with the backtest run file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from workbench.errors import WorkbenchError
from workbench.node import export_node_config, load_node_config
from workbench.node.instruments import provider_config

ROOT = Path(__file__).resolve().parents[2]
ENTRY = yaml.safe_load((ROOT / "config/backtest_demo.yaml").read_text())["strategies"][0]


def _strategies_block(path: Path) -> str:
    return re.search(r"^strategies:\n(?:[ -].*\n)+", path.read_text(), re.M).group(0)


@pytest.mark.parametrize("mode", ["paper", "real"])
def test_shipped_run_files_share_the_backtest_strategy_entries(mode):
    path = ROOT / f"config/node_{mode}.yaml"
    assert _strategies_block(path) == _strategies_block(ROOT / "config/backtest_demo.yaml")
    cfg = load_node_config(path)
    assert cfg.mode == mode and cfg.embedded and list(cfg.strategies) == [ENTRY]


def _write(tmp_path, text):
    p = tmp_path / "node.yaml"
    p.write_text(text)
    return p


STRATS = "strategies:\n  - {strategy_path: a:B, config_path: a:C, config: {instrument_id: DEMO.XNAS}}\n"


@pytest.mark.parametrize("extra, needle", [
    ("mode: paper\nbogus: 1\n", "bogus"),
    ("mode: paper\nspeed: .nan\n", "speed"),
    ("mode: paper\nspeed: .inf\n", "speed"),
    ("mode: paper\nstarting_balance: -5\n", "starting_balance"),
    ("mode: live\n", "mode"),
    ("mode: real\nport: 4001\n", "live-money"),
    ("mode: real\nport: 7496\n", "live-money"),
    ("mode: paper\nhttp_port: 70000\n", "http_port"),
    ("mode: paper\nrisk: 3\n", "risk"),
])
def test_bad_run_files_fail_with_one_line_naming_file_and_field(tmp_path, extra, needle):
    p = _write(tmp_path, extra + STRATS)
    with pytest.raises(WorkbenchError) as info:
        load_node_config(p)
    line = info.value.one_line()
    assert "\n" not in line and str(p) in line and needle in line


def test_live_money_port_needs_allow_live(tmp_path):
    cfg = load_node_config(_write(tmp_path, "mode: real\nport: 4001\nallow_live: true\n" + STRATS))
    assert cfg.port == 4001 and not cfg.embedded
    assert load_node_config(_write(tmp_path, "mode: real\nport: 4002\n" + STRATS)).port == 4002


def test_export_node_config_round_trips_and_never_overwrites(tmp_path):
    out = export_node_config(ENTRY, "paper", tmp_path / "n.yaml")
    assert list(load_node_config(out).strategies) == [ENTRY]
    with pytest.raises(FileExistsError):
        export_node_config(ENTRY, "real", out)
    with pytest.raises(WorkbenchError):
        export_node_config(ENTRY, "bogus", tmp_path / "m.yaml")
    assert not (tmp_path / "m.yaml").exists()


def test_store_ids_map_to_ib_contracts_and_back():
    """The provider nautilus builds from our config gives every contract its store id back, even
    when one symbol is a prefix of another (the adapter matches ``symbol_to_mic_venue`` by prefix)."""
    from nautilus_trader.adapters.interactive_brokers.providers import InteractiveBrokersInstrumentProvider
    from nautilus_trader.common.component import LiveClock

    ids = ["SPY.XNAS", "SPYG.ARCX", "DEMO.XNAS", "IBM.XNYS"]
    p = provider_config(ids)
    by_symbol = {c.symbol: c for c in p.load_contracts}
    assert by_symbol["SPY"].primaryExchange == "NASDAQ" and by_symbol["IBM"].primaryExchange == "NYSE"
    assert by_symbol["SPYG"].primaryExchange == "ARCA"
    prov = InteractiveBrokersInstrumentProvider(client=None, clock=LiveClock(), config=p)
    for iid in ids:
        symbol, _, mic = iid.partition(".")
        assert prov.determine_venue_from_contract(by_symbol[symbol]) == mic
    with pytest.raises(WorkbenchError):
        provider_config(["SPY.NOPE"])
