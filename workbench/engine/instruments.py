"""Store instrument records -> nautilus instruments.

This package is the only one that imports nautilus internals, so the coming nautilus v2 move
touches one place.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from nautilus_trader.model.currencies import USD
from nautilus_trader.model.enums import AssetClass, OptionKind
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import Equity, FuturesContract, IndexInstrument, OptionContract
from nautilus_trader.model.instruments.base import Instrument as NautilusInstrument
from nautilus_trader.model.objects import Currency, Price, Quantity

from workbench.store.model import Instrument

# Listed US equity options stop trading at 16:00 ET on expiry; CME equity futures at 09:30 ET.
_EXPIRY_CLOCK = {"OPTION": time(16, 0), "FUTURE": time(9, 30)}
_NY = ZoneInfo("America/New_York")


def _precision(increment: Decimal) -> int:
    exp = Decimal(increment).normalize().as_tuple().exponent
    return max(0, -int(exp))


def _expiry_ns(asset_class: str, expiry: date) -> int:
    clock = _EXPIRY_CLOCK[asset_class]
    return int(datetime.combine(expiry, clock, tzinfo=_NY).timestamp() * 1_000_000_000)


def to_nautilus(inst: Instrument, ts_init: int = 0) -> NautilusInstrument:
    """Build the nautilus instrument for a store record (Equity, OptionContract, FuturesContract, Index)."""
    iid = InstrumentId.from_str(inst.instrument_id)
    increment = Decimal(inst.price_increment)
    prec = _precision(increment)
    currency = USD if inst.currency == "USD" else Currency.from_str(inst.currency)
    raw = Symbol(inst.symbol)
    if inst.asset_class == "EQUITY":
        return Equity(iid, raw, currency, prec, Price(increment, prec), Quantity.from_int(1), ts_init, ts_init)
    if inst.asset_class == "INDEX":
        return IndexInstrument(iid, raw, currency, prec, Price(increment, prec), 0, Quantity.from_int(1),
                               ts_init, ts_init)
    if inst.asset_class == "OPTION":
        return OptionContract(
            iid, raw, AssetClass.EQUITY, currency, prec, Price(increment, prec), Quantity.from_int(inst.multiplier),
            Quantity.from_int(1), str(inst.underlying).split(".")[0],
            OptionKind.CALL if inst.right == "C" else OptionKind.PUT,
            Price(Decimal(inst.strike), max(prec, _precision(Decimal(inst.strike)))),
            0, _expiry_ns("OPTION", inst.expiry), ts_init, ts_init,
        )
    if inst.asset_class == "FUTURE":
        return FuturesContract(
            iid, raw, AssetClass.INDEX, currency, prec, Price(increment, prec), Quantity.from_int(inst.multiplier),
            Quantity.from_int(1), str(inst.underlying), 0, _expiry_ns("FUTURE", inst.expiry), ts_init, ts_init,
        )
    raise ValueError(f"{inst.instrument_id}: no nautilus mapping for asset class {inst.asset_class}")
