from pathlib import Path

import pytest

from workbench.risk.config import ConfigError, config_from_dict, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_is_valid_and_layered(rk):
    SPY, QQQ, base_config = rk.SPY, rk.QQQ, rk.base_config
    cfg = load_config(REPO / "config" / "risk.yaml")
    assert cfg.spec.stormguard.halt_pct == -1.5
    assert [r.name for r in cfg.spec.policy.regimes] == ["OPEN", "EARLY", "MID", "LATE", "CLOSE"]
    # defaults -> strategy -> instrument layering
    over = config_from_dict(
        base_config(
            strategies={"LT-001": {"bucket": "LT", "limits": {"max_order_qty": 500}}},
            instruments={SPY: {"limits": {"max_order_qty": 200, "price_band_bps": 10}}},
        )
    )
    assert over.limits("LT-001", SPY)[0] == 200 and over.limits("LT-001", SPY)[4] == 10
    assert over.limits("LT-001", QQQ)[0] == 500
    assert over.limits("XX-009", QQQ)[0] == 1000


def test_unknown_field_is_named_with_its_path(rk):
    base_config = rk.base_config
    with pytest.raises(ConfigError) as exc:
        config_from_dict(base_config(strategies={"LT-001": {"bucket": "LT", "limits": {"max_order_qyt": 1}}}))
    assert "max_order_qyt" in str(exc.value) and "$.strategies.LT-001.limits" in str(exc.value)


def test_wrong_type_is_a_schema_error(rk):
    base_config = rk.base_config
    with pytest.raises(ConfigError, match="schema"):
        config_from_dict(base_config(equity="a lot"))


@pytest.mark.parametrize(
    "over, needle",
    [
        ({"stormguard": {"warm_pct": -2.0}}, "warm_pct > storm_pct"),
        ({"stormguard": {"multipliers": {"NORMAL": 1, "WARM": 0.2, "STORM": 0.5}}}, "non-increasing"),
        ({"exposure": {"buckets": {"LT": {"target_pct": 95, "max_pct": 90}}}}, "target_pct <= max_pct"),
        ({"strategies": {"A-001": {"bucket": "NOPE"}}}, "not in exposure.buckets"),
        ({"strategies": {"A-001": {"guaranteed_pct": 10}}}, "only critical strategies"),
        (
            {
                "strategies": {
                    "A-001": {"critical": True, "guaranteed_pct": 60},
                    "B-002": {"critical": True, "guaranteed_pct": 60},
                }
            },
            "sums to 120",
        ),
        (
            {
                "policy": {
                    "regimes": [{"name": "X", "start": "noon", "tolerance_pct": 100, "allow_derisk": True}],
                    "outside_session": "X",
                }
            },
            "expected open+Nm",
        ),
        (
            {
                "policy": {
                    "regimes": [
                        {"name": "X", "start": "open+0m", "tolerance_pct": 140, "allow_derisk": True}
                    ],
                    "outside_session": "X",
                }
            },
            "above hard_cap_pct",
        ),
        ({"validators": ["order_size", "psychic"]}, "unknown validator"),
    ],
)
def test_semantic_errors_are_reported(rk, over, needle):
    base_config = rk.base_config
    with pytest.raises(ConfigError) as exc:
        config_from_dict(base_config(**over))
    assert any(needle in e for e in exc.value.errors), exc.value.errors


def test_yaml_must_be_a_mapping_and_safe():
    with pytest.raises(ConfigError, match="root"):
        parse_config("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="yaml"):
        parse_config("equity: !!python/object/apply:os.system ['true']\n")


def test_content_hash_ignores_formatting_but_not_meaning(rk):
    base_config = rk.base_config
    a = config_from_dict(base_config())
    text = a.text.replace("\n", "\n\n")  # reformatted, same content
    assert parse_config(text).content_hash == a.content_hash
    assert config_from_dict(base_config(equity=2_000_000)).content_hash != a.content_hash
