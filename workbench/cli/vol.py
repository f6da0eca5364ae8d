"""`wb vol surface SYMBOL [--asof T] [--out file.html]` and `wb vol history SYMBOL [--out file.html]`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("vol", help="implied-vol surfaces from stored option chains")
    s = p.add_subparsers(dest="vol_command", metavar="ACTION")
    surf = s.add_parser("surface", help="fit the surface of one stored chain snapshot")
    surf.add_argument("symbol", help="underlying, e.g. SPX")
    surf.add_argument("--asof", default=None, help="snapshot time (latest at or before it; default latest)")
    surf.add_argument("--out", default=None, help="write an HTML report (plots) to this file")
    surf.add_argument("--no-save", action="store_true", help="do not persist the fit in vol_fits")
    surf.add_argument("--model", choices=("svi", "essvi"), default="svi",
                      help="raw SVI per expiry (default, persisted for history) or eSSVI (not persisted)")
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

    with Store.open(args.store) as store:
        try:
            surf = VolSurface.from_store(store, args.symbol, args.asof, model=args.model)
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

    with Store.open(args.store) as store:
        hist = surface_history(store, args.symbol, refit=args.refit)
    if hist.empty:
        print(f"wb vol history: no stored chain snapshots for {args.symbol!r}")
        return 1
    print(hist.drop(columns=["as_of"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.out:
        history_figure(hist, args.symbol).write_html(args.out, include_plotlyjs="inline")
        print(f"wrote {args.out}")
    return 0
