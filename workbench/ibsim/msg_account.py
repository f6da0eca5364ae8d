"""Encoders for account, portfolio and position messages."""

from __future__ import annotations

from decimal import Decimal

from .contracts import SimContract

ACCT_VALUE = 6
PORTFOLIO_VALUE = 7
ACCT_UPDATE_TIME = 8
ACCT_DOWNLOAD_END = 54
POSITION_DATA = 61
POSITION_END = 62
ACCOUNT_SUMMARY = 63
ACCOUNT_SUMMARY_END = 64
ACCOUNT_UPDATE_MULTI = 73
ACCOUNT_UPDATE_MULTI_END = 74


def account_value(v: int, key: str, value: str, currency: str, account: str) -> list:
    return [ACCT_VALUE, 2, key, value, currency, account]


def portfolio_value(
    v: int, c: SimContract, position: Decimal, market_price: float, market_value: float, average_cost: float,
    unrealized_pnl: float, realized_pnl: float, account: str,
) -> list:
    return [PORTFOLIO_VALUE, 8, c.con_id, c.symbol, c.sec_type, c.expiry, c.strike, c.right, c.multiplier,
            c.primary_exchange, c.currency, c.local_symbol, c.trading_class, position, market_price,
            market_value, average_cost, unrealized_pnl, realized_pnl, account]


def account_update_time(v: int, hhmm: str) -> list:
    return [ACCT_UPDATE_TIME, 1, hhmm]


def account_download_end(v: int, account: str) -> list:
    return [ACCT_DOWNLOAD_END, 1, account]


def position(v: int, account: str, c: SimContract, qty: Decimal, avg_cost: float) -> list:
    return [POSITION_DATA, 3, account, c.con_id, c.symbol, c.sec_type, c.expiry, c.strike, c.right,
            c.multiplier, c.exchange, c.currency, c.local_symbol, c.trading_class, qty, avg_cost]


def position_end(v: int) -> list:
    return [POSITION_END, 1]


def account_summary(v: int, req_id: int, account: str, tag: str, value: str, currency: str) -> list:
    return [ACCOUNT_SUMMARY, 1, req_id, account, tag, value, currency]


def account_summary_end(v: int, req_id: int) -> list:
    return [ACCOUNT_SUMMARY_END, 1, req_id]


def account_update_multi(v: int, req_id: int, account: str, model_code: str, key: str, value: str,
                         currency: str) -> list:
    return [ACCOUNT_UPDATE_MULTI, 1, req_id, account, model_code, key, value, currency]


def account_update_multi_end(v: int, req_id: int) -> list:
    return [ACCOUNT_UPDATE_MULTI_END, 1, req_id]
