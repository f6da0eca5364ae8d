"""Risk configuration: schema, semantic checks, and the immutable compiled form the gate reads.

The YAML is parsed with ``yaml.safe_load`` and converted into frozen ``msgspec`` structs that forbid
unknown fields, so a typo such as ``max_order_qyt`` is an error naming its path, never a silently
ignored limit. Semantic checks then catch well-typed nonsense (WARM threshold below STORM, a bucket
target above its max, guaranteed budgets summing past the total). Only a config that passes both is
compiled into a :class:`CompiledConfig`; the gate swaps that whole object by reference, which is why a
decision always sees one version, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from decimal import Decimal
from pathlib import Path

import msgspec
import yaml

from workbench.errors import WorkbenchError
from workbench.numbers import is_non_negative, is_positive
from workbench.risk.outcome import layout_id
from workbench.risk.validators import DEFAULT_ORDER, VALIDATORS, chain_code

_log = logging.getLogger(__name__)


class ConfigError(WorkbenchError, ValueError):
    """An invalid risk configuration; ``errors`` lists every problem with its field path."""

    def __init__(self, errors: list[str]):
        super().__init__("invalid risk config: " + "; ".join(errors))  # each error names its field path
        self.errors = errors


class _S(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class RateSpec(_S, kw_only=True):
    window_s: float = 10.0
    soft_cap: int = 150
    warn_frac: float = 0.8


class Limits(_S, kw_only=True):
    """Per-strategy limits; an instrument entry may override any of them (``None`` = inherit)."""

    max_order_qty: float | None = None
    max_order_notional: float | None = None
    max_instrument_notional: float | None = None
    max_position_qty: float | None = None
    price_band_bps: float | None = None


class StrategySpec(_S, kw_only=True):
    bucket: str = "LT"
    priority: int = 0
    critical: bool = False
    enabled: bool = True
    capital: float | None = None
    quota_pct: float = 100.0
    guaranteed_pct: float = 0.0
    limits: Limits = Limits()
    rate: RateSpec | None = None


class InstrumentSpec(_S, kw_only=True):
    multiplier: float = 1.0
    tick: float = 0.01
    lot: float = 1.0
    group: str = ""
    limits: Limits = Limits()


class BadTickSpec(_S, kw_only=True):
    max_jump_bps: float = 300.0
    confirm_ticks: int = 3
    confirm_window_ms: float = 2000.0


class StormSpec(_S, kw_only=True):
    warm_pct: float = -0.5
    storm_pct: float = -1.0
    halt_pct: float = -1.5
    recover_hysteresis_pct: float = 0.1
    multipliers: dict[str, float] = msgspec.field(
        default_factory=lambda: {"NORMAL": 1.0, "WARM": 0.5, "STORM": 0.25}
    )
    reduce_only_states: list[str] = []
    bad_tick: BadTickSpec = BadTickSpec()


class BucketSpec(_S, kw_only=True):
    target_pct: float
    max_pct: float


class ExposureSpec(_S, kw_only=True):
    hard_cap_pct: float = 130.0
    buckets: dict[str, BucketSpec] = msgspec.field(
        default_factory=lambda: {
            "LT": BucketSpec(target_pct=80, max_pct=90),
            "MM_PURE": BucketSpec(target_pct=20, max_pct=30),
        }
    )
    group_max_pct: dict[str, float] = {}


class RegimeSpec(_S, kw_only=True):
    name: str
    start: str  # "open+15m" or "close-15m": relative to the exchange session, so half days move it
    tolerance_pct: float
    allow_derisk: bool
    hard: bool = False


class PolicySpec(_S, kw_only=True):
    calendar: str = "XNYS"
    regimes: list[RegimeSpec] = msgspec.field(
        default_factory=lambda: [
            RegimeSpec(name="OPEN", start="open+0m", tolerance_pct=125, allow_derisk=False),
            RegimeSpec(name="EARLY", start="open+15m", tolerance_pct=125, allow_derisk=False),
            RegimeSpec(name="MID", start="open+60m", tolerance_pct=120, allow_derisk=True),
            RegimeSpec(name="LATE", start="close-15m", tolerance_pct=115, allow_derisk=True),
            RegimeSpec(name="CLOSE", start="close-2m", tolerance_pct=100, allow_derisk=True, hard=True),
        ]
    )
    outside_session: str = "CLOSE"
    soft_offset_ticks: int = 1
    hard_chunk_pct: float = 10.0


class BudgetSpec(_S, kw_only=True):
    total_pct: float = 130.0


class RiskConfigSpec(_S, kw_only=True):
    equity: float
    max_intent_lag_ms: float = 1000.0
    defaults: Limits = Limits(
        max_order_qty=1000,
        max_order_notional=250_000,
        max_instrument_notional=500_000,
        max_position_qty=5000,
        price_band_bps=50,
    )
    clip_to_limits: bool = True
    rate: RateSpec = RateSpec()
    global_rate: RateSpec = RateSpec(soft_cap=230)
    stormguard: StormSpec = StormSpec()
    exposure: ExposureSpec = ExposureSpec()
    policy: PolicySpec = PolicySpec()
    budget: BudgetSpec = BudgetSpec()
    strategies: dict[str, StrategySpec]
    validators: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_ORDER))
    # an empty chain approves everything, so it must be asked for explicitly (default False)
    allow_no_validators: bool = False
    instruments: dict[str, InstrumentSpec] = {}


_LIMIT_FIELDS = (
    "max_order_qty",
    "max_order_notional",
    "max_instrument_notional",
    "max_position_qty",
    "price_band_bps",
)
_DEFAULT_INSTRUMENT = InstrumentSpec()


def _non_finite(obj, path: str, out: list[str]) -> None:
    """Every float anywhere in the spec must be finite: NaN fails every ``x > limit`` comparison in the
    compiled chain, so a NaN limit would approve instead of refuse (fail closed at load)."""
    if isinstance(obj, float):
        if not math.isfinite(obj):
            out.append(f"{path}: must be a finite number, got {obj!r}")
    elif isinstance(obj, msgspec.Struct):
        for f in obj.__struct_fields__:
            _non_finite(getattr(obj, f), f"{path}.{f}" if path else f, out)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _non_finite(v, f"{path}.{k}", out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _non_finite(v, f"{path}[{i}]", out)


def _semantic_errors(spec: RiskConfigSpec) -> list[str]:
    e: list[str] = []
    _non_finite(spec, "", e)
    # positivity checks are written as `not is_positive(x)` so NaN/inf can never pass them
    if not is_positive(spec.equity):
        e.append("equity: must be > 0")
    if not is_positive(spec.max_intent_lag_ms):
        e.append("max_intent_lag_ms: must be > 0")
    for f in _LIMIT_FIELDS:
        v = getattr(spec.defaults, f)
        if not is_positive(v):
            e.append(f"defaults.{f}: must be set and > 0")
    sg = spec.stormguard
    if not (0 > sg.warm_pct > sg.storm_pct > sg.halt_pct):
        e.append("stormguard: thresholds must satisfy 0 > warm_pct > storm_pct > halt_pct")
    m = sg.multipliers
    if set(m) != {"NORMAL", "WARM", "STORM"}:
        e.append("stormguard.multipliers: keys must be exactly NORMAL, WARM, STORM")
    elif not (1.0 >= m["NORMAL"] >= m["WARM"] >= m["STORM"] >= 0):
        e.append("stormguard.multipliers: must be non-increasing within [0, 1]")
    if not set(sg.reduce_only_states) <= {"WARM", "STORM"}:
        e.append("stormguard.reduce_only_states: only WARM and STORM allowed")
    if not sg.bad_tick.confirm_ticks >= 1 or not is_positive(sg.bad_tick.max_jump_bps):
        e.append("stormguard.bad_tick: confirm_ticks >= 1 and max_jump_bps > 0 required")
    if not is_positive(sg.bad_tick.confirm_window_ms):
        e.append("stormguard.bad_tick.confirm_window_ms: must be > 0")
    if not is_non_negative(sg.recover_hysteresis_pct):
        e.append("stormguard.recover_hysteresis_pct: must be >= 0")
    rates = [("rate", spec.rate), ("global_rate", spec.global_rate)]
    rates += [(f"strategies.{sid}.rate", s.rate) for sid, s in spec.strategies.items() if s.rate is not None]
    for name, r in rates:
        if not is_positive(r.window_s):
            e.append(f"{name}.window_s: must be > 0")
        if not (r.soft_cap >= 1 and 0 < r.warn_frac <= 1):
            e.append(f"{name}: soft_cap >= 1 and 0 < warn_frac <= 1 required")
    ex = spec.exposure
    if not is_positive(ex.hard_cap_pct):
        e.append("exposure.hard_cap_pct: must be > 0")
    for g, v in ex.group_max_pct.items():
        if not is_positive(v):
            e.append(f"exposure.group_max_pct.{g}: must be > 0")
    for b, bs in ex.buckets.items():
        if not (0 <= bs.target_pct <= bs.max_pct and is_positive(bs.max_pct)):
            e.append(f"exposure.buckets.{b}: need 0 <= target_pct <= max_pct")
    pol = spec.policy
    seen = set()
    for i, r in enumerate(pol.regimes):
        try:
            _parse_anchor(r.start)
        except ValueError as exc:
            e.append(f"policy.regimes[{i}].start: {exc}")
        if not is_positive(r.tolerance_pct):
            e.append(f"policy.regimes[{i}].tolerance_pct: must be > 0")
        elif not r.tolerance_pct <= ex.hard_cap_pct:
            e.append(
                f"policy.regimes[{i}].tolerance_pct: {r.tolerance_pct} above hard_cap_pct {ex.hard_cap_pct}"
            )
        if r.name in seen:
            e.append(f"policy.regimes[{i}].name: duplicate {r.name}")
        seen.add(r.name)
    if pol.outside_session not in seen:
        e.append(f"policy.outside_session: {pol.outside_session!r} is not a regime name")
    if not 0 < pol.hard_chunk_pct <= 100:
        e.append("policy.hard_chunk_pct: must be in (0, 100]")
    for i, name in enumerate(spec.validators):
        if name not in VALIDATORS:
            e.append(f"validators[{i}]: unknown validator {name!r} (known: {', '.join(VALIDATORS)})")
    if len(set(spec.validators)) != len(spec.validators):
        e.append("validators: listed twice")
    if not spec.validators and not spec.allow_no_validators:
        e.append("validators: empty list approves every intent; set allow_no_validators: true to mean it")
    if not is_positive(spec.budget.total_pct):
        e.append("budget.total_pct: must be > 0")
    if not spec.strategies:
        e.append("strategies: at least one strategy required")
    guaranteed = 0.0
    for sid, s in spec.strategies.items():
        if s.bucket not in ex.buckets:
            e.append(f"strategies.{sid}.bucket: {s.bucket!r} not in exposure.buckets")
        if not 0 <= s.guaranteed_pct <= s.quota_pct <= 100:
            e.append(f"strategies.{sid}: need 0 <= guaranteed_pct <= quota_pct <= 100")
        if s.guaranteed_pct > 0 and not s.critical:
            e.append(f"strategies.{sid}.guaranteed_pct: only critical strategies get a guaranteed minimum")
        if s.capital is not None and not is_positive(s.capital):
            e.append(f"strategies.{sid}.capital: must be > 0")
        guaranteed += s.guaranteed_pct
        for f in _LIMIT_FIELDS:
            v = getattr(s.limits, f)
            if v is not None and not is_positive(v):
                e.append(f"strategies.{sid}.limits.{f}: must be > 0")
    if guaranteed > 100:
        e.append(f"strategies: guaranteed_pct sums to {guaranteed} > 100")
    for iid, ins in spec.instruments.items():
        if not (is_positive(ins.multiplier) and is_positive(ins.tick) and is_positive(ins.lot)):
            e.append(f"instruments.{iid}: multiplier, tick and lot must be > 0")
        for f in _LIMIT_FIELDS:
            v = getattr(ins.limits, f)
            if v is not None and not is_positive(v):
                e.append(f"instruments.{iid}.limits.{f}: must be > 0")
        if ins.group and ins.group not in ex.group_max_pct:
            e.append(f"instruments.{iid}.group: {ins.group!r} has no exposure.group_max_pct entry")
    return e


def _parse_anchor(text: str) -> tuple[str, float]:
    """'open+15m' -> ('open', 15.0); 'close-2m' -> ('close', -2.0)."""
    t = text.strip().lower()
    for anchor in ("open", "close"):
        if t.startswith(anchor):
            rest = t[len(anchor) :]
            if not rest:
                return anchor, 0.0
            if rest[0] in "+-" and rest.endswith("m"):
                return anchor, float(rest[:-1])
    raise ValueError(f"{text!r}: expected open+Nm or close-Nm")


class CompiledConfig:
    """The immutable, pre-digested config the gate reads on every decision.

    Limits are resolved per (strategy, instrument) once and cached here (a pure function of the spec),
    so the hot path does one dict lookup instead of walking defaults -> strategy -> instrument.
    """

    __slots__ = (
        "spec",
        "text",
        "content_hash",
        "version",
        "_limits",
        "regimes",
        "validators",
        "multipliers",
        "reduce_only",
        "lag_ns",
        "bucket_max",
        "guaranteed",
        "_rates",
        "global_window",
        "chain",
        "layout",
        "outcomes",
    )

    def __init__(self, spec: RiskConfigSpec, text: str, version: int = 0):
        self.spec = spec
        self.text = text
        self.content_hash = content_hash(spec)
        self.version = version
        self._limits: dict[tuple[str, str], tuple[float, ...]] = {}
        self._rates: dict[str, tuple] = {}
        self.regimes = tuple((r, *_parse_anchor(r.start)) for r in spec.policy.regimes)
        self.validators = tuple(spec.validators)
        self.chain = chain_code(spec.validators)
        self.layout = layout_id(spec.validators, [r.name for r in spec.policy.regimes])
        # result word -> (status, verdict, reasons, mode) of the chain, filled by the gate on first use
        self.outcomes: dict[int, tuple] = {}
        m = spec.stormguard.multipliers
        self.multipliers = (m["NORMAL"], m["WARM"], m["STORM"], 0.0)  # indexed by StormState
        self.reduce_only = frozenset({"WARM": 1, "STORM": 2}[s] for s in spec.stormguard.reduce_only_states)
        self.lag_ns = int(spec.max_intent_lag_ms * 1e6)
        self.bucket_max = tuple(sorted((b, v.max_pct) for b, v in spec.exposure.buckets.items()))
        self.guaranteed = tuple(
            sorted((s, v.guaranteed_pct) for s, v in spec.strategies.items() if v.guaranteed_pct > 0)
        )
        g = spec.global_rate
        self.global_window = (int(g.window_s * 1e9), g.soft_cap, g.warn_frac)

    def with_version(self, version: int) -> CompiledConfig:
        return CompiledConfig(self.spec, self.text, version)

    def instrument(self, instrument_id: str) -> InstrumentSpec:
        return self.spec.instruments.get(instrument_id, _DEFAULT_INSTRUMENT)

    def limits(self, strategy_id: str, instrument_id: str) -> tuple[float, ...]:
        """(max_order_qty, max_order_notional, max_instrument_notional, max_position_qty, band_bps)."""
        key = (strategy_id, instrument_id)
        got = self._limits.get(key)
        if got is None:
            layers = [self.spec.defaults]
            strat = self.spec.strategies.get(strategy_id)
            if strat is not None:
                layers.append(strat.limits)
            layers.append(self.instrument(instrument_id).limits)
            vals = []
            for f in _LIMIT_FIELDS:
                v = None
                for layer in layers:
                    lv = getattr(layer, f)
                    v = lv if lv is not None else v
                vals.append(float(v))
            got = self._limits[key] = tuple(vals)
        return got

    def capital(self, strategy_id: str) -> float:
        s = self.spec.strategies.get(strategy_id)
        return s.capital if s is not None and s.capital is not None else self.spec.equity

    def rate_window(self, strategy_id: str) -> tuple[int, int, float]:
        """(window ns, soft cap, warn fraction) of the strategy's rate window (``global_window``: the
        same for the global one)."""
        got = self._rates.get(strategy_id)
        if got is None:
            r = self.rate(strategy_id)
            got = self._rates[strategy_id] = (int(r.window_s * 1e9), r.soft_cap, r.warn_frac)
        return got

    def rate(self, strategy_id: str) -> RateSpec:
        s = self.spec.strategies.get(strategy_id)
        return s.rate if s is not None and s.rate is not None else self.spec.rate


def content_hash(spec: RiskConfigSpec) -> str:
    """Hash of the *meaning* (canonical JSON of the validated spec), so reformatting the YAML or
    reordering keys does not create a new version."""
    data = msgspec.to_builtins(spec)
    if not data.get("allow_no_validators"):
        data.pop("allow_no_validators", None)  # keeps hashes of configs written before the flag existed
    canon = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def parse_config(text: str) -> CompiledConfig:
    """Validate YAML text (schema, then semantics) and compile it; raises :class:`ConfigError`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"yaml: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(["root: expected a mapping"])
    try:
        spec = msgspec.convert(data, RiskConfigSpec)
    except msgspec.ValidationError as exc:
        raise ConfigError([f"schema: {_locate(data, exc)}"]) from None
    errors = _semantic_errors(spec)
    if errors:
        raise ConfigError(errors)
    if not spec.validators:
        _log.warning("risk config has NO validators (allow_no_validators: true): every intent is approved")
    return CompiledConfig(spec, text)


def _locate(data: dict, exc: msgspec.ValidationError) -> str:
    """msgspec reports dict entries as ``[...]``; re-check each keyed entry so the error names it."""
    for section, typ in (("strategies", StrategySpec), ("instruments", InstrumentSpec)):
        entries = data.get(section)
        if not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            try:
                msgspec.convert(value, typ)
            except msgspec.ValidationError as inner:
                return str(inner).replace("`$", f"`$.{section}.{key}")
    return str(exc)


def load_config(path: str | Path) -> CompiledConfig:
    return parse_config(Path(path).read_text())


def config_from_dict(data: dict) -> CompiledConfig:
    """Build from a Python dict (tests, notebooks); goes through the same validation as a file."""
    return parse_config(yaml.safe_dump(_plain(data), sort_keys=False))


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, Decimal):
        return float(obj)
    return obj
