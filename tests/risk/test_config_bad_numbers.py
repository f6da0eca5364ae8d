"""Bad numbers in the risk config are refused at load/parse/hot apply, naming the field path: NaN fails
every ``x > limit`` check in the compiled chain, so a NaN limit would otherwise approve."""

import logging

import pytest
import yaml

from workbench.risk.config import ConfigError, config_from_dict, parse_config
from workbench.risk.hotconfig import ConfigRegistry


def _with(rk, path: str, value):
    cfg = rk.base_config()
    node = cfg
    keys = path.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
    return cfg


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), -5, 0])
@pytest.mark.parametrize(
    "path",
    [
        "defaults.price_band_bps",
        "defaults.max_order_qty",
        "defaults.max_position_qty",
        "equity",
        "exposure.hard_cap_pct",
        "strategies.MM-002.limits.max_order_qty",
        "strategies.MM-002.capital",
        "instruments.SPY.XNAS.limits.price_band_bps",
        "rate.window_s",
        "max_intent_lag_ms",
        "budget.total_pct",
    ],
)
def test_non_positive_or_non_finite_limit_is_refused_naming_the_field(rk, path, value):
    if path.startswith("instruments.SPY.XNAS"):
        cfg = rk.base_config()
        cfg["instruments"][rk.SPY] = {"limits": {"price_band_bps": value}}
        want = f"instruments.{rk.SPY}.limits.price_band_bps"
    else:
        cfg, want = _with(rk, path, value), path
    with pytest.raises(ConfigError) as exc:
        config_from_dict(cfg)
    assert want in str(exc.value)


def test_yaml_nan_price_band_is_refused(rk):
    text = yaml.safe_dump(rk.base_config()).replace("price_band_bps: 50", "price_band_bps: .nan")
    assert ".nan" in text
    with pytest.raises(ConfigError, match="defaults.price_band_bps"):
        parse_config(text)


@pytest.mark.parametrize(
    "path",
    [
        "stormguard.warm_pct",
        "stormguard.multipliers.WARM",
        "exposure.buckets.LT.max_pct",
        "exposure.group_max_pct.tech",
        "stormguard.bad_tick.confirm_window_ms",
    ],
)
def test_nan_anywhere_is_refused(rk, path):
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        config_from_dict(_with(rk, path, float("nan")))


def test_empty_validators_needs_explicit_opt_in(rk, caplog):
    with pytest.raises(ConfigError, match="allow_no_validators"):
        config_from_dict(rk.base_config(validators=[]))
    with caplog.at_level(logging.WARNING, logger="workbench.risk.config"):
        cfg = config_from_dict(rk.base_config(validators=[], allow_no_validators=True))
    assert cfg.validators == ()
    assert any("NO validators" in r.getMessage() for r in caplog.records)


def test_hot_apply_refuses_nan_limit_and_keeps_the_old_config(rk, store):
    gate = rk.make_gate()
    reg = ConfigRegistry(store, gate)
    assert reg.apply_text(yaml.safe_dump(rk.base_config()), by="t", reason="init").ok
    before = gate.config.content_hash
    bad = yaml.safe_dump(_with(rk, "defaults.max_order_qty", float("nan")))
    res = reg.apply_text(bad, by="t", reason="nan")
    assert not res.ok and any("defaults.max_order_qty" in e for e in res.errors)
    assert gate.config.content_hash == before


def test_nan_defaults_no_longer_approve_oversized_order(rk):
    """Before: NaN default limits approved 5,000 shares (normally clipped to the 1,500 position limit)."""
    cfg = rk.base_config()
    cfg["defaults"] = {k: float("nan") for k in cfg["defaults"]}
    with pytest.raises(ConfigError, match="defaults.max_order_qty"):
        config_from_dict(cfg)
