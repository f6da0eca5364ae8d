"""Request handlers for contracts, orders, executions, positions and account data, and the
fan-out of broker events to sessions."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from . import msg_account as ma
from . import msg_contract as mc
from . import msg_core as m
from . import msg_orders as mo
from . import requests as rq
from .broker import Event, Reject
from .contracts import ContractQuery
from .h_market import resolve
from .histrules import format_ib_datetime

if TYPE_CHECKING:
    from .session import Session

NS = 1_000_000_000
EXEC_TZ = "America/New_York"
# Tags IB's account summary knows that are not monetary values (sent without a currency).
NON_MONETARY = {"Cushion", "DayTradesRemaining", "Leverage-S", "AccountType"}


# ---------------------------------------------------------------------- contracts


def req_contract_details(s: Session, c: rq.Cursor) -> None:
    req_id, q, _include_expired = rq.parse_contract_details(c, s.version)
    hits = s.gw.catalog.match(q)
    if not hits:
        raise Reject(200, "No security definition has been found for the request")
    for contract in hits:
        s.send(mc.contract_data(s.version, req_id, contract))
    s.send(mc.contract_data_end(s.version, req_id))


def req_sec_def_opt_params(s: Session, c: rq.Cursor) -> None:
    req_id = c.int("reqId")
    symbol = c.str("underlyingSymbol")
    fut_fop_exchange = c.str("futFopExchange")
    sec_type = c.str("underlyingSecType")
    con_id = c.int("underlyingConId")
    under = s.gw.catalog.get(con_id) if con_id else None
    if under is None:
        hits = [h for h in s.gw.catalog.match(ContractQuery(symbol=symbol, sec_type=sec_type)) if h.sec_type != "OPT"]
        under = hits[0] if hits else None
    if under is None:
        raise Reject(200, "No security definition has been found for the request")
    groups: dict[tuple, tuple[set, set]] = defaultdict(lambda: (set(), set()))
    for o in s.gw.catalog.options_of(under.con_id):
        exps, strikes = groups[(o.exchange, o.trading_class, o.multiplier)]
        exps.add(o.expiry)
        strikes.add(o.strike)
    for (exchange, tclass, mult), (exps, strikes) in sorted(groups.items()):
        if fut_fop_exchange and fut_fop_exchange != exchange:
            continue
        s.send(mc.sec_def_opt_params(s.version, req_id, exchange, under.con_id, tclass, mult, exps, strikes))
    s.send(mc.sec_def_opt_params_end(s.version, req_id))


def req_matching_symbols(s: Session, c: rq.Cursor) -> None:
    req_id = c.int("reqId")
    pattern = c.str("pattern").upper()
    cat = s.gw.catalog
    hits = [k for k in cat if k.sec_type in ("STK", "IND") and k.symbol.startswith(pattern)][:16]
    derivs = {k.con_id: (["OPT"] if cat.options_of(k.con_id) else []) for k in hits}
    s.send(mc.symbol_samples(s.version, req_id, hits, derivs))


# ---------------------------------------------------------------------- orders


def place_order(s: Session, c: rq.Cursor) -> None:
    req = rq.parse_place_order(c, s.version)
    gw = s.gw
    try:
        contract = resolve(s, req.contract, req.order_id)
        if req.what_if:
            w = gw.broker.what_if(req, contract)
            from .model import SimOrder

            o = SimOrder(req.order_id, s.client_id or 0, 0, gw.broker.account, contract.con_id, req.action,
                         req.total_qty, req.order_type, req.lmt_price, req.aux_price, req.tif, req.order_ref,
                         status="PreSubmitted")
            s.send(mo.open_order(s.version, o, contract, w))
            return
        gw.dispatch(gw.broker.place(req, s.client_id or 0, contract, gw.clock.now_ns()))
    except Reject as exc:
        s.error(req.order_id, exc.code, exc.text)


def cancel_order(s: Session, c: rq.Cursor) -> None:
    order_id = rq.parse_cancel_order(c, s.version)
    try:
        s.gw.dispatch(s.gw.broker.cancel(s.client_id or 0, order_id, s.gw.clock.now_ns()))
    except Reject as exc:
        s.error(order_id, exc.code, exc.text)


def req_global_cancel(s: Session, c: rq.Cursor) -> None:
    s.gw.dispatch(s.gw.broker.global_cancel(s.gw.clock.now_ns()))


def _send_open(s: Session, client_id: int | None) -> None:
    for o in s.gw.broker.orders(client_id=client_id, active=True):
        contract = s.gw.broker.contract(o.con_id)
        s.send(mo.open_order(s.version, o, contract))
        s.send(mo.order_status(s.version, o))
    s.send(mo.open_order_end(s.version))


def req_open_orders(s: Session, c: rq.Cursor) -> None:
    master = s.gw.config.master_client_id
    _send_open(s, None if s.client_id == master else s.client_id)


def req_all_open_orders(s: Session, c: rq.Cursor) -> None:
    _send_open(s, None)


def req_auto_open_orders(s: Session, c: rq.Cursor) -> None:
    c.skip()
    s.auto_open_orders = c.bool("autoBind") and s.client_id == 0


def req_completed_orders(s: Session, c: rq.Cursor) -> None:
    for o in s.gw.broker.orders(active=False):
        contract = s.gw.broker.contract(o.con_id)
        when = format_ib_datetime(o.completed_ns or o.submitted_ns, EXEC_TZ)
        s.send(mo.completed_order(s.version, o, contract, when, o.status))
    s.send(mo.completed_orders_end(s.version))


def req_ids(s: Session, c: rq.Cursor) -> None:
    s.send(m.next_valid_id(s.version, s.gw.broker.state.next_order_id))


def req_executions(s: Session, c: rq.Cursor) -> None:
    c.skip()
    req_id = c.int("reqId")
    f_client, f_acct, f_time = c.int("clientId"), c.str("acctCode"), c.str("time")
    f_symbol, f_sec, f_exch, f_side = c.str("symbol"), c.str("secType"), c.str("exchange"), c.str("side")
    since = 0
    if f_time:
        from .histrules import parse_ib_datetime

        since = parse_ib_datetime(f_time.replace("-", " ") if len(f_time) == 17 else f_time, EXEC_TZ)
    for e in s.gw.broker.state.executions:
        k = s.gw.broker.contract(e.con_id)
        if (f_client and e.client_id != f_client) or (f_acct and e.account != f_acct) or e.time_ns < since:
            continue
        if (f_symbol and k.symbol != f_symbol) or (f_sec and k.sec_type != f_sec) or (f_exch and e.exchange != f_exch):
            continue
        if f_side and e.side != {"BUY": "BOT", "SELL": "SLD"}.get(f_side, f_side):
            continue
        s.send(mo.execution(s.version, req_id, e, k, format_ib_datetime(e.time_ns, EXEC_TZ)))
        s.send(mo.commission_report(s.version, e))
    s.send(mo.execution_end(s.version, req_id))


# ---------------------------------------------------------------------- account & positions


def _positions(s: Session):
    for p in sorted(s.gw.broker.state.positions.values(), key=lambda p: p.con_id):
        yield p, s.gw.broker.contract(p.con_id)


def req_positions(s: Session, c: rq.Cursor) -> None:
    acct = s.gw.broker.account
    for p, k in _positions(s):
        s.send(ma.position(s.version, acct, k, p.qty, float(p.avg_cost)))
    s.send(ma.position_end(s.version))
    s.positions_sub = True


def cancel_positions(s: Session, c: rq.Cursor) -> None:
    s.positions_sub = False


def _summary_tags(spec: str) -> list[str] | None:
    """``None`` means every tag (IB's $LEDGER groups and AllTags behave the same here)."""
    tags = [t.strip() for t in spec.split(",") if t.strip()]
    return None if not tags or any(t.startswith("$LEDGER") for t in tags) else tags


def _send_summary(s: Session, req_id: int, tags: list[str] | None, end: bool) -> None:
    broker = s.gw.broker
    values = broker.account_tags()
    acct = broker.account
    wanted = tags if tags is not None else list(values)
    if tags is None or "AccountType" in tags:
        s.send(ma.account_summary(s.version, req_id, acct, "AccountType", "INDIVIDUAL", ""))
    for tag in wanted:
        if tag in values:
            s.send(ma.account_summary(s.version, req_id, acct, tag, values[tag],
                                      "" if tag in NON_MONETARY else "USD"))
    if end:
        s.send(ma.account_summary_end(s.version, req_id))


def req_account_summary(s: Session, c: rq.Cursor) -> None:
    c.skip()
    req_id = c.int("reqId")
    c.str("groupName")
    tags = _summary_tags(c.str("tags"))
    s.summary_subs[req_id] = tags
    _send_summary(s, req_id, tags, True)


def cancel_account_summary(s: Session, c: rq.Cursor) -> None:
    c.skip()
    s.summary_subs.pop(c.int("reqId"), None)


def _send_account_values(s: Session) -> None:
    broker = s.gw.broker
    acct = broker.account
    s.send(ma.account_value(s.version, "AccountCode", acct, "", acct))
    s.send(ma.account_value(s.version, "AccountType", "INDIVIDUAL", "", acct))
    for tag, value in broker.account_tags().items():
        s.send(ma.account_value(s.version, tag, value, "" if tag in NON_MONETARY else "USD", acct))
    for p, k in _positions(s):
        s.send(_portfolio_msg(s, p, k))
    now = format_ib_datetime(s.gw.clock.now_ns(), EXEC_TZ)
    s.send(ma.account_update_time(s.version, now[9:14]))


def _portfolio_msg(s: Session, p, k) -> list:
    mark = s.gw.broker.mark(k.con_id)
    unit = Decimal(str(mark)) * k.multiplier_value if mark is not None else p.avg_cost
    value = unit * p.qty
    return ma.portfolio_value(s.version, k, p.qty, float(mark or 0.0), float(round(value, 2)), float(p.avg_cost),
                              float(round((unit - p.avg_cost) * p.qty, 2)), float(p.realized), s.gw.broker.account)


def req_account_updates(s: Session, c: rq.Cursor) -> None:
    c.skip()
    subscribe = c.bool("subscribe")
    s.account_updates = subscribe
    if subscribe:
        _send_account_values(s)
        s.send(ma.account_download_end(s.version, s.gw.broker.account))


def req_account_updates_multi(s: Session, c: rq.Cursor) -> None:
    c.skip()
    req_id = c.int("reqId")
    acct = s.gw.broker.account
    for tag, value in s.gw.broker.account_tags().items():
        s.send(ma.account_update_multi(s.version, req_id, acct, "", tag, value, "" if tag in NON_MONETARY else "USD"))
    s.send(ma.account_update_multi_end(s.version, req_id))
    s.multi_subs.add(req_id)


def cancel_account_updates_multi(s: Session, c: rq.Cursor) -> None:
    c.skip()
    s.multi_subs.discard(c.int("reqId"))


def req_managed_accts(s: Session, c: rq.Cursor) -> None:
    s.send(m.managed_accounts(s.version, [s.gw.broker.account]))


def req_current_time(s: Session, c: rq.Cursor) -> None:
    s.send(m.current_time(s.version, s.gw.clock.now_ns() // NS))


def req_current_time_in_millis(s: Session, c: rq.Cursor) -> None:
    s.send(m.current_time_in_millis(s.version, s.gw.clock.now_ns() // 1_000_000))


# ---------------------------------------------------------------------- event fan-out


def emit_event(s: Session, ev: Event) -> None:
    broker = s.gw.broker
    if ev.kind == "order":
        k = broker.contract(ev.order.con_id)
        s.send(mo.order_status(s.version, ev.order))
        s.send(mo.open_order(s.version, ev.order, k))
    elif ev.kind == "exec":
        e = ev.execution
        k = broker.contract(e.con_id)
        s.send(mo.execution(s.version, -1, e, k, format_ib_datetime(e.time_ns, EXEC_TZ)))
        s.send(mo.commission_report(s.version, e))
    elif ev.kind == "error":
        s.error(ev.req_id, ev.code, ev.text)


def emit_position_update(s: Session, con_id: int) -> None:
    if not s.started:
        return
    p = s.gw.broker.state.positions.get(con_id)
    if p is None:
        return
    k = s.gw.broker.contract(con_id)
    if s.positions_sub:
        s.send(ma.position(s.version, s.gw.broker.account, k, p.qty, float(p.avg_cost)))
    if s.account_updates:
        s.send(_portfolio_msg(s, p, k))


def emit_account_update(s: Session) -> None:
    if not s.started:
        return
    for req_id, tags in s.summary_subs.items():
        _send_summary(s, req_id, tags, False)
    if s.account_updates:
        acct = s.gw.broker.account
        for tag, value in s.gw.broker.account_tags().items():
            s.send(ma.account_value(s.version, tag, value, "" if tag in NON_MONETARY else "USD", acct))


HANDLERS = {
    rq.REQ_CONTRACT_DATA: req_contract_details, rq.REQ_SEC_DEF_OPT_PARAMS: req_sec_def_opt_params,
    rq.REQ_MATCHING_SYMBOLS: req_matching_symbols, rq.PLACE_ORDER: place_order, rq.CANCEL_ORDER: cancel_order,
    rq.REQ_GLOBAL_CANCEL: req_global_cancel, rq.REQ_OPEN_ORDERS: req_open_orders,
    rq.REQ_ALL_OPEN_ORDERS: req_all_open_orders, rq.REQ_AUTO_OPEN_ORDERS: req_auto_open_orders,
    rq.REQ_COMPLETED_ORDERS: req_completed_orders, rq.REQ_IDS: req_ids, rq.REQ_EXECUTIONS: req_executions,
    rq.REQ_POSITIONS: req_positions, rq.CANCEL_POSITIONS: cancel_positions,
    rq.REQ_ACCOUNT_SUMMARY: req_account_summary, rq.CANCEL_ACCOUNT_SUMMARY: cancel_account_summary,
    rq.REQ_ACCT_DATA: req_account_updates, rq.REQ_ACCOUNT_UPDATES_MULTI: req_account_updates_multi,
    rq.CANCEL_ACCOUNT_UPDATES_MULTI: cancel_account_updates_multi, rq.REQ_MANAGED_ACCTS: req_managed_accts,
    rq.REQ_CURRENT_TIME: req_current_time, rq.REQ_CURRENT_TIME_IN_MILLIS: req_current_time_in_millis,
}
