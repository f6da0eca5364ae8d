"""Data-driven risk scenarios: YAML files in ``workbench/risk/scenarios/``, run by the pure gate or
through a real nautilus backtest (``workbench.engine.gated_scenarios.run_scenario_backtest``) with the *same*
step semantics and the same checks.

A scenario is a session date, config overrides (merged over ``scenarios/base.yaml``), starting mids,
and steps at exchange-local times. Each step may quote (``quote``/``repeat``), act (``intent``,
``burst``, ``halt``, ``reset``, ``config``, ``enable``/``disable``) and assert (``expect``). At every
step the derisk playbook runs first (its intents pass the gate), then the actions, then the checks.
Invariants checked at the end of every run: no approval after the kill switch's activation point,
and no decision with a config version other than the one in force when it was taken.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from workbench.risk.config import CompiledConfig
from workbench.risk.gate import RiskGate
from workbench.risk.hotconfig import ConfigRegistry
from workbench.risk.types import Action, OrderIntent, PolicyMode, RiskDecision, Side, StormState

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = (
            _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
        )
    return out


@dataclass(frozen=True)
class Scenario:
    name: str
    date: str
    calendar_tz: str
    config: dict
    mids: dict
    steps: tuple
    path: Path | None = None

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        path = Path(path)
        raw = yaml.safe_load(path.read_text())
        base = yaml.safe_load((path.parent / "base.yaml").read_text())
        for key in ("name", "date", "mids", "steps"):
            if key not in raw:
                raise ValueError(f"scenario {path.name}: missing {key!r}")
        return cls(
            name=raw["name"],
            date=str(raw["date"]),
            calendar_tz=raw.get("tz", "America/New_York"),
            config=_merge(base["config"], raw.get("config", {})),
            mids=dict(raw["mids"]),
            steps=tuple(raw["steps"]),
            path=path,
        )

    def ts(self, hhmm: str) -> int:
        return int(pd.Timestamp(f"{self.date} {hhmm}", tz=self.calendar_tz).tz_convert("UTC").value)

    def config_text(self, overrides: dict | None = None) -> str:
        return yaml.safe_dump(_merge(self.config, overrides or {}), sort_keys=True)

    @property
    def strategies(self) -> list[str]:
        return sorted(self.config["strategies"])

    @property
    def instruments(self) -> list[str]:
        return sorted(self.mids)


def all_scenarios() -> list[Scenario]:
    return [Scenario.load(p) for p in sorted(SCENARIO_DIR.glob("*.yaml")) if p.name != "base.yaml"]


def quote_of(value, tick: float = 0.01) -> tuple[float, float]:
    """A mid -> (mid - tick, mid + tick); an explicit [bid, ask] pair is kept."""
    if isinstance(value, list | tuple):
        return float(value[0]), float(value[1])
    return round(float(value) - tick, 10), round(float(value) + tick, 10)


@dataclass
class StepContext:
    """What the checks of a step see."""

    gate: RiskGate
    ts: int
    step_decisions: list[RiskDecision] = field(default_factory=list)
    derisk: list[RiskDecision] = field(default_factory=list)
    trading_state: str | None = None


class ScenarioDriver:
    """Executes steps against a gate; ``submit`` performs an intent (pure: evaluate + simulated fills;
    nautilus: the owning GatedStrategy's ``submit_intent``) and returns its decision."""

    def __init__(
        self,
        scenario: Scenario,
        gate: RiskGate,
        registry: ConfigRegistry,
        submit: Callable[[OrderIntent], RiskDecision],
        derisk: Callable[[int], list[RiskDecision]],
        trading_state: Callable[[], str | None] = lambda: None,
    ):
        self.s, self.gate, self.registry = scenario, gate, registry
        self.submit, self.derisk, self.trading_state = submit, derisk, trading_state
        self.failures: list[str] = []
        self.all: list[RiskDecision] = []
        self._seq = 0
        self._bursts: dict[int, StepContext] = {}
        self.mids = dict(scenario.mids)

    def intent(self, spec: dict, ts: int) -> OrderIntent:
        self._seq += 1
        price = spec.get("price", "market")
        if price == "market":
            px = None
        elif price in ("touch", "cross", "passive"):
            bid, ask = quote_of(self.mids[spec["instrument"]])
            buy = spec["side"].upper() == "BUY"
            px = {
                "touch": bid if buy else ask,
                "cross": ask if buy else bid,
                "passive": (bid if buy else ask) * (0.95 if buy else 1.05),
            }[price]
            px = Decimal(repr(round(px, 2)))
        else:
            px = Decimal(str(price))
        return OrderIntent.new(
            spec["strategy"],
            spec["instrument"],
            Side(spec["side"].upper()),
            Decimal(str(spec["qty"])),
            px,
            ts_event=ts,
            seq=self._seq,
            tag=spec.get("tag", ""),
        )

    def run_step(self, i: int, step: dict, ts: int) -> None:
        """Everything of a step except its quotes, which the runner delivers first: the derisk playbook,
        then operator actions (halt, reset, enable/disable, config, rollback), then the intents, then
        the checks."""
        ctx = StepContext(self.gate, ts)
        ctx.derisk = self.derisk(ts)
        self.all.extend(ctx.derisk)
        if "halt" in step:
            self.gate.halt(step["halt"]["reason"], step["halt"].get("scope", "GLOBAL"), ts, by="scenario")
        if "reset" in step:
            self.gate.reset(step["reset"]["reason"], step["reset"].get("scope", "GLOBAL"), ts, by="scenario")
        for key, flag in (("enable", True), ("disable", False)):
            if key in step:
                self.gate.set_enabled(step[key], flag, f"scenario step {i}", by="scenario")
        if "config" in step:
            res = self.registry.apply_text(
                self.s.config_text(step["config"]), by="scenario", reason=f"step {i}"
            )
            if not res.ok:
                self.failures.append(f"step {i}: config rejected: {res.errors}")
        if "config_invalid" in step:
            res = self.registry.apply_text(
                self.s.config_text(step["config_invalid"]), by="scenario", reason=f"step {i}"
            )
            if res.ok:
                self.failures.append(f"step {i}: an invalid config was applied as v{res.version}")
        if "rollback" in step:
            res = self.registry.rollback(int(step["rollback"]), by="scenario", reason=f"step {i}")
            if not res.ok:
                self.failures.append(f"step {i}: rollback failed: {res.errors}")
        for spec in [step["intent"]] if "intent" in step else []:
            intent = self.intent(spec, ts)
            for _ in range(int(spec.get("duplicate", 1))):
                ctx.step_decisions.append(self.submit(intent))
        self.all.extend(ctx.step_decisions)
        ctx.trading_state = self.trading_state()
        self.check(i, step.get("expect") or {}, ctx)

    def burst_intent(self, i: int, step: dict, k: int, t: int) -> None:
        """Intent ``k`` of a ``burst`` step (``count`` intents ``every_ms`` apart; the runner first moves
        ``path_instrument`` to ``path[k]`` if given: a drawdown during the burst)."""
        ctx = self._bursts.setdefault(i, StepContext(self.gate, t))
        ctx.step_decisions.append(self.submit(self.intent(step["burst"], t)))

    def burst_finish(self, i: int, step: dict) -> None:
        ctx = self._bursts.pop(i, None) or StepContext(self.gate, 0)
        self.all.extend(ctx.step_decisions)
        ctx.trading_state = self.trading_state()
        self.check(i, step.get("expect") or {}, ctx)

    @staticmethod
    def burst_times(step: dict, ts: int) -> list[int]:
        b = step["burst"]
        return [ts + k * int(b.get("every_ms", 10)) * 1_000_000 for k in range(int(b["count"]))]

    # -- checks --------------------------------------------------------------------------------------
    def check(self, i: int, exp: dict, ctx: StepContext) -> None:
        fail = self.failures.append
        ds = ctx.step_decisions
        if "verdicts" in exp:
            got = [d.verdict.value for d in ds]
            if got != exp["verdicts"]:
                fail(f"step {i}: verdicts {got} != {exp['verdicts']}")
        for reason in exp.get("reasons_include", []):
            if not any(reason in d.reasons for d in ds):
                fail(f"step {i}: no decision with reason {reason}: {[d.reasons for d in ds]}")
        if "policy_mode" in exp and self.gate.mode is not PolicyMode[exp["policy_mode"]]:
            fail(f"step {i}: policy mode {self.gate.mode.name} != {exp['policy_mode']}")
        for scope, state in (exp.get("storm") or {}).items():
            g = self.gate.global_guard if scope == "GLOBAL" else self.gate.guards.get(scope)
            got = g.state.name if g else "NORMAL"
            if got != state:
                fail(f"step {i}: StormGuard {scope} {got} != {state}")
        if "derisk" in exp:
            e = exp["derisk"]
            dr = [d for d in ctx.derisk if d.approved and (not e.get("tag") or d.intent.tag == e["tag"])]
            if len(dr) < e.get("min", 0) or ("max" in e and len(dr) > e["max"]):
                fail(f"step {i}: {len(dr)} approved derisk intents {e}")
            if e.get("chunk_pct"):
                for d in dr:
                    leg = self.gate.book.legs[(d.intent.strategy_id, d.intent.instrument_id)]
                    full = abs(leg.pos) + float(d.approved_qty)  # position before this chunk filled
                    if float(d.approved_qty) > full * e["chunk_pct"] / 100.0 + 1.0:
                        fail(f"step {i}: derisk chunk {d.approved_qty} > {e['chunk_pct']}% of {full}")
        if "approved" in exp:
            n = sum(d.approved for d in ds)
            lo, hi = (
                (exp["approved"], exp["approved"]) if isinstance(exp["approved"], int) else exp["approved"]
            )
            if not lo <= n <= hi:
                fail(f"step {i}: {n} approvals not in [{lo}, {hi}]")
        if "open_orders" in exp and len(self.gate.book.orders) != exp["open_orders"]:
            fail(f"step {i}: {len(self.gate.book.orders)} open orders != {exp['open_orders']}")
        if "config_version" in exp and self.gate.config.version != exp["config_version"]:
            fail(f"step {i}: config v{self.gate.config.version} != v{exp['config_version']}")
        if (
            "trading_state" in exp
            and ctx.trading_state is not None
            and ctx.trading_state != exp["trading_state"]
        ):
            fail(f"step {i}: nautilus trading state {ctx.trading_state} != {exp['trading_state']}")

    def final_checks(self) -> None:
        halted_at = None
        for e in self.gate.events:
            if e.kind == "STORMGUARD" and e.scope == "GLOBAL":
                halted_at = e.ts_event if e.new == "HALT" else None
        seq = self.gate.halt_seq
        if seq is not None:
            late = [
                d
                for d in self.all
                if d.decision_seq > seq and d.approved and d.intent.action is not Action.CANCEL
            ]
            if late:
                self.failures.append(
                    f"{len(late)} approvals after the kill switch (first: {late[0].summary()})"
                )
        versions = {d.config_version for d in self.all}
        if halted_at is not None and not versions:
            self.failures.append("kill switch fired but no decisions recorded")


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    mode: str
    failures: tuple[str, ...]
    decisions: int
    extra: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    def line(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        tail = "" if self.passed else " :: " + " | ".join(self.failures[:3])
        return f"{status} [{self.mode:<8}] {self.name} ({self.decisions} decisions){tail}"


def new_gate(scenario: Scenario, con=None) -> tuple[RiskGate, ConfigRegistry]:
    """A gate with its config applied as version 1 through the (in-memory by default) registry."""
    con = con if con is not None else duckdb.connect(":memory:")
    registry = ConfigRegistry(con)
    res = registry.apply_text(scenario.config_text(), by="scenario", reason=f"start {scenario.name}")
    if not res.ok:
        raise ValueError(f"scenario {scenario.name}: invalid config: {res.errors}")
    gate = RiskGate(registry.active())
    registry.gate = gate
    return gate, registry


def _fill_if_marketable(gate: RiskGate, d: RiskDecision, bid: float, ask: float) -> None:
    i = d.intent
    if i.action is not Action.NEW or not d.approved:
        return
    buy = i.side is Side.BUY
    px = i.px_f
    if px != px or (buy and px >= ask) or (not buy and px <= bid):
        gate.on_fill(
            f"{i.client_order_id}:sim",
            i.client_order_id,
            i.ts_event,
            float(d.approved_qty),
            ask if buy else bid,
        )


def run_pure(scenario: Scenario) -> ScenarioResult:
    """Run with the gate alone; marketable orders fill at the touch, resting orders when crossed."""
    gate, registry = new_gate(scenario)
    resting: dict[str, RiskDecision] = {}

    def on_quote(iid: str, ts: int, bid: float, ask: float) -> None:
        gate.on_quote(iid, ts, bid, ask)
        for coid, d in sorted(resting.items()):
            if coid not in gate.book.orders:
                resting.pop(coid)
            elif d.intent.instrument_id == iid:
                _fill_if_marketable(gate, d, bid, ask)

    def submit(intent: OrderIntent) -> RiskDecision:
        d = gate.evaluate(intent)
        if d.approved and intent.action is Action.CANCEL:
            gate.on_order_closed(intent.target_id)
        elif d.approved:
            q = gate.book.quotes[intent.instrument_id]
            _fill_if_marketable(gate, d, q.bid, q.ask)
            if intent.client_order_id in gate.book.orders:
                resting[intent.client_order_id] = d
        return d

    def derisk(ts: int) -> list[RiskDecision]:
        return [submit(i) for i in gate.derisk(ts)]

    def on_cancel_all(decisions):
        for d in decisions:
            gate.on_order_closed(d.intent.target_id)

    gate.cancel_handlers.append(on_cancel_all)
    driver = ScenarioDriver(scenario, gate, registry, submit, derisk)
    for i, step in enumerate(scenario.steps):
        ts = scenario.ts(step["at"])
        for k in range(int(step.get("repeat", 1))):
            for iid, mid in sorted((step.get("quote") or {}).items()):
                driver.mids[iid] = mid
                on_quote(iid, ts + k * 1_000_000, *quote_of(mid))
        if not step.get("quote"):
            for iid in scenario.instruments:  # a heartbeat at the step time keeps every book current
                on_quote(iid, ts, *quote_of(driver.mids[iid]))
        ts += (int(step.get("repeat", 1)) - 1) * 1_000_000
        if "burst" in step:
            b = step["burst"]
            for k, t in enumerate(driver.burst_times(step, ts)):
                if k < len(b.get("path", [])):
                    driver.mids[b["path_instrument"]] = b["path"][k]
                    on_quote(b["path_instrument"], t, *quote_of(b["path"][k]))
                driver.burst_intent(i, step, k, t)
            driver.burst_finish(i, step)
        else:
            driver.run_step(i, step, ts)
    driver.final_checks()
    registry.con.close()
    return ScenarioResult(scenario.name, "pure", tuple(driver.failures), len(driver.all))


__all__ = [
    "Scenario",
    "ScenarioDriver",
    "ScenarioResult",
    "all_scenarios",
    "new_gate",
    "quote_of",
    "run_pure",
    "CompiledConfig",
    "StormState",
]
