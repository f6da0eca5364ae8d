"""The main job on the embedded default: generate -> ingest -> health -> vol surface -> backtests -> HTML report.

Offline and deterministic: the market comes from the seeded generator, so two runs produce the
same store contents, the same fills and the same numbers in the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nautilus_trader.config import ImportableStrategyConfig

from workbench.reports import Section, write_report

DEMO_STRATEGY = ImportableStrategyConfig(
    strategy_path="strategies.quote_reversion:QuoteReversion",
    config_path="strategies.quote_reversion:QuoteReversionConfig",
    config={"instrument_id": "DEMO.XNAS", "trade_size": 100, "max_position": 500, "entry_spreads": 3.0},
)


SHORT_PUT = ImportableStrategyConfig(
    strategy_path="strategies.short_put:ShortPutDeltaHedge",
    config_path="strategies.short_put:ShortPutConfig",
    config={"underlying_id": "DEMO.XNAS", "target_delta": -0.30, "contracts": 1},
)


FILL_COLUMNS = ["ts_event", "instrument_id", "order_side", "last_qty", "last_px", "commission", "liquidity_side"]


@dataclass
class DemoResult:
    report: Path
    market: Any
    health: Any
    backtest: Any
    options: Any = None
    surface: Any = None

    def summary(self) -> str:
        parts = [self.market.summary(), self.health.summary(), self.surface.summary(),
                 "quote reversion:\n" + self.backtest.summary().to_string()]
        if self.options is not None:
            parts.append("short put, delta-hedged:\n" + self.options.summary().to_string())
        return "\n\n".join([*parts, f"report: {self.report}"])


def run_demo(store: Any, out_dir: str | Path = "data/reports", *, log: Any = print) -> DemoResult:
    from workbench.engine import backtest
    from workbench.health import check_health
    from workbench.ingest.generator import MarketConfig, generate_market

    out_dir = Path(out_dir)
    log("1/4 generating the demo market (seeded) into the store ...")
    market = generate_market(store, MarketConfig())
    log("2/4 checking data health ...")
    health = check_health(store, market.underlying_id)
    from workbench.vol import VolSurface

    surface = VolSurface.from_store(store, market.underlying_id)
    log("3/4 backtesting strategies.quote_reversion and strategies.short_put on the demo market ...")
    result = backtest(DEMO_STRATEGY, [market.underlying_id], store=store)
    options = backtest(SHORT_PUT, {"instrument_ids": [market.underlying_id], "options_of": [market.underlying_id]},
                       store=store)
    tear = out_dir / "demo_tearsheet.html"
    result.tearsheet(tear)
    from workbench.node.paper_demo import paper_vs_backtest

    log("    the same strategy as a PAPER node on the simulator's replay of the demo session ...")
    entry = {"strategy_path": DEMO_STRATEGY.strategy_path, "config_path": DEMO_STRATEGY.config_path,
             "config": dict(DEMO_STRATEGY.config)}
    paper = paper_vs_backtest(store, entry, market.underlying_id, log=log)  # a failure is a note, not a crash
    log("4/4 writing the report ...")
    sections = [
        Section("Market", text=market.summary(), figure=market.plot()),
        Section("Data health", text=health.summary()),
        Section("Implied-vol surface (latest chain, SVI per expiry)", text=surface.summary(),
                figure=surface.plot_smile(0)),
        Section("Term structure", figure=surface.plot_term_structure()),
        Section("Backtest: quote mean reversion", table=result.summary(), figure=result.plot(),
                html=f"<p><a href='{tear.name}'>NautilusTrader tearsheet</a></p>"),
        Section("Fills (first 60)", table=result.fills.head(60)[FILL_COLUMNS]),
        Section("Backtest: 30-delta weekly short put, delta-hedged", table=options.summary(),
                figure=options.plot()),
        Section("Option strategy fills", table=options.fills[FILL_COLUMNS]),
        *paper,
    ]
    report = write_report(out_dir / "demo.html", "workbench demo", sections)
    return DemoResult(report, market, health, result, options, surface)
