"""The node's run file: a frozen msgspec struct with documented defaults, validated at load.

The ``strategies`` entries are the same nautilus ImportableStrategyConfig mappings as a backtest run
file's, so one entry means the same thing in a backtest, PAPER and REAL (a test asserts the shipped
run files agree byte for byte)."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import yaml

from workbench.errors import WorkbenchError
from workbench.ibsim.broker import MARKET_REMAINDERS, PASSIVE_FILLS

MODES = ("paper", "real", "pair")
LIVE_MONEY_PORTS = frozenset({4001, 7496})  # IB Gateway / TWS live-account ports


class NodeConfigError(WorkbenchError, ValueError):
    """A node run file that cannot be used; the message names the file and the field."""


class NodeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One node run.

    mode: ``paper`` (IB market data + nautilus sandbox execution), ``real`` (IB data + IB execution) or
        ``pair``: PAPER and REAL side by side on one embedded simulator session (one market stream), each
        its own run id, gate and journal; REAL's client id is ``client_id + 1``, the legs' discovery files
        ``<control_file stem>-paper`` / ``-real``, their HTTP ports ``http_port`` and ``http_port + 1``
        (0: free ports).
    strategies: ImportableStrategyConfig mappings, unchanged from a backtest run file.
    host/port: ``None`` (default) starts the embedded simulator on a free 127.0.0.1 port; an explicit
        port dials a real IB Gateway/TWS. Live-money ports (4001, 7496) need ``allow_live: true``.
    replay_from / speed: the simulator's start time (UTC) and simulated seconds per wall second.
    client_id / account_id: IB API client id and the account (only used to address the simulator/broker).
    starting_balance: the PAPER sandbox account's cash (USD).
    ready_timeout_s: a subscribed instrument with no quote after this long -> the node is not ready.
    stop_timeout_s: bounded wait for cancels to be acknowledged and the close to fill at stop.
    trader_id: nautilus trader id.
    risk: the risk config every strategy's gate is built from (default ``config/risk.yaml``, as a backtest).
    http_port: the loopback HTTP server (control endpoint, /health, /ready, /metrics); 0 = a free port.
    runs_dir: where ``<run_id>/`` run folders go; default ``runs/`` beside the store file.
    control_file: the endpoint's discovery file; default ``$WB_CONTROL_FILE`` or ``~/.workbench/control.json``.
    sim_ack_latency_ms / sim_fill_latency_ms: the embedded simulator's broker acknowledges an order, and lets
        it fill, this long after it arrived (simulated clock; the simulator's defaults). Both 0: acknowledged
        and matched against the current book on arrival, as nautilus's sandbox (PAPER) does, so a pair's
        two execution paths fill identically (config/node_pair.yaml).
    sim_scenario: a fault scenario file for the embedded simulator (disconnects, 1100/1101/1102, rejects,
        slow fills, stalled requests; workbench/ibsim/faults.py), times relative to ``replay_from``;
        default none.
    breaker_rejects / breaker_window_s / breaker_cooldown_s: the circuit breaker (docs/node.md, "Broker
        faults and the circuit breaker"): this many broker rejects (default 3) within the window (default
        30 s) open it (new orders refused, STRATEGY_DISABLED); after the cool-down (default 10 s) one
        trial order goes out; its acceptance closes the breaker, its reject opens it again.
    sim_market_remainder: the rest of a market order larger than the displayed size at the simulator's broker:
        ``work`` (default: fills on later quotes, as IB), ``cancel`` (cancelled, with the events) or ``rest``
        (stays open, never matched again, no event: what nautilus's sandbox does; docs/ibsim.md).
    sim_consume_displayed: ``true`` (default): a quote's displayed size is taken once by all the simulator
        broker's orders together; ``false``: every order may take up to the full displayed size of each
        quote, as nautilus's sandbox (liquidity_consumption off).
    sim_passive_fill: a resting limit order that a later quote reaches fills ``touch`` (default: at that
        quote's price, up to its displayed size) or ``limit`` (at its limit price, in full: nautilus's L1
        maker fill).
    """

    mode: str
    strategies: tuple[dict, ...]
    host: str = "127.0.0.1"
    port: int | None = None
    allow_live: bool = False
    replay_from: str = "2024-03-04 15:00"
    speed: float = 10.0
    client_id: int = 11
    account_id: str = "DU1234567"
    starting_balance: float = 1_000_000.0
    ready_timeout_s: float = 5.0
    stop_timeout_s: float = 5.0
    trader_id: str = "WB-001"
    risk: str = "config/risk.yaml"
    http_port: int = 0
    runs_dir: str | None = None
    control_file: str | None = None
    sim_ack_latency_ms: float = 2.0
    sim_fill_latency_ms: float = 5.0
    sim_scenario: str | None = None
    breaker_rejects: int = 3
    breaker_window_s: float = 30.0
    breaker_cooldown_s: float = 10.0
    sim_market_remainder: str = "work"
    sim_consume_displayed: bool = True
    sim_passive_fill: str = "touch"

    @property
    def embedded(self) -> bool:
        return self.port is None


def _check(cfg: NodeConfig, where: str) -> NodeConfig:
    if cfg.mode not in MODES:
        raise NodeConfigError(f"mode must be one of {MODES}, got {cfg.mode!r}", where=where)
    for name in ("speed", "starting_balance", "ready_timeout_s", "stop_timeout_s", "breaker_window_s",
                 "breaker_cooldown_s"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and value > 0):  # NaN-safe: only a finite positive passes
            raise NodeConfigError(f"{name} must be a finite positive number, got {value!r}", where=where)
    if cfg.breaker_rejects < 1:
        raise NodeConfigError(f"breaker_rejects must be >= 1, got {cfg.breaker_rejects}", where=where)
    if cfg.sim_scenario is not None and not cfg.embedded:
        raise NodeConfigError("sim_scenario applies to the embedded simulator only; remove `port`", where=where)
    if cfg.sim_scenario is not None:
        from workbench.ibsim.faults import load_scenario

        try:  # read now: a bad scenario is this one line, before any client dials out
            load_scenario(cfg.sim_scenario, 0)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise NodeConfigError(f"sim_scenario: {exc}", where=where) from exc
    for name in ("sim_ack_latency_ms", "sim_fill_latency_ms"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and value >= 0):
            raise NodeConfigError(f"{name} must be a finite number >= 0, got {value!r}", where=where)
    if cfg.sim_market_remainder not in MARKET_REMAINDERS:
        raise NodeConfigError(f"sim_market_remainder must be one of {MARKET_REMAINDERS}, got "
                              f"{cfg.sim_market_remainder!r}", where=where)
    if cfg.sim_passive_fill not in PASSIVE_FILLS:
        raise NodeConfigError(f"sim_passive_fill must be one of {PASSIVE_FILLS}, got {cfg.sim_passive_fill!r}",
                              where=where)
    if not 0 <= cfg.http_port <= 65535:
        raise NodeConfigError(f"http_port must be 0 (a free port) .. 65535, got {cfg.http_port}", where=where)
    if not cfg.strategies:
        raise NodeConfigError("strategies: at least one entry is needed", where=where)
    for i, entry in enumerate(cfg.strategies):
        missing = {"strategy_path", "config_path", "config"} - set(entry)
        if missing:
            raise NodeConfigError(f"strategies[{i}]: missing {sorted(missing)}", where=where)
    if cfg.port is not None and cfg.port in LIVE_MONEY_PORTS and not cfg.allow_live:
        raise NodeConfigError(f"port {cfg.port} is a live-money IB port", where=where,
                              hint="set `allow_live: true` in the run file if you really mean it")
    if cfg.mode == "pair" and not cfg.embedded:
        raise NodeConfigError("mode pair runs PAPER and REAL on the embedded simulator only; remove `port`",
                              where=where)
    if cfg.mode == "pair" and cfg.http_port == 65535:
        raise NodeConfigError("http_port: a pair needs two ports (P and P+1), got 65535", where=where)
    if cfg.embedded and cfg.host != "127.0.0.1":
        raise NodeConfigError("the embedded simulator binds 127.0.0.1 only; give a port for a remote gateway",
                              where=where)
    return cfg


def node_config_from_dict(doc: dict, where: str = "node config") -> NodeConfig:
    if not isinstance(doc, dict):
        raise NodeConfigError("expected a mapping at the top level", where=where)
    try:
        cfg = msgspec.convert(doc, NodeConfig)
    except msgspec.ValidationError as exc:
        raise NodeConfigError(str(exc), where=where) from exc
    return _check(cfg, where)


def load_node_config(path: str | Path) -> NodeConfig:
    """Parse and validate a node run file (safe YAML); errors name the file and the field."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise NodeConfigError(f"cannot read: {exc}", where=str(path)) from exc
    return node_config_from_dict(doc, where=str(path))


def export_node_config(entry: dict, mode: str, path: str | Path, **settings) -> Path:
    """Write a node run file holding the backtest strategy ``entry`` unchanged; validated before
    writing, and created exclusively so an existing file is never half-overwritten."""
    path = Path(path)
    doc = {"mode": mode, **settings, "strategies": [entry]}
    node_config_from_dict(doc, where=str(path))
    text = yaml.safe_dump(doc, sort_keys=False)
    with open(path, "x", encoding="utf-8") as fh:
        fh.write(text)
    return path
