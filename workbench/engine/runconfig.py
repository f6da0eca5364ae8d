"""Backtest run files (YAML in ``config/``): the same strategy entries a live node config uses.

```yaml
strategies:
  - strategy_path: strategies.quote_reversion:QuoteReversion
    config_path: strategies.quote_reversion:QuoteReversionConfig
    config: {instrument_id: DEMO.XNAS}
data: {instrument_ids: [DEMO.XNAS], start: 2024-03-04, end: 2024-03-09}
venue: {starting_balance: 1000000, fill: {prob_fill_on_limit: 1.0, seed: 42}}
report: data/reports/backtest.html
```
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from nautilus_trader.config import ImportableStrategyConfig

from workbench.engine.config import DataSpec, FillSpec, VenueSpec
from workbench.errors import WorkbenchError


@dataclass(frozen=True, slots=True)
class RunConfig:
    strategies: tuple[ImportableStrategyConfig, ...]
    data: DataSpec
    venue: VenueSpec
    report: Path | None = None


class RunConfigError(WorkbenchError, ValueError):
    """A run file that cannot be used; the message names the file and the field."""


def _venue(raw: dict[str, Any], where: str) -> VenueSpec:
    raw = dict(raw or {})
    known = {f.name for f in fields(VenueSpec)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise RunConfigError(f"{where}: venue: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if "fill" in raw:
        raw["fill"] = FillSpec(**raw["fill"])
    for key in ("starting_balance", "commission_per_unit"):
        if raw.get(key) is not None:
            raw[key] = Decimal(str(raw[key]))
    return VenueSpec(**raw)


def _check_import_path(value: Any, where: str) -> None:
    """``module:Class`` must import now, so a typo is named at load, not an AttributeError mid-run."""
    import importlib

    module_name, sep, attr = str(value).partition(":")
    if not (sep and module_name and attr):
        raise RunConfigError(f"{where}: {value!r} is not of the form 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RunConfigError(f"{where}: cannot import module {module_name!r}: {exc}") from exc
    if not hasattr(module, attr):
        raise RunConfigError(f"{where}: module {module_name!r} has no class {attr!r}")


def load_run_config(path: str | Path) -> RunConfig:
    """Parse and validate a run file; errors name the file and the field."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RunConfigError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(doc, dict):
        raise RunConfigError(f"{path}: expected a mapping at the top level")
    for key in ("strategies", "data"):
        if key not in doc:
            raise RunConfigError(f"{path}: missing field {key!r}")
    strategies = []
    for i, entry in enumerate(doc["strategies"]):
        try:
            strategies.append(ImportableStrategyConfig(**entry))
        except TypeError as exc:
            raise RunConfigError(f"{path}: strategies[{i}]: {exc}") from exc
        for key in ("strategy_path", "config_path"):
            _check_import_path(entry[key], f"{path}: strategies[{i}].{key}")
    try:
        data = DataSpec.coerce(doc["data"])
    except (TypeError, KeyError) as exc:
        raise RunConfigError(f"{path}: data: {exc}") from exc
    report = doc.get("report")
    return RunConfig(tuple(strategies), data, _venue(doc.get("venue"), str(path)), Path(report) if report else None)
