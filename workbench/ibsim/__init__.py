"""An IB Gateway simulator that speaks the TWS API socket protocol (see docs/ibsim.md).

>>> from workbench.ibsim import Gateway, GatewayConfig, default_catalog, MemorySource
>>> gw = Gateway(GatewayConfig(port=0, speed=0), MemorySource(), default_catalog())

``await gw.start()`` binds 127.0.0.1; real ``ib_async`` or nautilus IB clients then connect to
``gw.port``.  ``gw.clock`` is the simulated clock, ``gw.broker`` the simulated account and
``gw.faults`` the fault-injection switches.
"""

from .account import AccountConfig
from .broker import BrokerConfig
from .contracts import ContractCatalog, SimContract, default_catalog
from .gateway import Gateway, GatewayConfig
from .market import MarketSource, MemorySource, StoreSource, synthetic_minute_bars, synthetic_session
from .pacing import PacingLimits

__all__ = [
    "AccountConfig", "BrokerConfig", "ContractCatalog", "Gateway", "GatewayConfig", "MarketSource", "MemorySource",
    "PacingLimits", "SimContract", "StoreSource", "default_catalog", "synthetic_minute_bars", "synthetic_session",
]
