"""IB's request limits, enforced on the simulated clock.

* Historical data (error 162 "pacing violation"): an identical request within 15 s; six or more
  requests for the same contract, exchange and tick type within 2 s; more than 60 requests in any
  10-minute window.
* Message rate (error 100): more than ``max_msgs_per_s`` (50) client messages in one second.

Only requests that pass are recorded (IB counts rejected requests too, but recording them would
make one violation cascade into a 10-minute lockout, which real TWS does not do).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

NS = 1_000_000_000

PACING_TEXT = "Historical Market Data Service error message:Historical data request pacing violation"


@dataclass(frozen=True)
class PacingLimits:
    identical_window_s: float = 15.0
    burst_window_s: float = 2.0
    burst_max: int = 5  # six or more within the burst window is a violation
    long_window_s: float = 600.0
    long_max: int = 60
    max_msgs_per_s: int = 50


class HistoricalPacer:
    """Decides whether a historical request would violate IB's pacing rules at time ``now_ns``."""

    def __init__(self, limits: PacingLimits | None = None) -> None:
        self.limits = limits or PacingLimits()
        self._all: deque[int] = deque()
        self._by_key: dict[tuple, deque[int]] = {}
        self._identical: dict[tuple, int] = {}
        self.violations = 0

    def check(self, now_ns: int, identity: tuple, key: tuple) -> str | None:
        """Return ``None`` and record the request if allowed, else the reason it is not.

        ``identity`` is the full request (contract, end, duration, bar size, what, rth); ``key`` is
        (contract, exchange, tick type)."""
        lim = self.limits
        self._expire(now_ns)
        last = self._identical.get(identity)
        if last is not None and now_ns - last < lim.identical_window_s * NS:
            self.violations += 1
            return f"identical request within {lim.identical_window_s:g} s"
        same = self._by_key.get(key)
        if same is not None and len(same) >= lim.burst_max:
            self.violations += 1
            return f"{lim.burst_max + 1} or more requests for the same contract/tick type within {lim.burst_window_s:g} s"
        if len(self._all) >= lim.long_max:
            self.violations += 1
            return f"more than {lim.long_max} requests within {lim.long_window_s:g} s"
        self._all.append(now_ns)
        self._by_key.setdefault(key, deque()).append(now_ns)
        self._identical[identity] = now_ns
        return None

    def _expire(self, now_ns: int) -> None:
        lim = self.limits
        while self._all and now_ns - self._all[0] >= lim.long_window_s * NS:
            self._all.popleft()
        for q in self._by_key.values():
            while q and now_ns - q[0] >= lim.burst_window_s * NS:
                q.popleft()
        cutoff = now_ns - lim.identical_window_s * NS
        if len(self._identical) > 1000:
            self._identical = {k: t for k, t in self._identical.items() if t > cutoff}


class MessageRateLimiter:
    """Counts client messages in a sliding one-second window.

    IB's 50 msg/s limit protects TWS itself, so it is measured on the wall clock (the session
    passes ``time.monotonic()``), unlike historical pacing which follows the simulated clock."""

    def __init__(self, max_per_s: int = 50) -> None:
        self.max_per_s = max_per_s
        self._times: deque[float] = deque()

    def allow(self, now_s: float) -> bool:
        while self._times and now_s - self._times[0] >= 1.0:
            self._times.popleft()
        if self.max_per_s and len(self._times) >= self.max_per_s:
            return False
        self._times.append(now_s)
        return True
