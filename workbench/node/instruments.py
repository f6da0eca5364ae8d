"""One instrument mapping: a store id (``SPY.XNAS``) <-> the simulator's contract <-> the IB provider.

The simulator reports the store venue's IB code as primaryExchange (VENUE_TO_IB); the provider is
told to convert IB exchange codes back to MICs, so the id nautilus builds is the store id again."""

from __future__ import annotations

from nautilus_trader.adapters.interactive_brokers.common import IBContract
from nautilus_trader.adapters.interactive_brokers.config import InteractiveBrokersInstrumentProviderConfig

from workbench.errors import WorkbenchError
from workbench.ibsim.contracts import VENUE_TO_IB


def ib_contract(instrument_id: str) -> IBContract:
    """The IB stock contract for a store id ``SYMBOL.MIC``."""
    symbol, _, mic = instrument_id.rpartition(".")
    if not symbol or mic not in VENUE_TO_IB:
        raise WorkbenchError(f"cannot map {instrument_id!r} to an IB contract (venue not in VENUE_TO_IB)",
                             where="node instruments")
    return IBContract(secType="STK", symbol=symbol, exchange="SMART", primaryExchange=VENUE_TO_IB[mic],
                      currency="USD")


def provider_config(instrument_ids: list[str]) -> InteractiveBrokersInstrumentProviderConfig:
    """Provider config loading ``instrument_ids`` under their store ids (MIC venues).

    ``symbol_to_mic_venue`` pins each symbol to its store venue, because an IB code such as NASDAQ
    can map to more than one MIC and the store id must win. The adapter matches its keys as symbol
    PREFIXES in dict order, so the longest symbols come first (``SPYG`` must not take ``SPY``'s venue)."""
    pairs = sorted((i.rpartition(".")[0], i.rpartition(".")[2]) for i in instrument_ids)
    return InteractiveBrokersInstrumentProviderConfig(
        load_contracts=frozenset(ib_contract(i) for i in instrument_ids),
        convert_exchange_to_mic_venue=True,
        symbol_to_mic_venue=dict(sorted(pairs, key=lambda p: (-len(p[0]), p[0]))),
    )
