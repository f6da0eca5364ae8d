"""The node's circuit breaker: repeated broker rejects stop new orders until the broker takes one again.

States (docs/node.md, "Broker faults and the circuit breaker")::

    CLOSED --(``rejects`` OrderRejected within ``window_s``)--> OPEN
    OPEN --(``cooldown_s`` later)--> HALF_OPEN: the next order is the one trial; more wait behind it
    HALF_OPEN --(trial accepted or filled)--> CLOSED     --(trial rejected)--> OPEN (cool-down again)

The breaker acts through the gate, so a refusal is an ordinary journaled decision: while OPEN (and while
a trial is in flight) every strategy of the node is disabled in the gate with the breaker's reason (a
``STRATEGY`` risk event, journaled), new intents are refused ``STRATEGY_DISABLED``; cancels still pass.
Only broker rejects count (``OrderRejected``), not the gate's own refusals nor nautilus's denials: those
are decided locally and say nothing about the broker. Everything runs on the node's event loop (message
bus handler, ``call_later``); the HTTP thread reads :meth:`check` only.
"""

from __future__ import annotations

import time
from collections import deque
from enum import IntEnum

BY = "circuit-breaker"


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """See the module docstring. ``call_later(seconds, fn)`` schedules on the node's loop; ``clock`` is
    monotonic seconds (wall time: a broker's reject burst is a wall-time event, not a market one)."""

    def __init__(self, gate, strategy_ids, *, rejects: int, window_s: float, cooldown_s: float,
                 call_later, clock=time.monotonic, counters=None, log=None):
        if rejects < 1 or not (window_s > 0) or not (cooldown_s > 0):  # NaN-safe
            raise ValueError(f"circuit breaker: rejects >= 1 and positive window/cool-down needed, got "
                             f"{rejects}, {window_s}, {cooldown_s}")
        self.gate, self.strategy_ids = gate, sorted(strategy_ids)
        self.rejects, self.window_s, self.cooldown_s = rejects, window_s, cooldown_s
        self._call_later, self._clock = call_later, clock
        self.counters, self.log = counters, log
        self.state = BreakerState.CLOSED
        self.trial: str | None = None  # client order id of the half-open trial order
        self.opens = 0
        self._times: deque[float] = deque()
        self._disabled: list[str] = []  # the strategies this breaker disabled (re-enabled on close)
        self._timer = None
        self._publish()

    @classmethod
    def for_node(cls, node, gate, strategies, cfg, counters=None, log=None) -> CircuitBreaker:
        """Wired to a built TradingNode: listens to its order events, schedules on its loop."""
        breaker = cls(gate, [s.id.value for s in strategies], rejects=cfg.breaker_rejects,
                      window_s=cfg.breaker_window_s, cooldown_s=cfg.breaker_cooldown_s,
                      call_later=node.kernel.loop.call_later, counters=counters, log=log)
        node.kernel.msgbus.subscribe(topic="events.order.*", handler=breaker.on_event)
        return breaker

    # -- events (node loop) ----------------------------------------------------------------------
    def on_event(self, ev) -> None:
        name = type(ev).__name__
        coid = ev.client_order_id.value
        if ev.strategy_id.value not in self.strategy_ids:
            return
        if name == "OrderInitialized":
            if not ev.reconciliation and self.state is BreakerState.HALF_OPEN and self.trial is None:
                self.trial = coid  # one trial: the rest wait until the broker has answered it
                self._disable(f"half-open: trial order {coid} in flight")
                self._note("trial", client_order_id=coid)
            return
        if coid == self.trial:
            if name in ("OrderAccepted", "OrderFilled"):
                self._close(f"trial order {coid} accepted")
            elif name == "OrderRejected":
                self._open(f"trial order {coid} rejected: {getattr(ev, 'reason', '')}")
            elif name in ("OrderCanceled", "OrderExpired", "OrderDenied"):
                self.trial = None  # no verdict from the broker: the next order is the trial
                self._enable()
            return
        if name == "OrderRejected" and self.state is BreakerState.CLOSED:
            now = self._clock()
            self._times.append(now)
            while self._times and now - self._times[0] > self.window_s:
                self._times.popleft()
            if len(self._times) >= self.rejects:
                self._open(f"{len(self._times)} broker rejects within {self.window_s:g}s "
                           f"(last: {getattr(ev, 'reason', '')})")

    # -- transitions -------------------------------------------------------------------------------
    def _open(self, why: str) -> None:
        self.state, self.trial = BreakerState.OPEN, None
        self._times.clear()
        self.opens += 1
        if self.counters is not None:
            self.counters.counts["breaker_opens"] += 1
        self._disable(f"circuit breaker open: {why}")
        self._note("open", reason=why, cooldown_s=self.cooldown_s)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._call_later(self.cooldown_s, self._half_open)

    def _half_open(self) -> None:
        self._timer = None
        if self.state is not BreakerState.OPEN:
            return
        self.state = BreakerState.HALF_OPEN
        self._note("half_open")
        self._enable()

    def _close(self, why: str) -> None:
        self.state, self.trial = BreakerState.CLOSED, None
        self._note("closed", reason=why)
        self._enable()

    def release(self) -> None:
        """At stop: new orders are the stop's closes, which must reach the broker whatever it did before."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.state is not BreakerState.CLOSED:
            self._close("node stopping")

    # -- the gate ---------------------------------------------------------------------------------
    def _disable(self, reason: str) -> None:
        for sid in self.strategy_ids:
            if sid in self._disabled or not self.gate.is_enabled(sid):
                continue  # an operator's disable is the operator's to lift, never the breaker's
            self.gate.set_enabled(sid, False, reason, by=BY)
            self._disabled.append(sid)
        self._publish()

    def _enable(self) -> None:
        for sid in self._disabled:
            self.gate.set_enabled(sid, True, f"circuit breaker {self.state.name.lower()}", by=BY)
        self._disabled = []
        self._publish()

    def _publish(self) -> None:
        if self.counters is not None:
            self.counters.breaker_state = int(self.state)

    def _note(self, event: str, **fields) -> None:
        if self.log is not None:
            self.log.write("breaker", event=event, state=self.state.name, **fields)

    # -- /ready -----------------------------------------------------------------------------------
    def check(self) -> str | None:
        """A /ready check: the reason while the breaker is not closed, else None."""
        if self.state is BreakerState.OPEN:
            return "circuit breaker open: new orders refused (broker rejects)"
        if self.state is BreakerState.HALF_OPEN:
            return "circuit breaker half-open: " + (f"trial order {self.trial} in flight" if self.trial
                                                     else "waiting for a trial order")
        return None
