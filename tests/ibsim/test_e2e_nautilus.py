"""A real nautilus TradingNode (InteractiveBrokersDataClient + InteractiveBrokersExecClient) against
the simulator: connect, load SPY, stream quotes, trade with strategies/quote_reversion, get fills.

The node's ibapi offers protocol v100..223; the simulator negotiates v200, the newest text-framed
version, so this exercises the v200 layouts (error time, HISTORICAL_DATA_END, submitter fields...).
"""

from __future__ import annotations

import asyncio
import contextlib

import pandas as pd
from nautilus_trader.adapters.interactive_brokers.common import IBContract
from nautilus_trader.adapters.interactive_brokers.config import (
    InteractiveBrokersDataClientConfig,
    InteractiveBrokersExecClientConfig,
    InteractiveBrokersInstrumentProviderConfig,
)
from nautilus_trader.adapters.interactive_brokers.factories import (
    InteractiveBrokersLiveDataClientFactory,
    InteractiveBrokersLiveExecClientFactory,
)
from nautilus_trader.config import ImportableStrategyConfig, LoggingConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.enums import OrderStatus
from nautilus_trader.model.identifiers import InstrumentId

from workbench.ibsim.market import MemorySource, synthetic_session

from .conftest import NS, gateway, run, wait_for

START = pd.Timestamp("2013-10-07 14:00", tz="UTC").value


def _node(port: int) -> TradingNode:
    provider = InteractiveBrokersInstrumentProviderConfig(load_contracts=frozenset([
        IBContract(secType="STK", symbol="SPY", exchange="SMART", primaryExchange="ARCA", currency="USD")]))
    config = TradingNodeConfig(
        trader_id="SIM-001",
        logging=LoggingConfig(log_level="ERROR"),
        data_clients={"IB": InteractiveBrokersDataClientConfig(
            ibg_host="127.0.0.1", ibg_port=port, ibg_client_id=11, instrument_provider=provider)},
        exec_clients={"IB": InteractiveBrokersExecClientConfig(
            ibg_host="127.0.0.1", ibg_port=port, ibg_client_id=11, account_id="DU1234567",
            instrument_provider=provider)},
        strategies=[ImportableStrategyConfig(
            strategy_path="strategies.quote_reversion:QuoteReversion",
            config_path="strategies.quote_reversion:QuoteReversionConfig",
            config=dict(instrument_id="SPY.ARCA", warmup=20, entry_spreads=0.5, order_ttl_quotes=30,
                        trade_size="100"))],
        timeout_connection=20.0, timeout_reconciliation=10.0, timeout_portfolio=10.0,
        timeout_disconnection=5.0, timeout_post_stop=1.0,
    )
    node = TradingNode(config=config)
    node.add_data_client_factory("IB", InteractiveBrokersLiveDataClientFactory)
    node.add_exec_client_factory("IB", InteractiveBrokersLiveExecClientFactory)
    node.build()
    return node


async def _shutdown(node: TradingNode, task: asyncio.Task) -> None:
    """Stop the node without ``node.dispose()``, which would stop the running event loop."""
    await node.stop_async()
    node.kernel.dispose()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if node.kernel.executor:
        node.kernel.executor.shutdown(wait=False, cancel_futures=True)


def test_trading_node_streams_quotes_and_gets_fills():
    src = MemorySource()
    synthetic_session(src, "SPY.ARCX", START - 600 * NS, 4 * 3600, seed=7, price=168.0, vol_per_step=0.0005)

    async def scenario():
        async with gateway(src, start=START, speed=20) as gw:
            node = _node(gw.port)
            task = asyncio.create_task(node.run_async())
            try:
                spy = InstrumentId.from_str("SPY.ARCA")
                await wait_for(lambda: node.cache.instrument(spy) is not None, timeout=30)
                inst = node.cache.instrument(spy)
                assert str(inst.price_increment) == "0.01" and inst.raw_symbol.value == "SPY"
                await wait_for(lambda: node.cache.quote_tick(spy) is not None, timeout=20)
                await wait_for(lambda: any(o.status == OrderStatus.FILLED for o in node.cache.orders()),
                               timeout=30)
                assert [s.version for s in gw.sessions] == [200]
                # Every share nautilus saw filled was executed by the simulated broker, and vice versa.
                await wait_for(lambda: sum(float(o.filled_qty) for o in node.cache.orders())
                               == sum(float(e.shares) for e in gw.broker.state.executions), timeout=10)
                perm_ids = {o.venue_order_id.value for o in node.cache.orders() if o.filled_qty > 0}
                assert perm_ids == {f"PERM-{e.perm_id}" for e in gw.broker.state.executions}
                account = node.cache.accounts()[0]
                assert account.id.get_id() == "DU1234567"
                net = sum(float(e.shares) * (1 if e.side == "BOT" else -1) for e in gw.broker.state.executions)
                assert float(node.portfolio.net_position(spy)) == net
            finally:
                await _shutdown(node, task)

    run(scenario(), timeout=120)
