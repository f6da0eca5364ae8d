"""Versioned schema migrations for the DuckDB store.

Each migration is applied once, in order, inside one transaction, and recorded in
``schema_version``. Never edit a released migration: append a new one.

Why no PRIMARY KEY on the big tables: DuckDB maintains an ART index per key, which makes bulk
inserts several times slower and memory-bound. Uniqueness of (instrument, time, seq) is enforced
by the merge logic in :meth:`workbench.store.writes.WritesMixin._merge` instead, inside the same transaction.
"""

from __future__ import annotations

CORE = """
CREATE SEQUENCE instrument_key_seq START 1;
CREATE TABLE instruments (
    instrument_id   VARCHAR PRIMARY KEY,
    ikey            INTEGER NOT NULL UNIQUE DEFAULT nextval('instrument_key_seq'),
    symbol          VARCHAR NOT NULL,
    asset_class     VARCHAR NOT NULL,   -- EQUITY | INDEX | OPTION | FUTURE
    venue           VARCHAR NOT NULL,
    currency        VARCHAR NOT NULL,
    underlying      VARCHAR,
    expiry          DATE,
    strike          DECIMAL(18, 6),
    "right"         VARCHAR,            -- C | P
    multiplier      INTEGER NOT NULL,
    style           VARCHAR,            -- AMERICAN | EUROPEAN
    price_increment DECIMAL(18, 6) NOT NULL,
    calendar        VARCHAR NOT NULL,   -- exchange_calendars name: XNYS, CMES
    source          VARCHAR,
    created_at      TIMESTAMPTZ DEFAULT now()
);

CREATE SEQUENCE ingest_id_seq START 1;
CREATE TABLE ingest_log (
    ingest_id       BIGINT PRIMARY KEY,
    source          VARCHAR NOT NULL,   -- lean | ivolatility | cboe | csv | generator | ib | test
    path            VARCHAR,
    sha256          VARCHAR,
    rows_in         BIGINT,
    rows_inserted   BIGINT,
    rows_unchanged  BIGINT,
    rows_revised    BIGINT,
    repairs         JSON,
    status          VARCHAR NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ
);

-- ts_event: bar OPEN time, UTC nanoseconds. price_type: TRADE | BID | ASK | MID.
CREATE TABLE bars (
    instrument_id   VARCHAR NOT NULL,
    bar_size        VARCHAR NOT NULL,
    price_type      VARCHAR NOT NULL,
    ts_event        BIGINT NOT NULL,
    open DOUBLE NOT NULL, high DOUBLE NOT NULL, low DOUBLE NOT NULL, close DOUBLE NOT NULL,
    volume          DOUBLE NOT NULL,
    source          VARCHAR NOT NULL,
    ingest_id       BIGINT NOT NULL,
    ikey            INTEGER NOT NULL    -- instruments.ikey: integer scans for coverage queries
);

-- seq orders events that share a timestamp, in source order.
CREATE TABLE quotes (
    instrument_id   VARCHAR NOT NULL,
    ts_event        BIGINT NOT NULL,
    seq             INTEGER NOT NULL,
    bid DOUBLE, ask DOUBLE, bid_size DOUBLE, ask_size DOUBLE,
    exchange        VARCHAR,
    source          VARCHAR NOT NULL,
    ingest_id       BIGINT NOT NULL
);

CREATE TABLE trades (
    instrument_id   VARCHAR NOT NULL,
    ts_event        BIGINT NOT NULL,
    seq             INTEGER NOT NULL,
    price DOUBLE NOT NULL, size DOUBLE NOT NULL,
    exchange        VARCHAR,
    condition       VARCHAR,
    source          VARCHAR NOT NULL,
    ingest_id       BIGINT NOT NULL
);

CREATE SEQUENCE snapshot_id_seq START 1;
CREATE TABLE chain_snapshots (
    snapshot_id      BIGINT PRIMARY KEY,
    underlying       VARCHAR NOT NULL,
    as_of            BIGINT NOT NULL,
    underlying_price DOUBLE,
    source           VARCHAR NOT NULL,
    ingest_id        BIGINT NOT NULL,
    UNIQUE (underlying, as_of, source)
);

CREATE TABLE chain_rows (
    snapshot_id     BIGINT NOT NULL,
    instrument_id   VARCHAR NOT NULL,
    expiry          DATE NOT NULL,
    strike          DOUBLE NOT NULL,
    "right"         VARCHAR NOT NULL,
    bid DOUBLE, ask DOUBLE, bid_size DOUBLE, ask_size DOUBLE, last DOUBLE,
    volume DOUBLE, open_interest DOUBLE,
    iv DOUBLE, delta DOUBLE, gamma DOUBLE, vega DOUBLE, theta DOUBLE, rho DOUBLE,
    forward DOUBLE
);

CREATE TABLE corporate_actions (
    instrument_id   VARCHAR NOT NULL,
    date            DATE NOT NULL,      -- factors apply to sessions on or before this date
    price_factor    DOUBLE NOT NULL,
    split_factor    DOUBLE NOT NULL,
    reference_price DOUBLE,
    source          VARCHAR NOT NULL,
    PRIMARY KEY (instrument_id, date)
);

CREATE TABLE open_interest (
    instrument_id   VARCHAR NOT NULL,
    ts_event        BIGINT NOT NULL,
    open_interest   DOUBLE NOT NULL,
    source          VARCHAR NOT NULL,
    ingest_id       BIGINT NOT NULL
);

-- A differing re-delivery of an existing row: kept here, never silently overwritten.
CREATE TABLE revisions (
    table_name      VARCHAR NOT NULL,
    key             JSON NOT NULL,
    old_values      JSON NOT NULL,
    new_values      JSON NOT NULL,
    ingest_id       BIGINT NOT NULL,
    recorded_at     TIMESTAMPTZ DEFAULT now()
);

CREATE SEQUENCE request_id_seq START 1;
CREATE TABLE request_ledger (
    request_id      BIGINT PRIMARY KEY,
    source          VARCHAR NOT NULL,
    request_key     VARCHAR NOT NULL,
    params          JSON,
    window_start    BIGINT,
    window_end      BIGINT,
    status          VARCHAR NOT NULL,   -- PENDING | DONE | FAILED | EMPTY
    rows            BIGINT,
    error           VARCHAR,
    requested_at    TIMESTAMPTZ NOT NULL,
    completed_at    TIMESTAMPTZ
);
"""

# (version, description, sql). Append only.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "core market-data tables", CORE),
    # when the chain file was downloaded (UTC ns; NULL when the source has no such time): as_of is the
    # session the quotes belong to, which for a file saved after the close or at a weekend is earlier
    (2, "chain snapshot download time", "ALTER TABLE chain_snapshots ADD COLUMN IF NOT EXISTS downloaded_at BIGINT;"),
]

