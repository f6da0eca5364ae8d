"""The simulator's security master: what IB would answer to reqContractDetails.

A :class:`SimContract` holds everything the TWS API sends about a contract (the fields of
``ContractDetails``).  :class:`ContractCatalog` resolves the partially-filled ``Contract`` a client
sends in a request the way IB does: a ``conId`` wins outright; otherwise every non-empty field must
match, so ``Stock("SPY", "SMART", "USD")`` finds one contract while ``Option("SPY", "20151224")``
finds the whole expiry (ib_async then reports the request as ambiguous, as it would against TWS).

Contracts come from the store's instrument table (:meth:`ContractCatalog.from_instruments`) or are
added directly in tests.  Well-known symbols keep their real IB conIds (SPY is 756733 in every IB
account) so recorded responses and user notebooks line up; anything else gets a stable conId
derived from its instrument id.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

# Real IB conIds for the symbols our fixtures use (from recorded TWS responses and IB's contract search).
KNOWN_CON_IDS = {
    ("SPY", "STK"): 756733,
    ("AAPL", "STK"): 265598,
    ("AMD", "STK"): 4391,
    ("IBM", "STK"): 8314,
    ("QQQ", "STK"): 320227571,
    ("GOOG", "STK"): 208813720,
    ("SPX", "IND"): 416904,
}

# Real ISINs (IB sends them in secIdList; the nautilus adapter requires one for equities).
KNOWN_ISINS = {
    "SPY": "US78462F1030", "AAPL": "US0378331005", "AMD": "US0079031078", "IBM": "US4592001014",
    "QQQ": "US46090E1038", "GOOG": "US38259P7069",
}

# MIC -> IB exchange code, for primaryExchange (stocks) and exchange (futures, indices).
VENUE_TO_IB = {
    "XNAS": "NASDAQ",
    "XNYS": "NYSE",
    "ARCX": "ARCA",
    "BATS": "BATS",
    "XASE": "AMEX",
    "XCBO": "CBOE",
    "XCME": "CME",
    "GLBX": "CME",
    "XCBT": "CBOT",
    "XNYM": "NYMEX",
    "OPRA": "SMART",
}
IB_TO_VENUE = {v: k for k, v in VENUE_TO_IB.items() if k not in ("GLBX", "OPRA")}

SEC_TYPE_OF_ASSET_CLASS = {"EQUITY": "STK", "INDEX": "IND", "OPTION": "OPT", "FUTURE": "FUT"}

# Order types and exchanges copied from a recorded AMD ContractDetails (ib_insync notebook, 2019-12-31).
STK_ORDER_TYPES = (
    "ACTIVETIM,ADJUST,ALERT,ALGO,ALLOC,AON,AVGCOST,BASKET,BENCHPX,COND,CONDORDER,DARKONLY,DARKPOLL,DAY,"
    "DEACT,DEACTDIS,DEACTEOD,DIS,GAT,GTC,GTD,GTT,HID,IBKRATS,ICE,IMB,IOC,LIT,LMT,LOC,MIDPX,MIT,MKT,MOC,"
    "MTL,NGCOMB,NODARK,NONALGO,OCA,OPG,OPGREROUT,PEGBENCH,POSTONLY,PREOPGRTH,REL,RPI,RTH,SCALE,SCALEODD,"
    "SCALERST,SNAPMID,SNAPMKT,SNAPREL,STP,STPLMT,SWEEP,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF"
)
STK_VALID_EXCHANGES = (
    "SMART,AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,ISLAND,DRCTEDGE,BEX,BATS,EDGEA,CSFBALGO,JEFFALGO,BYX,IEX,"
    "EDGX,FOXRIVER,NYSENAT,PSX"
)
DERIV_ORDER_TYPES = "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,AVGCOST,BASKET,COND,CONDORDER,DAY,DEACT,GAT,GTC,GTD,LMT,MKT,STP,STPLMT,WHATIF"


@dataclass(frozen=True)
class SimContract:
    """One tradable (or quotable) contract as IB describes it."""

    con_id: int
    symbol: str
    sec_type: str  # STK | OPT | FUT | IND
    exchange: str = "SMART"
    primary_exchange: str = ""
    currency: str = "USD"
    local_symbol: str = ""
    trading_class: str = ""
    expiry: str = ""  # YYYYMMDD (lastTradeDateOrContractMonth)
    strike: float = 0.0
    right: str = ""  # C | P
    multiplier: str = ""
    min_tick: float = 0.01
    long_name: str = ""
    under_con_id: int = 0
    under_symbol: str = ""
    under_sec_type: str = ""
    market_name: str = ""
    time_zone_id: str = "US/Eastern"
    trading_hours: str = ""
    liquid_hours: str = ""
    industry: str = ""
    category: str = ""
    subcategory: str = ""
    stock_type: str = ""
    market_rule_ids: str = "26"
    instrument_id: str = ""  # the workbench store id, e.g. "SPY.ARCX"
    price_magnifier: int = 1
    sec_ids: tuple[tuple[str, str], ...] = field(default=())

    @property
    def order_types(self) -> str:
        return STK_ORDER_TYPES if self.sec_type == "STK" else DERIV_ORDER_TYPES

    @property
    def valid_exchanges(self) -> str:
        if self.sec_type == "STK":
            return STK_VALID_EXCHANGES
        return self.exchange if self.exchange != "SMART" else "SMART,CBOE,ISE,AMEX,PHLX,BOX,ARCA"

    @property
    def multiplier_value(self) -> int:
        return int(float(self.multiplier)) if self.multiplier else 1

    def describe(self) -> str:
        """A short human label used in error texts, like TWS's."""
        parts = [self.sec_type, self.symbol]
        if self.expiry:
            parts.append(self.expiry)
        if self.right:
            parts.append(f"{self.strike:g}{self.right}")
        return " ".join(parts)


@dataclass(frozen=True)
class ContractQuery:
    """The contract fields a client sends in a request (any may be empty)."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    expiry: str = ""
    strike: float = 0.0
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""

    def describe(self) -> str:
        fields_ = {k: v for k, v in self.__dict__.items() if v not in ("", 0, 0.0)}
        return ", ".join(f"{k}={v}" for k, v in fields_.items()) or "<empty contract>"


def stable_con_id(key: str) -> int:
    """A deterministic positive conId for contracts IB's real ids are not known for."""
    return 10_000_000 + zlib.crc32(key.encode()) % 900_000_000


def _norm_right(r: str) -> str:
    r = (r or "").upper()
    return {"CALL": "C", "PUT": "P"}.get(r, r)


def _norm_expiry(e: str) -> str:
    return (e or "").replace("-", "")


class ContractCatalog:
    """Contracts indexed by conId with IB-style lookup from partial requests."""

    def __init__(self, contracts: Iterable[SimContract] = ()) -> None:
        self._by_id: dict[int, SimContract] = {}
        self._by_instrument: dict[str, SimContract] = {}
        for c in contracts:
            self.add(c)

    def add(self, contract: SimContract) -> SimContract:
        self._by_id[contract.con_id] = contract
        if contract.instrument_id:
            self._by_instrument[contract.instrument_id] = contract
        return contract

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self):
        return iter(sorted(self._by_id.values(), key=lambda c: c.con_id))

    def get(self, con_id: int) -> SimContract | None:
        return self._by_id.get(con_id)

    def by_instrument(self, instrument_id: str) -> SimContract | None:
        return self._by_instrument.get(instrument_id)

    def match(self, q: ContractQuery) -> list[SimContract]:
        """Every contract consistent with the query, sorted by conId (IB returns a stable order)."""
        if q.con_id:
            c = self._by_id.get(q.con_id)
            return [c] if c else []
        out = []
        sec_type = q.sec_type.upper()
        expiry = _norm_expiry(q.expiry)
        right = _norm_right(q.right)
        for c in self:
            if q.symbol and c.symbol != q.symbol.upper() and c.local_symbol != q.symbol:
                continue
            if q.local_symbol and c.local_symbol.replace(" ", "") != q.local_symbol.replace(" ", ""):
                continue
            if sec_type and c.sec_type != sec_type:
                continue
            # Futures may be requested by contract month (YYYYMM) as well as by the last trade date.
            if expiry and not c.expiry.startswith(expiry):
                continue
            if q.strike and abs(c.strike - q.strike) > 1e-9:
                continue
            if right and c.right != right:
                continue
            if q.currency and c.currency != q.currency.upper():
                continue
            if q.trading_class and c.trading_class != q.trading_class:
                continue
            if q.multiplier and c.multiplier and float(q.multiplier) != float(c.multiplier):
                continue
            if q.exchange and q.exchange.upper() not in ("SMART", c.exchange) and c.sec_type != "STK":
                continue
            if q.primary_exchange and c.primary_exchange and q.primary_exchange.upper() != c.primary_exchange:
                continue
            out.append(c)
        return out

    def options_of(self, underlying_con_id: int) -> list[SimContract]:
        return [c for c in self if c.sec_type == "OPT" and c.under_con_id == underlying_con_id]

    @classmethod
    def from_instruments(cls, rows: Iterable[dict]) -> ContractCatalog:
        """Build the catalog from store instrument rows (dicts with the Instrument fields).

        Underlyings are added first so options can point at their conId.
        """
        rows = sorted(rows, key=lambda r: (r["asset_class"] == "OPTION", r["instrument_id"]))
        cat = cls()
        for r in rows:
            cat.add(contract_from_instrument(r, cat))
        return cat


def _local_option_symbol(symbol: str, expiry: str, right: str, strike: float) -> str:
    # OCC symbology: root padded to 6, YYMMDD, right, strike * 1000 in 8 digits.
    return f"{symbol:<6}{expiry[2:]}{right}{round(strike * 1000):08d}"


def contract_from_instrument(row: dict, catalog: ContractCatalog | None = None) -> SimContract:
    """Map one store ``Instrument`` (as a dict) to the contract IB would report for it."""
    iid = row["instrument_id"]
    asset = row["asset_class"]
    sec_type = SEC_TYPE_OF_ASSET_CLASS.get(asset)
    if sec_type is None:
        raise ValueError(f"instrument {iid}: unsupported asset_class {asset!r}")
    venue = row.get("venue") or iid.rsplit(".", 1)[-1]
    ib_venue = VENUE_TO_IB.get(venue, venue)
    symbol = row.get("symbol") or iid.split(".")[0]
    tick = float(row.get("price_increment") or 0.01)
    expiry = row.get("expiry")
    expiry_s = expiry.strftime("%Y%m%d") if isinstance(expiry, date) else _norm_expiry(str(expiry or ""))
    currency = row.get("currency") or "USD"
    mult = int(row.get("multiplier") or 1)
    common = dict(currency=currency, min_tick=tick, instrument_id=iid)
    if sec_type == "STK":
        return SimContract(
            con_id=KNOWN_CON_IDS.get((symbol, "STK"), stable_con_id(iid)),
            symbol=symbol, sec_type="STK", exchange="SMART", primary_exchange=ib_venue,
            local_symbol=symbol, trading_class="NMS" if ib_venue == "NASDAQ" else symbol,
            long_name=symbol, market_name="NMS" if ib_venue == "NASDAQ" else symbol,
            stock_type="ETF" if symbol in ("SPY", "QQQ") else "COMMON",
            sec_ids=(("ISIN", KNOWN_ISINS.get(symbol) or f"XS{stable_con_id(iid):010d}"),), **common,
        )
    if sec_type == "IND":
        return SimContract(
            con_id=KNOWN_CON_IDS.get((symbol, "IND"), stable_con_id(iid)), symbol=symbol, sec_type="IND",
            exchange=ib_venue, local_symbol=symbol, long_name=symbol, market_name=symbol, **common,
        )
    if sec_type == "FUT":
        root = row.get("underlying") or symbol.rstrip("0123456789")[:-1] or symbol
        return SimContract(
            con_id=stable_con_id(iid), symbol=root, sec_type="FUT", exchange=ib_venue, local_symbol=symbol,
            trading_class=root, expiry=expiry_s, multiplier=str(mult), market_name=root,
            time_zone_id="US/Central", under_sec_type="IND", under_symbol=root, **common,
        )
    und_sym = row.get("underlying") or symbol
    und = None
    if catalog is not None:
        hits = catalog.match(ContractQuery(symbol=und_sym))
        und = next((h for h in hits if h.sec_type in ("STK", "IND")), None)
    strike = float(row["strike"])
    right = _norm_right(row.get("right") or "")
    return SimContract(
        con_id=stable_con_id(iid), symbol=und_sym, sec_type="OPT", exchange="SMART", local_symbol=
        _local_option_symbol(und_sym, expiry_s, right, strike), trading_class=und_sym, expiry=expiry_s,
        strike=strike, right=right, multiplier=str(mult if mult > 1 else 100), market_name=und_sym,
        under_con_id=und.con_id if und else 0, under_symbol=und_sym,
        under_sec_type=und.sec_type if und else "STK", **common,
    )


def default_catalog() -> ContractCatalog:
    """A small catalog (SPY, AAPL, SPX, one ES future, a few SPY options) for tests and demos
    that run without a store."""
    rows = [
        dict(instrument_id="SPY.ARCX", symbol="SPY", asset_class="EQUITY", venue="ARCX"),
        dict(instrument_id="AAPL.XNAS", symbol="AAPL", asset_class="EQUITY", venue="XNAS"),
        dict(instrument_id="SPX.XCBO", symbol="SPX", asset_class="INDEX", venue="XCBO"),
        dict(instrument_id="ESZ13.XCME", symbol="ESZ13", asset_class="FUTURE", venue="XCME",
             underlying="ES", expiry=date(2013, 12, 20), multiplier=50, price_increment="0.25"),
    ]
    for strike in (165.0, 170.0, 175.0):
        for right in ("C", "P"):
            rows.append(dict(
                instrument_id=f"SPY131018{right}{int(strike * 1000):08d}.OPRA", symbol="SPY", asset_class="OPTION",
                venue="OPRA", underlying="SPY", expiry=date(2013, 10, 18), strike=strike, right=right,
                multiplier=100,
            ))
    return ContractCatalog.from_instruments(rows)

