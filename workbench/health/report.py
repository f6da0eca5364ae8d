"""The result of a health run: findings with a severity, per instrument and check.

>>> report = check_health(store)
>>> report.summary()          # text, like ``arch`` results
>>> report.to_frame()         # one row per finding
>>> report.critical           # the CRITICAL findings (empty tuple when healthy)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

SEVERITIES = ("INFO", "WARN", "CRITICAL")
COLUMNS = ["severity", "check", "instrument_id", "count", "detail", "first_ts", "last_ts"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem (or noteworthy fact) about one instrument, or about an ingest when
    ``instrument_id`` is None. Times are UTC ns of the first/last affected row, when known."""

    severity: str
    check: str
    instrument_id: str | None
    count: int
    detail: str
    first_ts: int | None = None
    last_ts: int | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} not in {SEVERITIES}")


class HealthReport:
    """Findings of :func:`workbench.health.check_health`, most severe first."""

    def __init__(self, findings: list[Finding], instruments: list[str], scope: str = "all") -> None:
        rank = {s: i for i, s in enumerate(reversed(SEVERITIES))}
        self.findings = tuple(sorted(findings, key=lambda f: (rank[f.severity], f.check, f.instrument_id or "",
                                                              f.detail)))
        self.instruments = tuple(instruments)
        self.scope = scope

    @property
    def critical(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "CRITICAL")

    @property
    def ok(self) -> bool:
        return not self.critical

    def counts(self) -> dict[str, int]:
        return {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES}

    def to_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame([asdict(f) for f in self.findings], columns=COLUMNS)
        for col in ("first_ts", "last_ts"):
            frame[col] = pd.to_datetime(frame[col].astype("Int64"), unit="ns", utc=True)
        return frame

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "instruments": len(self.instruments), "counts": self.counts(),
                "ok": self.ok, "findings": [asdict(f) for f in self.findings]}

    def summary(self, limit: int = 40) -> str:
        c = self.counts()
        head = (f"Health report ({self.scope}): {len(self.instruments)} instrument(s) checked - "
                f"{c['CRITICAL']} critical, {c['WARN']} warnings, {c['INFO']} info")
        if not self.findings:
            return head + "\nno findings"
        frame = self.to_frame().head(limit)
        frame["instrument_id"] = frame["instrument_id"].fillna("-")
        text = frame[["severity", "check", "instrument_id", "count", "detail"]].to_string(index=False)
        more = len(self.findings) - limit
        return head + "\n" + text + (f"\n... {more} more" if more > 0 else "")

    def _repr_html_(self) -> str:
        """The :meth:`summary` text (findings are already computed: nothing is re-checked here)."""
        import html

        return f"<pre>{html.escape(self.summary())}</pre>"

    def plot(self) -> Any:
        """A bar chart of findings per check, coloured by severity (plotly)."""
        import plotly.express as px

        frame = self.to_frame()
        agg = frame.groupby(["check", "severity"], as_index=False)["count"].sum()
        colors = {"INFO": "#7f8c8d", "WARN": "#f39c12", "CRITICAL": "#c0392b"}
        return px.bar(agg, x="check", y="count", color="severity", color_discrete_map=colors, log_y=True,
                      title=f"Data health ({self.scope})")

    def __repr__(self) -> str:
        c = self.counts()
        return f"HealthReport({self.scope}: {c['CRITICAL']} critical, {c['WARN']} warn, {c['INFO']} info)"

    __str__ = summary
