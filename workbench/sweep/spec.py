"""What a sweep runs: a parameter grid, optional walk-forward windows, and the list of points.

A point is one backtest: the strategy entry with some config fields replaced, over one time
window. Points are numbered in a fixed order (fold, phase, grid order), so run ``i`` means the same
backtest on every machine and in every re-run.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError


class SweepError(WorkbenchError, ValueError):
    """A sweep that cannot run (bad grid, window, objective, config file); one line, names the field."""


@dataclass(frozen=True, slots=True)
class WalkForward:
    """Rolling train/test windows. ``int`` sizes count sessions present in the data; strings are
    pandas durations (``"2D"``, ``"90min"``) measured from the first data timestamp."""

    train: int | str
    test: int | str
    step: int | str | None = None  # default: ``test`` (back-to-back out-of-sample windows)

    def __post_init__(self) -> None:
        for name in ("train", "test", "step"):
            value = getattr(self, name)
            if value is None and name == "step":
                continue
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise SweepError(f"walk_forward.{name}: expected a session count or a duration, got {value!r}")
            if isinstance(value, int) and value <= 0:
                raise SweepError(f"walk_forward.{name}: must be > 0, got {value}")
            if isinstance(value, str):
                try:
                    ok = pd.Timedelta(value) > pd.Timedelta(0)
                except ValueError as exc:
                    raise SweepError(f"walk_forward.{name}: not a duration: {value!r}") from exc
                if not ok:
                    raise SweepError(f"walk_forward.{name}: must be > 0, got {value!r}")
        kinds = {type(v) for v in (self.train, self.test, self.step) if v is not None}
        if len(kinds) > 1:
            raise SweepError("walk_forward: use session counts or durations for train/test/step, not both")

    def windows(self, sessions: list[tuple[int, int]]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """``[(train (start_ns, end_ns), test (start_ns, end_ns)), ...]`` over the data's sessions
        (each ``(first_ns, last_ns + 1)``); a fold whose test window would pass the data's end is dropped."""
        if not sessions:
            return []
        step = self.step if self.step is not None else self.test
        folds = []
        if isinstance(self.train, int):
            i = 0
            while i + self.train + self.test <= len(sessions):
                tr, te = sessions[i:i + self.train], sessions[i + self.train:i + self.train + self.test]
                folds.append(((tr[0][0], tr[-1][1]), (te[0][0], te[-1][1])))
                i += step
            return folds
        t0, t_end = sessions[0][0], sessions[-1][1]
        train, test, stride = (pd.Timedelta(v).value for v in (self.train, self.test, step))
        k = 0
        while t0 + k * stride + train + test <= t_end:
            a = t0 + k * stride
            tr, te = (a, a + train), (a + train, a + train + test)
            if _has_data(tr, sessions) and _has_data(te, sessions):  # overnight/weekend windows: no run
                folds.append((tr, te))
            k += 1
        return folds


def _has_data(window: tuple[int, int], sessions: list[tuple[int, int]]) -> bool:
    return any(lo < window[1] and window[0] < hi for lo, hi in sessions)


def walk_forward(train: int | str, test: int | str, step: int | str | None = None) -> WalkForward:
    """Rolling windows: fit on ``train``, evaluate on the next ``test``, move by ``step``."""
    return WalkForward(train, test, step)


@dataclass(frozen=True, slots=True)
class Point:
    """One backtest of the sweep."""

    index: int
    params: dict[str, Any]
    start: Any = None        # data window [start, end), UTC ns or None (the data spec's own bounds)
    end: Any = None
    fold: int | None = None  # walk-forward fold, None for a plain grid
    phase: str = "all"       # "all" (plain grid) | "train" | "test"


def expand_grid(grid: dict[str, Any]) -> list[dict[str, Any]]:
    """The cartesian product in key order, values in the given order (no sorting: the user's order
    is the run order). A scalar is a one-value axis."""
    if not isinstance(grid, dict) or not grid:
        raise SweepError("grid: expected a non-empty mapping of config field -> list of values")
    axes = []
    for name, values in grid.items():
        if not isinstance(name, str) or not name:
            raise SweepError(f"grid: parameter names must be non-empty strings, got {name!r}")
        values = list(values) if isinstance(values, list | tuple | range) else [values]
        if not values:
            raise SweepError(f"grid.{name}: no values")
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise SweepError(f"grid.{name}: non-finite value {v!r}")
        if len({repr(v) for v in values}) != len(values):
            raise SweepError(f"grid.{name}: repeated values")
        axes.append((name, values))
    return [dict(zip([a[0] for a in axes], combo, strict=True)) for combo in itertools.product(*[a[1] for a in axes])]


def make_points(grid: dict[str, Any], wf: WalkForward | None, sessions: list[tuple[int, int]]) -> list[Point]:
    """Runs in (fold, phase, grid) order; an empty grid with walk-forward runs the entry as it is."""
    combos = expand_grid(grid) if grid or wf is None else [{}]
    if wf is None:
        return [Point(i, p) for i, p in enumerate(combos)]
    folds = wf.windows(sessions)
    if not folds:
        raise SweepError(f"walk_forward: no complete train+test window in {len(sessions)} session(s) of data",
                         hint="shorten train/test or select more data")
    points: list[Point] = []
    for k, (train, test) in enumerate(folds):
        for phase, (a, b) in (("train", train), ("test", test)):
            for p in combos:
                points.append(Point(len(points), p, a, b, k, phase))
    return points


def apply_params(entry: Any, params: dict[str, Any]) -> list[dict]:
    """The strategy entry (or list of entries) as plain dicts with ``params`` set in their configs.
    ``name`` targets the single strategy; with several, ``"<i>.name"`` targets strategy ``i``."""
    entries = [_as_dict(e) for e in (entry if isinstance(entry, list | tuple) else [entry])]
    for key, value in params.items():
        idx, _, field = key.rpartition(".")
        if not idx:
            if len(entries) != 1:
                raise SweepError(f"grid.{key}: {len(entries)} strategies; name one as '<i>.{key}'")
            i = 0
        elif idx.isdigit() and int(idx) < len(entries):
            i = int(idx)
        else:
            raise SweepError(f"grid.{key}: no strategy {idx!r} (0..{len(entries) - 1})")
        entries[i]["config"] = {**entries[i].get("config", {}), field: value}
    return entries


def _as_dict(entry: Any) -> dict:
    if isinstance(entry, dict):
        return {**entry, "config": dict(entry.get("config") or {})}
    if hasattr(entry, "strategy_path") and hasattr(entry, "config_path"):  # ImportableStrategyConfig
        return {"strategy_path": entry.strategy_path, "config_path": entry.config_path,
                "config": dict(entry.config or {})}
    raise SweepError(f"strategy entry: expected an ImportableStrategyConfig or its dict form, got {type(entry).__name__}")


def check_param_names(entry: Any, grid: dict[str, Any]) -> None:
    """Every grid key must be a field of its strategy's config class (a typo is an error now,
    not N failed runs)."""
    import importlib

    entries = apply_params(entry, {})
    for key in grid:
        idx, _, field = key.rpartition(".")
        e = entries[int(idx) if idx else 0]
        module_name, _, cls_name = str(e.get("config_path", "")).partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), cls_name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise SweepError(f"strategy entry: cannot import config_path {e.get('config_path')!r}: {exc}") from exc
        known = getattr(cls, "__struct_fields__", None)
        if known is not None and field not in known:
            raise SweepError(f"grid.{key}: {cls_name} has no field {field!r}; known: {', '.join(sorted(known))}")
