"""The generating volatility surface of the demo market: SSVI with a power-law ``phi``, and
Black-Scholes-Merton prices and greeks computed from it.

Parameterisation (Gatheral & Jacquier, "Arbitrage-free SVI volatility surfaces", 2014)
------------------------------------------------------------------------------------
For log forward-moneyness ``k = ln(K / F_T)`` and the ATM total implied variance ``theta_T``::

    w(k, theta) = theta / 2 * (1 + rho * phi * k + sqrt((phi * k + rho)**2 + 1 - rho**2))
    phi(theta)  = eta / (theta**gamma * (1 + theta)**(1 - gamma))
    theta_T     = level * (sigma_inf**2 * T + (sigma_0**2 - sigma_inf**2) * (1 - exp(-kappa * T)) / kappa)
    sigma_imp(K, T) = sqrt(w(k, theta_T) / T)

``theta_T`` is the integrated variance of a mean-reverting variance path starting at ``sigma_0**2``
and reverting to ``sigma_inf**2``; its slope in ``T`` is a positive variance, so it strictly increases.

Why this is free of static arbitrage:

- calendar spreads (GJ Theorem 4.1): ``theta_T`` increases in ``T`` and ``theta * phi(theta) =
  eta * (theta / (1 + theta))**(1 - gamma)`` increases in ``theta`` with slope ``(1 - gamma) *
  phi / (1 + theta) <= phi <= phi * (1 + sqrt(1 - rho**2)) / rho**2``;
- butterflies (GJ Theorem 4.2): with ``0 < gamma <= 1/2`` and ``eta * (1 + |rho|) <= 2`` one has
  ``theta * phi * (1 + |rho|) < 2 < 4`` and ``theta * phi**2 * (1 + |rho|) <= eta**2 (1 + |rho|) <= 4``
  for every ``theta > 0`` (GJ Remark 4.4), so every slice has a non-negative Durrleman ``g(k)``.

:meth:`SSVI.admissibility` reports both butterfly quantities over a ``T`` grid, and
:meth:`SSVI.durrleman_g` evaluates the density condition directly, for tests and for the vol toolkit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import ndtr

SQRT_2PI = np.sqrt(2.0 * np.pi)


@dataclass(frozen=True, slots=True)
class SSVI:
    """An SSVI surface with a power-law ``phi`` and a mean-reverting ATM term structure (see module doc).

    The defaults give an equity-like surface: ATM vol ~21% short-dated rising to ~24% at a year,
    a negative skew of about -8 vol points per 10% log-moneyness at one month, flattening like
    ``T**-1/2``, and steep short-dated put wings.
    """

    rho: float = -0.7
    eta: float = 0.7
    gamma: float = 0.5
    sigma_0: float = 0.21
    sigma_inf: float = 0.24
    kappa: float = 2.0
    level: float = 1.0

    def __post_init__(self) -> None:
        if not -1.0 < self.rho < 1.0:
            raise ValueError(f"SSVI.rho must lie in (-1, 1), got {self.rho}")
        if not 0.0 < self.gamma <= 0.5:
            raise ValueError(f"SSVI.gamma must lie in (0, 0.5] for the power-law bounds, got {self.gamma}")
        if not 0.0 < self.eta * (1.0 + abs(self.rho)) <= 2.0:
            raise ValueError(f"SSVI.eta: need 0 < eta * (1 + |rho|) <= 2 (Gatheral-Jacquier), got "
                             f"eta={self.eta}, rho={self.rho}")
        for name in ("sigma_0", "sigma_inf", "kappa", "level"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"SSVI.{name} must be positive, got {getattr(self, name)}")

    def scaled(self, level: float) -> SSVI:
        """The same smile with ATM total variance multiplied by ``level`` (a uniform vol-level shift)."""
        return replace(self, level=self.level * level)

    # -- the surface -------------------------------------------------------------------------------
    def theta(self, T: np.ndarray | float) -> np.ndarray:
        """ATM total implied variance at year fraction ``T``."""
        T = np.asarray(T, dtype=float)
        v0, vinf = self.sigma_0**2, self.sigma_inf**2
        return self.level * (vinf * T + (v0 - vinf) * -np.expm1(-self.kappa * T) / self.kappa)

    def phi(self, theta: np.ndarray | float) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        return self.eta / (theta**self.gamma * (1.0 + theta) ** (1.0 - self.gamma))

    def total_variance(self, k: np.ndarray | float, T: np.ndarray | float) -> np.ndarray:
        """``w(k, theta_T)`` for log forward-moneyness ``k`` (broadcasts ``k`` against ``T``)."""
        k = np.asarray(k, dtype=float)
        theta = self.theta(T)
        phi = self.phi(theta)
        rho = self.rho
        return 0.5 * theta * (1.0 + rho * phi * k + np.sqrt((phi * k + rho) ** 2 + 1.0 - rho * rho))

    def implied_vol(self, k: np.ndarray | float, T: np.ndarray | float) -> np.ndarray:
        return np.sqrt(self.total_variance(k, T) / np.asarray(T, dtype=float))

    def durrleman_g(self, k: np.ndarray | float, T: np.ndarray | float) -> np.ndarray:
        """Durrleman's ``g(k)``; the risk-neutral density is ``>= 0`` iff ``g >= 0`` on the slice."""
        k = np.asarray(k, dtype=float)
        theta = self.theta(T)
        phi, rho = self.phi(theta), self.rho
        a = phi * k + rho
        s = np.sqrt(a * a + 1.0 - rho * rho)
        w = 0.5 * theta * (1.0 + rho * phi * k + s)
        w1 = 0.5 * theta * phi * (rho + a / s)
        w2 = 0.5 * theta * phi * phi * (1.0 - rho * rho) / s**3
        return (1.0 - k * w1 / (2.0 * w)) ** 2 - 0.25 * w1 * w1 * (1.0 / w + 0.25) + 0.5 * w2

    def admissibility(self, T: np.ndarray) -> dict[str, np.ndarray]:
        """The two Gatheral-Jacquier butterfly quantities on a ``T`` grid (must be < 4 and <= 4)."""
        theta = self.theta(T)
        phi = self.phi(theta)
        wing = 1.0 + abs(self.rho)
        return {"theta_phi": theta * phi * wing, "theta_phi2": theta * phi * phi * wing}


# -- Black-Scholes-Merton ----------------------------------------------------------------------------
def bsm_price(spot: float, strike: np.ndarray, T: np.ndarray, r: float, q: float, sigma: np.ndarray,
              is_call: np.ndarray) -> np.ndarray:
    """European BSM prices with continuous rate ``r`` and dividend yield ``q`` (all arrays broadcast)."""
    strike, T, sigma = np.asarray(strike, float), np.asarray(T, float), np.asarray(sigma, float)
    d1, d2, dq, dr = _d(spot, strike, T, r, q, sigma)
    call = spot * dq * ndtr(d1) - strike * dr * ndtr(d2)
    put = strike * dr * ndtr(-d2) - spot * dq * ndtr(-d1)
    return np.where(is_call, call, put)


def bsm_greeks(spot: float, strike: np.ndarray, T: np.ndarray, r: float, q: float, sigma: np.ndarray,
               is_call: np.ndarray) -> dict[str, np.ndarray]:
    """Vendor-style greeks: delta, gamma, vega per 1 vol point (0.01), theta per calendar day,
    rho per 1% of rate."""
    strike, T, sigma = np.asarray(strike, float), np.asarray(T, float), np.asarray(sigma, float)
    d1, d2, dq, dr = _d(spot, strike, T, r, q, sigma)
    pdf = np.exp(-0.5 * d1 * d1) / SQRT_2PI
    sqrt_t = np.sqrt(T)
    sign = np.where(is_call, 1.0, -1.0)
    delta = sign * dq * ndtr(sign * d1)
    gamma = dq * pdf / (spot * sigma * sqrt_t)
    vega = spot * dq * pdf * sqrt_t
    theta = (-spot * dq * pdf * sigma / (2.0 * sqrt_t) + sign * (q * spot * dq * ndtr(sign * d1)
             - r * strike * dr * ndtr(sign * d2)))
    rho = sign * strike * T * dr * ndtr(sign * d2)
    return {"delta": delta, "gamma": gamma, "vega": vega / 100.0, "theta": theta / 365.0, "rho": rho / 100.0}


def _d(spot: float, strike: np.ndarray, T: np.ndarray, r: float, q: float, sigma: np.ndarray):
    vol_t = sigma * np.sqrt(T)
    d1 = (np.log(spot / strike) + (r - q) * T) / vol_t + 0.5 * vol_t
    return d1, d1 - vol_t, np.exp(-q * T), np.exp(-r * T)
