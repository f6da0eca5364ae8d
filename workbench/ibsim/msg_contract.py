"""Encoders for contract-definition messages: CONTRACT_DATA, sec-def option parameters, symbol samples."""

from __future__ import annotations

from collections.abc import Iterable

from .contracts import SimContract

CONTRACT_DATA = 10
CONTRACT_DATA_END = 52
SECURITY_DEFINITION_OPTION_PARAMETER = 75
SECURITY_DEFINITION_OPTION_PARAMETER_END = 76
SYMBOL_SAMPLES = 79

V_SIZE_RULES = 164  # version field dropped, minSize/sizeIncrement/suggestedSizeIncrement added
V_FRACTIONAL_SIZE = 163
V_FUND_DATA_FIELDS = 179
V_LAST_TRADE_DATE = 182
V_INELIGIBILITY_REASONS = 186
V_BOND_ISSUERID = 176


def contract_data(v: int, req_id: int, c: SimContract) -> list:
    """CONTRACT_DATA for STK/OPT/FUT/IND (bonds use BOND_CONTRACT_DATA, not simulated)."""
    out: list = [CONTRACT_DATA]
    if v < V_SIZE_RULES:
        out.append(8)
    out += [req_id, c.symbol, c.sec_type, c.expiry]
    if v >= V_LAST_TRADE_DATE:
        out.append(c.expiry)  # lastTradeDate
    out += [c.strike, c.right, c.exchange, c.currency, c.local_symbol, c.market_name, c.trading_class,
            c.con_id, c.min_tick]
    if v < V_SIZE_RULES:
        out.append(1)  # mdSizeMultiplier, obsolete
    out += [c.multiplier, c.order_types, c.valid_exchanges, c.price_magnifier, c.under_con_id,
            c.long_name, c.primary_exchange, c.expiry[:6] if c.sec_type in ("FUT", "OPT") else "",
            c.industry, c.category, c.subcategory, c.time_zone_id, c.trading_hours, c.liquid_hours,
            "", ""]  # evRule, evMultiplier
    out.append(len(c.sec_ids))
    for tag, value in c.sec_ids:
        out += [tag, value]
    out += [1, c.under_symbol, c.under_sec_type, c.market_rule_ids,
            c.expiry if c.sec_type in ("FUT", "OPT") else "", c.stock_type]
    if v == V_FRACTIONAL_SIZE:
        out.append(1)  # sizeMinTick (ibapi) / suggestedSizeIncrement (ib_async) at exactly v163
    if v >= V_SIZE_RULES:
        out += [1, 1, 100 if c.sec_type == "STK" else 1]  # minSize, sizeIncrement, suggestedSizeIncrement
    if v >= V_INELIGIBILITY_REASONS:
        out.append(0)
    return out


def contract_data_end(v: int, req_id: int) -> list:
    return [CONTRACT_DATA_END, 1, req_id]


def sec_def_opt_params(
    v: int, req_id: int, exchange: str, underlying_con_id: int, trading_class: str, multiplier: str,
    expirations: Iterable[str], strikes: Iterable[float],
) -> list:
    exps = sorted(expirations)
    ks = sorted(strikes)
    return [SECURITY_DEFINITION_OPTION_PARAMETER, req_id, exchange, underlying_con_id, trading_class,
            multiplier, len(exps), *exps, len(ks), *ks]


def sec_def_opt_params_end(v: int, req_id: int) -> list:
    return [SECURITY_DEFINITION_OPTION_PARAMETER_END, req_id]


def symbol_samples(v: int, req_id: int, contracts: list[SimContract], derivative_types: dict[int, list[str]]) -> list:
    out: list = [SYMBOL_SAMPLES, req_id, len(contracts)]
    for c in contracts:
        derivs = derivative_types.get(c.con_id, [])
        out += [c.con_id, c.symbol, c.sec_type, c.primary_exchange or c.exchange, c.currency, len(derivs), *derivs]
        if v >= V_BOND_ISSUERID:
            out += [c.long_name, ""]  # description, issuerId
    return out
