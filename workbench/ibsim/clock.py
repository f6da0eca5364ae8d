"""The simulated clock: exchange time that starts at a chosen instant and runs at a chosen speed.

Everything time-dependent in the simulator — quote replay, order latency, pacing windows — reads
this clock, never the wall clock, so a test can jump ten minutes ahead with :meth:`advance`
instead of sleeping, and a replay of 2013-10-07 behaves the same on any day it is run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

NS = 1_000_000_000


class SimClock:
    """``now_ns() = start_ns + speed * (wall elapsed) + manual offset``.

    ``speed=0`` freezes time (only :meth:`advance` moves it) — the mode used by deterministic tests.
    """

    def __init__(self, start_ns: int, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self._start_ns = int(start_ns)
        self._speed = float(speed)
        self._mono = monotonic
        self._t0 = monotonic()
        self._offset_ns = 0

    @property
    def speed(self) -> float:
        return self._speed

    def now_ns(self) -> int:
        return self._start_ns + self._offset_ns + int((self._mono() - self._t0) * self._speed * NS)

    def advance(self, seconds: float) -> int:
        """Move simulated time forward (never backward) and return the new time."""
        if seconds < 0:
            raise ValueError("the simulated clock cannot go backwards")
        self._offset_ns += int(seconds * NS)
        return self.now_ns()

    def set_speed(self, speed: float) -> None:
        """Change speed without a jump in simulated time."""
        now = self.now_ns()
        self._start_ns, self._offset_ns, self._t0, self._speed = now, 0, self._mono(), float(speed)

    def wall_seconds_until(self, target_ns: int) -> float:
        """Wall-clock seconds until simulated time reaches ``target_ns`` (inf when frozen)."""
        delta = target_ns - self.now_ns()
        if delta <= 0:
            return 0.0
        return float("inf") if self._speed == 0 else delta / NS / self._speed
