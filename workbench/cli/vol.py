"""`wb vol surface SYMBOL [--asof T] [--out file.html]` and `wb vol history SYMBOL [--out file.html]`."""

from __future__ import annotations

import argparse
from typing import Any

from workbench.errors import WorkbenchError

EXCHANGE_TZ = "America/New_York"


def resolve_underlying(store: Any, symbol: str) -> str:
    """``SPX`` -> ``SPX.XCBO`` when exactly one stored chain underlying has that ticker; an id with a
    venue, or a ticker nothing matches, passes through; an ambiguous one is a one-line error listing the ids."""
    if "." in symbol:
        return symbol
    stored = sorted(set(store.chain_snapshots()["underlying"].astype(str)))
    hits = [u for u in stored if u.split(".", 1)[0].upper() == symbol.upper()]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise WorkbenchError(f"{symbol!r} is ambiguous: stored chains for {', '.join(hits)}", where="SYMBOL",
                             hint="pass the full id, e.g. " + hits[0])
    return symbol  # nothing matches: the reader's own "no chain snapshot" message names it


def _finite(flag: str, value: float | None) -> float | None:
    from workbench.numbers import is_finite

    if value is None or is_finite(value):
        return value
    raise WorkbenchError(f"{flag} must be a finite number, got {value!r}", where=flag)


def _positive(flag: str, value: float | None) -> float | None:
    from workbench.numbers import is_positive

    if value is None or is_positive(value):
        return value
    raise WorkbenchError(f"{flag} must be a positive finite price, got {value!r}", where=flag)


def exchange_time_ns(asof: str | None) -> int | None:
    """``--asof`` in UTC ns: a naive time is exchange-local (a user types the time on the exchange
    clock), one with an offset or ``Z`` is taken as given; unreadable -> one-line error."""
    if asof is None:
        return None
    import pandas as pd

    try:
        ts = pd.Timestamp(asof)
    except (ValueError, TypeError) as exc:
        raise WorkbenchError(f"unreadable --asof {asof!r} ({exc})", where="--asof",
                             hint="e.g. '2024-01-05 16:00' (exchange-local) or '2024-01-05T21:00Z'") from None
    if ts is pd.NaT:
        raise WorkbenchError(f"unreadable --asof {asof!r}", where="--asof")
    if ts.tzinfo is None:
        ts = ts.tz_localize(EXCHANGE_TZ)
    return int(ts.tz_convert("UTC").value)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("vol", help="implied-vol surfaces from stored option chains")
    s = p.add_subparsers(dest="vol_command", metavar="ACTION")
    surf = s.add_parser("surface", help="fit the surface of one stored chain snapshot")
    surf.add_argument("symbol", help="underlying, e.g. SPX or SPX.XCBO (a bare ticker resolves when unambiguous)")
    surf.add_argument("--asof", default=None,
                      help="snapshot time, latest at or before it (default latest); a naive time is exchange-local "
                           "(America/New_York), e.g. '2024-01-05 16:00'")
    surf.add_argument("--rate", type=float, default=None,
                      help="continuously compounded rate for expiries whose put-call parity fails "
                           "(default: the rate curve implied by the other expiries)")
    surf.add_argument("--min-tick", type=float, default=None,
                      help="minimum price increment below $3 (default by class: 0.01 penny classes, else 0.05)")
    surf.add_argument("--out", default=None, help="write an HTML report (plots) to this file")
    surf.add_argument("--no-save", action="store_true", help="do not persist the fit in vol_fits")
    surf.add_argument("--model", choices=("price", "svi", "essvi"), default="price",
                      help="price: arbitrage-free call prices fitted to the bid/ask band (default); svi: raw "
                           "SVI per expiry (persisted for 'wb vol history'); essvi (not persisted)")
    surf.set_defaults(handler=_surface)
    hist = s.add_parser("history", help="ATM 30d vol, 25d skew and term slope across stored snapshots")
    hist.add_argument("symbol")
    hist.add_argument("--refit", action="store_true", help="refit snapshots that already have a stored fit")
    hist.add_argument("--out", default=None, help="write an HTML plot to this file")
    hist.set_defaults(handler=_history)
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])


def _surface(args: argparse.Namespace) -> int:
    from workbench.store import Store
    from workbench.vol.history import save_surface
    from workbench.vol.surface import VolSurface

    with Store.open(args.store, must_exist=True) as store:
        symbol = resolve_underlying(store, args.symbol)
        try:
            surf = VolSurface.from_store(store, symbol, exchange_time_ns(args.asof), model=args.model,
                                         rate=_finite("--rate", args.rate),
                                         min_tick=_positive("--min-tick", args.min_tick) or "class")
        except (LookupError, ValueError) as exc:
            print(f"wb vol surface: {exc}")
            return 1
        if not args.no_save and args.model == "svi":  # history holds one model: the per-expiry SVI
            save_surface(store, surf)
    print(surf.summary())
    if args.out:
        surf.to_html(args.out)
        print(f"wrote {args.out}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from workbench.store import Store
    from workbench.vol.history import surface_history
    from workbench.vol.plots import history_figure

    with Store.open(args.store, must_exist=True) as store:
        hist = surface_history(store, resolve_underlying(store, args.symbol), refit=args.refit)
    if hist.empty:
        print(f"wb vol history: no stored chain snapshots for {args.symbol!r}")
        return 1
    print(hist.drop(columns=["as_of"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.out:
        history_figure(hist, args.symbol).write_html(args.out, include_plotlyjs="inline")
        print(f"wrote {args.out}")
    return 0
