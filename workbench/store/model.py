"""Instrument records and the identifier conventions of the store.

Identifiers follow nautilus's ``SYMBOL.VENUE`` form so they map 1:1 onto ``InstrumentId``:

- US equities: ``SPY.XNAS`` (one simulated US venue for equities and their options),
- US equity options: OCC-style root + yymmdd + C/P + strike×1000 (8 digits), e.g.
  ``GOOG151224C00710000.XNAS`` is GOOG 710 C 2015-12-24,
- CME futures: root + month code + 2-digit year, e.g. ``ESZ13.XCME``,
- indices and index options on Cboe: ``SPX.XCBO``, ``SPXW110107C01050000.XCBO``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal

ASSET_CLASSES = ("EQUITY", "INDEX", "OPTION", "FUTURE")
FUTURE_MONTH_CODES = "FGHJKMNQUVXZ"


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable (or reference) contract, as stored in ``instruments``."""

    instrument_id: str
    symbol: str
    asset_class: str
    venue: str
    currency: str = "USD"
    underlying: str | None = None
    expiry: date | None = None
    strike: Decimal | None = None
    right: str | None = None
    multiplier: int = 1
    style: str | None = None
    price_increment: Decimal = Decimal("0.01")
    calendar: str = "XNYS"
    source: str | None = None

    def __post_init__(self) -> None:
        if self.asset_class not in ASSET_CLASSES:
            raise ValueError(f"instrument {self.instrument_id}: asset_class {self.asset_class!r} not in {ASSET_CLASSES}")
        if self.asset_class == "OPTION":
            missing = [f for f in ("underlying", "expiry", "strike", "right") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"option {self.instrument_id}: missing field(s) {', '.join(missing)}")
            if self.right not in ("C", "P"):
                raise ValueError(f"option {self.instrument_id}: right must be 'C' or 'P', got {self.right!r}")
        if self.multiplier <= 0:
            raise ValueError(f"instrument {self.instrument_id}: multiplier must be positive")

    def to_row(self) -> dict:
        return asdict(self)

    @staticmethod
    def equity(symbol: str, venue: str = "XNAS", source: str | None = None) -> Instrument:
        symbol = symbol.upper()
        return Instrument(f"{symbol}.{venue}", symbol, "EQUITY", venue, source=source)

    @staticmethod
    def index(symbol: str, venue: str = "XCBO", source: str | None = None) -> Instrument:
        symbol = symbol.upper()
        return Instrument(f"{symbol}.{venue}", symbol, "INDEX", venue, source=source)

    @staticmethod
    def option(
        root: str,
        underlying_id: str,
        expiry: date,
        right: str,
        strike: Decimal | float | str,
        *,
        venue: str = "XNAS",
        style: str = "AMERICAN",
        multiplier: int = 100,
        source: str | None = None,
    ) -> Instrument:
        strike = Decimal(str(strike)).normalize()
        root = root.upper()
        symbol = option_symbol(root, expiry, right, strike)
        return Instrument(
            f"{symbol}.{venue}", symbol, "OPTION", venue, underlying=underlying_id, expiry=expiry,
            strike=strike, right=right.upper(), multiplier=multiplier, style=style,
            price_increment=Decimal("0.01"), source=source,
        )

    @staticmethod
    def future(root: str, expiry: date, *, venue: str = "XCME", multiplier: int = 50,
               price_increment: Decimal = Decimal("0.25"), source: str | None = None) -> Instrument:
        symbol = f"{root.upper()}{FUTURE_MONTH_CODES[expiry.month - 1]}{expiry.year % 100:02d}"
        return Instrument(f"{symbol}.{venue}", symbol, "FUTURE", venue, underlying=root.upper(), expiry=expiry,
                          multiplier=multiplier, price_increment=price_increment, calendar="CMES", source=source)


def option_symbol(root: str, expiry: date, right: str, strike: Decimal) -> str:
    """OCC-style compact option symbol: ``GOOG151224C00710000``."""
    milli = int((Decimal(strike) * 1000).to_integral_value())
    if milli < 0 or milli >= 10**8:
        raise ValueError(f"strike {strike} outside the OCC range")
    return f"{root}{expiry:%y%m%d}{right.upper()}{milli:08d}"
