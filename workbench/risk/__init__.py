"""Risk governance: one gate in front of every order, identical in backtest, paper and live.

No nautilus import: Python with a compiled Cython core (``_core.pyx``, the per-intent hot path) and
numba kernels (``kernels.py``); the nautilus integration is ``workbench.engine.gated``. See
docs/risk.md for the decision model, reason codes, config schema and the operator runbook.
"""

from workbench.risk.config import CompiledConfig, ConfigError, config_from_dict, load_config, parse_config
from workbench.risk.gate import RiskGate
from workbench.risk.hotconfig import ApplyResult, ConfigRegistry, ConfigWatcher
from workbench.risk.journal import DecisionLog, Journal
from workbench.risk.metrics import RiskMetrics
from workbench.risk.schema import RISK_DDL
from workbench.risk.types import (
    Action,
    OrderIntent,
    PolicyMode,
    Reason,
    RiskDecision,
    RiskEvent,
    Side,
    StormState,
    Verdict,
)

__all__ = [
    "Action",
    "ApplyResult",
    "CompiledConfig",
    "ConfigError",
    "ConfigRegistry",
    "ConfigWatcher",
    "DecisionLog",
    "Journal",
    "OrderIntent",
    "PolicyMode",
    "RISK_DDL",
    "Reason",
    "RiskDecision",
    "RiskEvent",
    "RiskGate",
    "RiskMetrics",
    "Side",
    "StormState",
    "Verdict",
    "config_from_dict",
    "load_config",
    "parse_config",
]
