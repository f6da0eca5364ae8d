"""Sweep files (YAML in ``config/``): a backtest run file's strategy entry + a grid.

```yaml
base: backtest_demo.yaml          # a backtest run file (relative to this file): strategies, data, venue
grid: {entry_spreads: [2.0, 3.0], ema_alpha: [0.01, 0.02]}
data: {instrument_ids: [DEMO.XNAS], start: 2024-03-04, end: 2024-03-06}   # overrides the base's
walk_forward: {train: 2, test: 1, step: 1}    # optional; ints count sessions, strings are durations
objective: sharpe                 # a metric name (higher is better)
risk: null                        # risk limits file (default config/risk.yaml)
demo_market: true                 # generate the seeded demo market when its instruments are missing
```

``strategies:`` (the run-file form) may replace ``base``; ``venue:`` overrides the base's venue.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workbench.sweep.spec import SweepError, WalkForward

KNOWN = {"base", "strategies", "grid", "data", "walk_forward", "objective", "venue", "risk", "demo_market", "name"}


@dataclass(frozen=True, slots=True)
class SweepConfig:
    path: Path
    kwargs: dict[str, Any]   # Sweep(**kwargs) minus store/cache
    demo_market: bool


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Parse and validate a sweep file; every error is one line naming the file and the field."""
    from workbench.engine.runconfig import RunConfigError, load_run_config

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SweepError(f"cannot read: {' '.join(str(exc).split())}", where=str(path)) from exc
    if not isinstance(doc, dict):
        raise SweepError("expected a mapping at the top level", where=str(path))
    unknown = sorted(set(doc) - KNOWN)
    if unknown:
        raise SweepError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN))}", where=str(path))
    strategies: Any = None
    data, venue = doc.get("data"), doc.get("venue")
    if doc.get("base") is not None:
        try:
            run = load_run_config(path.parent / str(doc["base"]))
        except RunConfigError as exc:
            raise SweepError(f"base: {exc}", where=str(path)) from exc
        strategies, data = list(run.strategies), data if data is not None else run.data
        venue = venue if venue is not None else run.venue
    if doc.get("strategies") is not None:
        strategies = doc["strategies"]
        if not isinstance(strategies, list) or not all(isinstance(e, dict) for e in strategies):
            raise SweepError("strategies: expected a list of strategy entries", where=str(path))
    grid = doc.get("grid", {} if doc.get("walk_forward") is not None else None)
    for field, value in (("strategies (or base)", strategies), ("data (or base)", data), ("grid", grid)):
        if value is None:
            raise SweepError(f"missing field {field}", where=str(path))
    if not isinstance(grid, dict):
        raise SweepError("grid: expected a mapping of config field -> list of values", where=str(path))
    wf = doc.get("walk_forward")
    if wf is not None:
        if not isinstance(wf, dict) or set(wf) - {"train", "test", "step"} or not {"train", "test"} <= set(wf):
            raise SweepError("walk_forward: expected {train: N, test: N, step: N (optional)}", where=str(path))
        try:
            wf = WalkForward(wf["train"], wf["test"], wf.get("step"))
        except SweepError as exc:
            raise SweepError(str(exc), where=str(path)) from exc
    objective = doc.get("objective", "sharpe")
    if not isinstance(objective, str):
        raise SweepError("objective: expected a metric name", where=str(path))
    demo = doc.get("demo_market", False)
    if not isinstance(demo, bool):
        raise SweepError(f"demo_market: expected true or false, got {demo!r}", where=str(path))
    kwargs = {"entry": strategies[0] if len(strategies) == 1 else strategies, "grid": grid, "data": data,
              "walk_forward": wf, "objective": objective, "venue": venue, "risk": doc.get("risk"),
              "name": doc.get("name") or path.stem}
    return SweepConfig(path, kwargs, demo)


def build_sweep(config: SweepConfig, **extra: Any) -> Any:
    """``Sweep(**config.kwargs, **extra)``; validation errors name the file."""
    from workbench.sweep.runner import Sweep

    try:
        return Sweep(**config.kwargs, **extra)
    except SweepError as exc:
        raise SweepError(exc.what, where=f"{config.path}: {exc.where}" if exc.where else str(config.path),
                         hint=exc.hint) from exc
