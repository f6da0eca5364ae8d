"""Strategy modules. Each is a nautilus ``Strategy`` with a frozen config, referenced by
``ImportableStrategyConfig(strategy_path="strategies.<module>:<Class>", config_path=...)`` from a
notebook, a backtest config in ``config/``, or a live node config — unchanged."""
