"""One loader for stored data: the backtest's engine and the replay's Feed get the same objects in the
same order (quotes, trades, bars per instrument; extra instruments registered without data)."""

from __future__ import annotations

from workbench.engine.backtest import build_engine, load_batches, load_into
from workbench.engine.config import DataSpec, VenueSpec
from workbench.engine.stepper import Feed
from workbench.ingest.generator import MarketConfig, generate_market


def test_backtest_and_replay_share_one_loader(store):
    generate_market(store, MarketConfig(n_sessions=1))
    options = sorted(store.instruments(asset_class="OPTION")["instrument_id"])
    data = DataSpec.coerce({"instrument_ids": ["DEMO.XNAS", options[0]], "extra_instruments": [options[1]],
                            "trades": True, "bars": ["1min"], "start": "2024-03-04 14:30", "end": "2024-03-04 15:00"})

    instruments, batches = load_batches(store, data)
    assert [str(i.id) for i in instruments] == sorted(["DEMO.XNAS", *options[:2]])
    kinds = [(str(b.instrument.id), b.kind) for b in batches]
    assert kinds == sorted([(options[0], "quotes"), (options[0], "trades"), (options[0], "bars"),
                            ("DEMO.XNAS", "quotes"), ("DEMO.XNAS", "trades"), ("DEMO.XNAS", "bars")],
                           key=lambda k: (k[0], ["quotes", "trades", "bars"].index(k[1])))
    demo = {b.kind: b for b in batches if str(b.instrument.id) == "DEMO.XNAS"}
    assert all(len(demo[k].items) == demo[k].table.num_rows > 0 for k in ("quotes", "trades", "bars"))

    engine = build_engine(VenueSpec(), ["XNAS", options[0].rsplit(".", 1)[1]], "OFF")
    n = load_into(engine, store, data)
    feed = Feed(store, data)
    assert n == len(feed.items) == sum(len(b.items) for b in batches)
    # the engine's sorted stream and the replay's are the same objects in the same order
    assert [repr(d) for d in engine.data] == [repr(d) for d in feed.items]
    assert feed.venues == sorted({str(i.id.venue) for i in instruments})
    engine.dispose()
