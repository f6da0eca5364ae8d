"""Encoders for order, execution and commission messages.

OPEN_ORDER and COMPLETED_ORDER are the longest messages in the protocol; the field sequence below
mirrors ``ibapi.orderdecoder.OrderDecoder`` call by call (and ib_async's ``Decoder.openOrder``),
with the optional blocks (delta-neutral, combo legs, scale, hedge, algo, conditions) sent empty
because the simulator accepts only plain MKT/LMT/STP/STP LMT orders.
"""

from __future__ import annotations

from decimal import Decimal

from .contracts import SimContract
from .model import SimExecution, SimOrder, WhatIf

ORDER_STATUS = 3
OPEN_ORDER = 5
EXECUTION_DATA = 11
OPEN_ORDER_END = 53
EXECUTION_DATA_END = 55
COMMISSION_REPORT = 59
COMPLETED_ORDER = 101
COMPLETED_ORDERS_END = 102

V_DURATION = 158
V_POST_TO_ATS = 160
V_AUTO_CANCEL_PARENT = 162
V_PEGBEST_PEGMID = 170
V_FA_PROFILE_DESUPPORT = 177
V_PENDING_PRICE_REVISION = 178
V_CUSTOMER_ACCOUNT = 183
V_PROFESSIONAL_CUSTOMER = 184
V_BOND_ACCRUED_INTEREST = 185
V_INCLUDE_OVERNIGHT = 189
V_CME_TAGGING_IN_OPEN_ORDER = 193
V_FULL_ORDER_PREVIEW = 195
V_SUBMITTER = 198
V_IMBALANCE_ONLY = 199


def _contract_head(c: SimContract) -> list:
    return [c.con_id, c.symbol, c.sec_type, c.expiry, c.strike, c.right, c.multiplier, c.exchange, c.currency,
            c.local_symbol, c.trading_class]


def _order_head(o: SimOrder) -> list:
    return [o.action, o.total_qty, o.order_type, o.lmt_price, o.aux_price, o.tif, o.oca_group, o.account,
            "", 0, o.order_ref]  # openClose, origin (0 = customer), orderRef


def _fmt_money(x: Decimal | None) -> str:
    return "" if x is None else f"{x:.2f}"


def order_status(v: int, o: SimOrder, mkt_cap_price: float = 0.0) -> list:
    return [ORDER_STATUS, o.order_id, o.status, o.filled, o.remaining, o.avg_fill_price, o.perm_id, o.parent_id,
            o.last_fill_price, o.client_id, o.why_held, mkt_cap_price]


def open_order(v: int, o: SimOrder, c: SimContract, what_if: WhatIf | None = None) -> list:
    out: list = [OPEN_ORDER, o.order_id, *_contract_head(c), *_order_head(o), o.client_id, o.perm_id,
                 o.outside_rth, False, 0.0, "", "", "", "", ""]  # hidden, discretionaryAmt, goodAfterTime,
    # sharesAllocation, faGroup, faMethod, faPercentage
    if v < V_FA_PROFILE_DESUPPORT:
        out.append("")  # faProfile
    out += ["", "", "", None, "", 0, "", -1, 0]  # modelCode goodTillDate rule80A percentOffset settlingFirm
    # shortSaleSlot designatedLocation exemptCode auctionStrategy
    out += [None, None, None, None, None]  # startingPrice stockRefPrice delta stockRangeLower/Upper
    out += [None, False, False, False, None, 0, False, False, None]  # displaySize blockOrder sweepToFill
    # allOrNone minQty ocaType eTradeOnly firmQuoteOnly nbboPriceCap
    out += [o.parent_id, 0, None, 0, "", None]  # parentId triggerMethod volatility volatilityType dnOrderType
    # dnAuxPrice
    out += [False, 0, None, None, None, None]  # continuousUpdate referencePriceType trailStopPrice
    # trailingPercent basisPoints basisPointsType
    out += ["", 0, 0, 0]  # comboLegsDescrip, comboLegs, orderComboLegs, smartComboRoutingParams
    out += [None, None, None, "", False, "", "", False, False, ""]  # scaleInit scaleSubs scalePriceIncrement
    # hedgeType optOutSmartRouting clearingAccount clearingIntent notHeld deltaNeutralContract algoStrategy
    out += [False, what_if is not None, o.status]  # solicited whatIf status
    w = what_if
    out += [_fmt_money(w.init_margin_before) if w else "", _fmt_money(w.maint_margin_before) if w else "",
            _fmt_money(w.equity_with_loan_before) if w else "", _fmt_money(w.init_margin_change) if w else "",
            _fmt_money(w.maint_margin_change) if w else "", _fmt_money(w.equity_with_loan_change) if w else "",
            _fmt_money(w.init_margin_after) if w else "", _fmt_money(w.maint_margin_after) if w else "",
            _fmt_money(w.equity_with_loan_after) if w else ""]
    out += [float(w.commission) if w else None, float(w.commission) if w else None,
            float(w.commission) if w else None, "USD" if w else ""]  # commission min max currency
    if v >= V_FULL_ORDER_PREVIEW:
        out += ["USD" if w else "", *([None] * 9), None, "", 0]  # marginCurrency, 9 outside-RTH margins,
        # suggestedSize, rejectReason, orderAllocations
    out += [w.warning if w else o.warning, False, False]  # warningText randomizeSize randomizePrice
    out += [0]  # conditions
    out += ["", None, None, None, None, None, None, 0]  # adjustedOrderType triggerPrice trailStopPrice
    # lmtPriceOffset adjustedStopPrice adjustedStopLimitPrice adjustedTrailingAmount adjustableTrailingUnit
    out += ["", "", "", None, False, False, False, False]  # softDollarTier(3) cashQty dontUseAutoPriceForHedge
    # isOmsContainer discretionaryUpToLimitPrice usePriceMgmtAlgo
    if v >= V_DURATION:
        out.append(None)
    if v >= V_POST_TO_ATS:
        out.append(None)
    if v >= V_AUTO_CANCEL_PARENT:
        out.append(False)
    if v >= V_PEGBEST_PEGMID:
        out += [None] * 5
    if v >= V_CUSTOMER_ACCOUNT:
        out.append("")
    if v >= V_PROFESSIONAL_CUSTOMER:
        out.append(False)
    if v >= V_BOND_ACCRUED_INTEREST:
        out.append("")
    if v >= V_INCLUDE_OVERNIGHT:
        out.append(False)
    if v >= V_CME_TAGGING_IN_OPEN_ORDER:
        out += ["", None]
    if v >= V_SUBMITTER:
        out.append("")
    if v >= V_IMBALANCE_ONLY:
        out.append(False)
    return out


def open_order_end(v: int) -> list:
    return [OPEN_ORDER_END, 1]


def completed_order(v: int, o: SimOrder, c: SimContract, completed_time: str, completed_status: str) -> list:
    out: list = [COMPLETED_ORDER, *_contract_head(c), *_order_head(o), o.perm_id, o.outside_rth, False, 0.0, "",
                 "", "", ""]  # hidden discretionaryAmt goodAfterTime faGroup faMethod faPercentage
    if v < V_FA_PROFILE_DESUPPORT:
        out.append("")
    out += ["", "", "", None, "", 0, "", -1]  # modelCode goodTillDate rule80A percentOffset settlingFirm
    # shortSaleSlot designatedLocation exemptCode
    out += [None, None, None, None, None, None, False, False, None, 0, 0]  # startingPrice stockRefPrice delta
    # stockRangeLower stockRangeUpper displaySize sweepToFill allOrNone minQty ocaType triggerMethod
    out += [None, 0, "", None, False, 0, None, None]  # volatility volatilityType dnOrderType dnAuxPrice
    # continuousUpdate referencePriceType trailStopPrice trailingPercent
    out += ["", 0, 0, 0]  # comboLegsDescrip comboLegs orderComboLegs smartComboRoutingParams
    out += [None, None, None, "", "", "", False, False, ""]  # scale(3) hedgeType clearingAccount
    # clearingIntent notHeld deltaNeutralContract algoStrategy
    out += [False, o.status, False, False, 0]  # solicited status randomizeSize randomizePrice conditions
    out += [None, None, None, False, False, "", o.filled, 0, False, "", False, False, 0]  # trailStopPrice
    # lmtPriceOffset cashQty dontUseAutoPriceForHedge isOmsContainer autoCancelDate filledQuantity
    # refFuturesConId autoCancelParent shareholder imbalanceOnly routeMarketableToBbo parentPermId
    out += [completed_time, completed_status]
    if v >= V_PEGBEST_PEGMID:
        out += [None] * 5
    if v >= V_CUSTOMER_ACCOUNT:
        out.append("")
    if v >= V_PROFESSIONAL_CUSTOMER:
        out.append(False)
    if v >= V_SUBMITTER:
        out.append("")
    return out


def completed_orders_end(v: int) -> list:
    return [COMPLETED_ORDERS_END]


def execution(v: int, req_id: int, e: SimExecution, c: SimContract, time_str: str) -> list:
    out = [EXECUTION_DATA, req_id, e.order_id, *_contract_head(c), e.exec_id, time_str, e.account, e.exchange,
           e.side, e.shares, e.price, e.perm_id, e.client_id, 0, e.cum_qty, e.avg_price, e.order_ref, "", None,
           "", e.liquidity]  # liquidation ... evRule evMultiplier modelCode lastLiquidity
    if v >= V_PENDING_PRICE_REVISION:
        out.append(False)
    if v >= V_SUBMITTER:
        out.append("")
    return out


def execution_end(v: int, req_id: int) -> list:
    return [EXECUTION_DATA_END, 1, req_id]


def commission_report(v: int, e: SimExecution) -> list:
    # IB sends the "unset" double for realizedPNL on opening fills; an empty field decodes the same way.
    pnl = None if e.realized_pnl is None else float(e.realized_pnl)
    return [COMMISSION_REPORT, 1, e.exec_id, float(e.commission), "USD", pnl, None, None]
