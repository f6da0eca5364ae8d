"""Prometheus metrics for the gate, kept as plain counters and read at scrape time.

A custom collector (rather than ``Counter.labels(...).inc()`` on every decision) keeps the hot path to
a dict increment and a bisect, which matters at 100k decisions/s; ``collect()`` turns the counters into
the standard families when the registry is scraped.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from workbench.risk._core import MetricsCore
from workbench.risk.types import Verdict

LATENCY_BUCKETS_S = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2)


class RiskMetrics(MetricsCore, Collector):
    """``risk_decisions_total{decision,reason}``, ``stormguard_state{scope}`` (0 NORMAL .. 3 HALT),
    ``risk_policy_mode`` and ``risk_decision_latency_seconds`` in :attr:`registry`."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        # verdict -> reasons tuple -> count: the gate's reason tuples are shared objects, so counting
        # one is a dict increment, not one per reason with a fresh key tuple.
        self._by: dict[str, dict[tuple, int]] = {v: {} for v in Verdict}
        self.storm: dict[str, int] = {"GLOBAL": 0}
        self.policy_mode = 0
        self.bad_feed: dict[str, int] = {}  # "quote" / "fill" -> events refused for a non-finite number
        self._set_bounds([int(b * 1e9) for b in LATENCY_BUCKETS_S])  # ``observe`` is compiled (_core.pyx)
        self._sum_ns = 0
        self.registry.register(self)

    @property
    def decisions(self) -> dict[tuple[str, str], int]:
        """(verdict, reason) -> decisions counted."""
        out: dict[tuple[str, str], int] = {}
        for verdict, by in self._by.items():
            for reasons, n in by.items():
                for r in reasons:
                    out[(verdict, r)] = out.get((verdict, r), 0) + n
        return out

    def collect(self):
        c = CounterMetricFamily("risk_decisions", "Risk gate decisions", labels=["decision", "reason"])
        for (verdict, reason), n in sorted(self.decisions.items()):
            c.add_metric([verdict, reason], n)
        yield c
        g = GaugeMetricFamily(
            "stormguard_state", "StormGuard state (0 NORMAL, 1 WARM, 2 STORM, 3 HALT)", labels=["scope"]
        )
        for scope, state in sorted(self.storm.items()):
            g.add_metric([scope], state)
        yield g
        bad = CounterMetricFamily("risk_bad_feed_events", "Feed events refused (bad number)", labels=["kind"])
        for kind, n in sorted(self.bad_feed.items()):
            bad.add_metric([kind], n)
        yield bad
        yield GaugeMetricFamily(
            "risk_policy_mode", "Policy mode (0 NORMAL .. 3 HARD_DERISK)", value=self.policy_mode
        )
        cum, buckets = 0, []
        for bound, n in zip(LATENCY_BUCKETS_S, self._counts, strict=False):
            cum += n
            buckets.append((repr(bound), cum))
        cum += self._counts[-1]
        buckets.append(("+Inf", cum))
        yield HistogramMetricFamily(
            "risk_decision_latency_seconds",
            "Gate decision latency",
            buckets=buckets,
            sum_value=self._sum_ns / 1e9,
        )
