"""Versioned hot config: validation, atomic apply, rollback, watcher, audit of refusals."""

import time

import yaml

from workbench.risk.config import config_from_dict
from workbench.risk.gate import RiskGate
from workbench.risk.hotconfig import ConfigRegistry, ConfigWatcher


def _text(rk, **over):
    return yaml.safe_dump(rk.base_config(**over))


def test_apply_version_noop_rollback_history_diff(rk, store):
    gate = RiskGate(config_from_dict(rk.base_config()))
    reg = ConfigRegistry(store, gate)
    r1 = reg.apply_text(_text(rk), by="alice", reason="start")
    assert r1.ok and r1.changed and r1.version == 1 and gate.config.version == 1
    assert not reg.apply_text(_text(rk), by="alice", reason="same").changed
    wide = rk.base_config()
    wide["defaults"]["price_band_bps"] = 80
    r2 = reg.apply_text(yaml.safe_dump(wide), by="bob", reason="wider band")
    assert r2.version == 2 and gate.config.limits("MM-002", rk.SPY)[4] == 80
    assert "price_band_bps: 80" in reg.diff(1, 2) and "-  price_band_bps: 50" in reg.diff(1, 2)
    r3 = reg.rollback(1, by="alice", reason="too wide")
    assert (
        r3.version == 3
        and r3.content_hash == r1.content_hash
        and gate.config.limits("MM-002", rk.SPY)[4] == 50
    )
    h = reg.history()
    assert list(h["version"]) == [1, 2, 3] and list(h["source"]) == ["api", "api", "rollback:v1"]
    assert list(h["applied_by"]) == ["alice", "bob", "alice"]
    assert reg.active().version == 3
    events = [e for e in gate.events if e.kind == "CONFIG"]
    assert [e.new for e in events] == ["v1", "v2", "v3"]


def test_invalid_config_is_never_applied_and_the_refusal_is_audited(rk, store):
    gate = RiskGate(config_from_dict(rk.base_config()))
    reg = ConfigRegistry(store, gate)
    reg.apply_text(_text(rk), by="alice", reason="start")
    bad = reg.apply_text(_text(rk, stormguard={"halt_pct": 1.0}), by="mallory", reason="yolo")
    assert not bad.ok and "halt_pct" in bad.errors[0] and "REJECTED" in bad.summary()
    assert gate.config.version == 1 and len(reg.history()) == 1
    row = store.con.execute("SELECT reason, detail FROM risk_events WHERE kind='CONFIG_REJECTED'").fetchone()
    assert "mallory" in row[0] and "halt_pct" in row[1]
    assert not reg.apply_text(_text(rk), by="", reason="anonymous").ok


def test_decision_sees_one_config_even_when_swapped_inside_its_evaluation(rk):
    """A swap requested while a decision runs is linearized before or after it: the decision's values
    all come from the version it records."""
    g = rk.make_gate()
    v2 = config_from_dict(
        rk.base_config(
            defaults={
                "max_order_qty": 7,
                "max_order_notional": 700,
                "max_instrument_notional": 700,
                "max_position_qty": 7,
                "price_band_bps": 7,
            }
        )
    ).with_version(2)
    original = g._chain
    import threading

    def swapping_chain(*args):
        t = threading.Thread(target=g.swap_config, args=(v2,))
        t.start()
        t.join(0.05)  # blocked on the gate's lock: it cannot land mid-decision
        return original(*args)

    g._chain = swapping_chain
    d = g.evaluate(rk.intent(seq=1))
    assert d.config_version == 0 and d.values["max_order_qty"] == 1000 and d.values["band_limit_bps"] == 50
    time.sleep(0.1)
    d2 = g.evaluate(rk.intent(seq=2, qty=5))
    assert d2.config_version == 2 and d2.values["max_order_qty"] == 7 and d2.values["band_limit_bps"] == 7


def test_watcher_applies_file_changes_and_reports_bad_ones(rk, store, tmp_path):
    path = tmp_path / "risk.yaml"
    path.write_text(_text(rk))
    gate = RiskGate(config_from_dict(rk.base_config()))
    w = ConfigWatcher(ConfigRegistry(store, gate), path, interval_s=0.05)
    assert w.poll_once().version == 1 and w.poll_once() is None
    path.write_text(_text(rk, equity=2_000_000))
    assert w.poll_once().version == 2 and gate.config.spec.equity == 2_000_000
    path.write_text("equity: [not, a, number]\n")
    res = w.poll_once()
    assert not res.ok and gate.config.version == 2
    path.write_text(_text(rk, equity=3_000_000))
    w.start()
    deadline = time.monotonic() + 5
    while gate.config.spec.equity != 3_000_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    w.stop()
    assert gate.config.version == 3
