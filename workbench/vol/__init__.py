"""Volatility toolkit: implied vols, greeks, parity forwards, the arbitrage-free price-space surface (default),
SVI/SSVI/eSSVI views, grids, plots, history.

>>> from workbench.vol import implied_vol, VolSurface, synthetic_chain
>>> chain, as_of = synthetic_chain()
>>> surf = VolSurface.from_chain(chain, as_of, symbol="SPX")   # doctest: +SKIP
"""

from workbench.vol.greeks import Greeks, black_greeks, bsm_greeks
from workbench.vol.iv import (
    IVStatus,
    black_price,
    bs_implied_vol,
    bs_price,
    bsm_implied_vol,
    bsm_price,
    implied_vol,
    implied_vol_status,
    iv_condition,
)
from workbench.vol.price_smile import PriceSmile
from workbench.vol.ssvi import SsviSurface, fit_ssvi
from workbench.vol.surface import Smile, VolSurface
from workbench.vol.svi import SviParams, fit_svi
from workbench.vol.synthetic import synthetic_chain

__all__ = [
    "Greeks", "IVStatus", "PriceSmile", "Smile", "SsviSurface", "SviParams", "VolSurface", "black_greeks", "black_price",
    "bs_implied_vol", "bs_price", "bsm_greeks", "bsm_implied_vol", "bsm_price", "fit_ssvi", "fit_svi",
    "implied_vol", "implied_vol_status", "iv_condition", "synthetic_chain",
]
