"""DuckDB tables of the risk layer. Plain DDL so the store's migrations can fold it in verbatim."""

RISK_DDL = """
CREATE TABLE IF NOT EXISTS risk_decisions (
    run_id          VARCHAR NOT NULL,
    decision_seq    BIGINT NOT NULL,
    intent_id       VARCHAR NOT NULL,
    client_order_id VARCHAR,
    strategy_id     VARCHAR NOT NULL,
    instrument_id   VARCHAR NOT NULL,
    action          VARCHAR NOT NULL,
    side            VARCHAR NOT NULL,
    qty             DECIMAL(38, 10) NOT NULL,
    price           DECIMAL(38, 10),
    approved_qty    DECIMAL(38, 10),
    tag             VARCHAR,
    verdict         VARCHAR NOT NULL,
    reasons         VARCHAR[] NOT NULL,
    validator_values VARCHAR NOT NULL,
    changes         VARCHAR NOT NULL,
    config_version  INTEGER NOT NULL,
    storm_state     VARCHAR NOT NULL,
    policy_mode     VARCHAR NOT NULL,
    ts_event        BIGINT NOT NULL,
    wall_ns         BIGINT NOT NULL,
    PRIMARY KEY (run_id, decision_seq)
);
CREATE TABLE IF NOT EXISTS risk_events (
    run_id   VARCHAR NOT NULL,
    kind     VARCHAR NOT NULL,
    scope    VARCHAR NOT NULL,
    old      VARCHAR,
    new      VARCHAR,
    reason   VARCHAR,
    ts_event BIGINT,
    wall_ns  BIGINT NOT NULL,
    detail   VARCHAR
);
CREATE TABLE IF NOT EXISTS risk_fills (
    run_id          VARCHAR NOT NULL,
    fill_id         VARCHAR NOT NULL,
    client_order_id VARCHAR,
    strategy_id     VARCHAR NOT NULL,
    instrument_id   VARCHAR NOT NULL,
    side            VARCHAR NOT NULL,
    qty             DECIMAL(38, 10) NOT NULL,
    price           DECIMAL(38, 10) NOT NULL,
    ts_event        BIGINT NOT NULL,
    PRIMARY KEY (run_id, fill_id)
);
CREATE TABLE IF NOT EXISTS risk_order_events (
    run_id          VARCHAR NOT NULL,
    event_seq       BIGINT NOT NULL,
    client_order_id VARCHAR NOT NULL,
    strategy_id     VARCHAR,
    instrument_id   VARCHAR NOT NULL,
    side            VARCHAR,
    kind            VARCHAR NOT NULL,
    ts_event        BIGINT NOT NULL,
    ts_recv         BIGINT NOT NULL,
    qty             DOUBLE,
    price           DOUBLE,
    commission      DOUBLE,
    reason          VARCHAR,
    md_ts           BIGINT,
    md_bid          DOUBLE,
    md_ask          DOUBLE,
    PRIMARY KEY (run_id, event_seq)
);
CREATE TABLE IF NOT EXISTS risk_runs (
    run_id     VARCHAR PRIMARY KEY,
    mode       VARCHAR NOT NULL,
    started_ns BIGINT NOT NULL,
    ended_ns   BIGINT,
    label      VARCHAR,
    marks      VARCHAR
);
CREATE TABLE IF NOT EXISTS risk_config_versions (
    version      INTEGER PRIMARY KEY,
    content_hash VARCHAR NOT NULL,
    config_text  VARCHAR NOT NULL,
    applied_by   VARCHAR NOT NULL,
    applied_at   TIMESTAMPTZ NOT NULL,
    reason       VARCHAR NOT NULL,
    source       VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS risk_control (
    seq        BIGINT PRIMARY KEY,
    command    VARCHAR NOT NULL,
    scope      VARCHAR NOT NULL,
    reason     VARCHAR NOT NULL,
    issued_by  VARCHAR NOT NULL,
    issued_at  TIMESTAMPTZ NOT NULL
);
"""


# Columns added after the first stores were written: (table, column, type). Added in place by
# ensure_schema, so a store from before them still opens; their rows read as NULL there.
ADDED_COLUMNS = (
    ("risk_decisions", "match_key", "VARCHAR"),  # OrderIntent.match_key: the cross-run decision identity
    ("risk_decisions", "md_ts", "BIGINT"),  # the quote the decision saw: exchange time (ns), bid, ask
    ("risk_decisions", "md_bid", "DOUBLE"),
    ("risk_decisions", "md_ask", "DOUBLE"),
    ("risk_runs", "first_quotes", "VARCHAR"),  # each instrument's first quote the run saw (JSON, like marks)
)


# Columns renamed since: (table, old, new, type). A store from before the rename gets the new column in
# place, filled from the old one, whose NOT NULL is dropped so rows written without it still insert
# (risk_order_events' ``ts_init`` became ``ts_recv``: the node's clock, not the sandbox exchange's).
RENAMED_COLUMNS = (("risk_order_events", "ts_init", "ts_recv", "BIGINT"),)


def columns(con) -> dict[str, set[str]]:
    """Each table of the current schema -> its column names (what a reader of an older store checks)."""
    out: dict[str, set[str]] = {}
    for t, c in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                            "WHERE schema_name = current_schema()").fetchall():
        out.setdefault(t, set()).add(c)
    return out


def ensure_schema(con) -> None:
    """Create the risk tables if missing and add later columns to older ones (idempotent)."""
    con.execute(RISK_DDL)
    have = columns(con)
    for table, column, typ in ADDED_COLUMNS:
        if column not in have.get(table, ()):
            con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {typ}")
    for table, old, column, typ in RENAMED_COLUMNS:
        if old in have.get(table, ()):  # every step idempotent: an interrupted migration completes next time
            con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {typ}")
            con.execute(f"UPDATE {table} SET {column} = {old} WHERE {column} IS NULL")
            con.execute(f"ALTER TABLE {table} ALTER COLUMN {old} DROP NOT NULL")
