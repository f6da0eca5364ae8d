"""A minimal, self-contained HTML report: titled sections of text, tables and plotly figures.

Plotly's JavaScript is embedded once (no network needed to open the report offline)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

STYLE = ("body{font-family:system-ui,-apple-system,sans-serif;margin:2rem auto;max-width:1200px;color:#222}"
         "h1{font-weight:600}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}"
         "table{border-collapse:collapse;font-size:12px}td,th{padding:2px 10px;border-bottom:1px solid #eee;"
         "text-align:right}th{background:#fafafa}pre{background:#f6f8fa;padding:.8rem;font-size:12px;"
         "overflow-x:auto}")


@dataclass(frozen=True)
class Section:
    title: str
    text: str | None = None          # preformatted text (summaries)
    table: pd.DataFrame | pd.Series | None = None
    figure: Any = None               # a plotly Figure
    html: str | None = None          # trusted HTML we generated ourselves (links)


def _render(section: Section, include_js: list[bool]) -> str:
    parts = [f"<h2>{html.escape(section.title)}</h2>"]
    if section.text:
        parts.append(f"<pre>{html.escape(section.text)}</pre>")
    if section.table is not None:
        table = section.table.to_frame() if isinstance(section.table, pd.Series) else section.table
        parts.append(table.to_html(border=0, max_rows=60, float_format=lambda v: f"{v:,.4g}"))
    if section.figure is not None:
        parts.append(section.figure.to_html(full_html=False, include_plotlyjs=include_js[0]))
        include_js[0] = False
    if section.html:
        parts.append(section.html)
    return "\n".join(parts)


def write_report(path: str | Path, title: str, sections: list[Section]) -> Path:
    """Write the report and return its path; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    include_js = [True]
    body = "\n".join(_render(s, include_js) for s in sections)
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>",
                    encoding="utf-8")
    return path
