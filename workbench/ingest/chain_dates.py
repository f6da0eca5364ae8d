"""Download-time lines of chain files, in whatever locale the downloader's browser used, and the
session close a snapshot belongs to.

Cboe's ``Date:`` line follows the browser locale and the site version (``February 5 2022, 8:09 PM
EST``, ``July 9, 2022 at 5:28 p.m. EDT``, ``15 de marzo de 2023, 11:55 GMT-4``, ``10 novembre 2023 à
18:55 UTC−5``, ``9 декабря 2023 г. в 13:49 GMT-5``). Rather than one pattern per variant, the line
is tokenized: a clock time ``h:mm`` (+ optional am/pm in any spelling), a zone (``GMT±h``/``UTC±h``
or a US abbreviation; none -> exchange local), and before the time a month *name* looked up in
per-locale tables plus a 1-2 digit day and a 4-digit year, in any order. Purely numeric dates
(``03/04/2023``) are refused: their day/month order depends on the locale and cannot be told.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pandas as pd

from workbench.store.calendars import calendar

EXCHANGE_TZ = "America/New_York"

# month names per locale (lower case; nominative and genitive where they differ). A token matches
# a month when it equals a name or, being >= 3 letters, is a prefix of exactly one month's names.
_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("january", "enero", "janvier", "januar", "gennaio", "janeiro", "januari", "январь", "января", "jänner"),
    2: ("february", "febrero", "février", "fevrier", "februar", "febbraio", "fevereiro", "februari", "февраль",
        "февраля"),
    3: ("march", "marzo", "mars", "märz", "marz", "março", "marco", "maart", "март", "марта"),
    4: ("april", "abril", "avril", "aprile", "апрель", "апреля"),
    5: ("may", "mayo", "mai", "maggio", "maio", "mei", "май", "мая"),
    6: ("june", "junio", "juin", "juni", "giugno", "junho", "июнь", "июня"),
    7: ("july", "julio", "juillet", "juli", "luglio", "julho", "июль", "июля"),
    8: ("august", "agosto", "août", "aout", "augustus", "август", "августа"),
    9: ("september", "septiembre", "setiembre", "septembre", "settembre", "setembro", "сентябрь", "сентября"),
    10: ("october", "octubre", "octobre", "oktober", "ottobre", "outubro", "октябрь", "октября"),
    11: ("november", "noviembre", "novembre", "novembro", "ноябрь", "ноября"),
    12: ("december", "diciembre", "décembre", "decembre", "dezember", "dicembre", "dezembro", "декабрь", "декабря"),
}
# US zone abbreviations -> hours from UTC (a download line names the zone it was shown in)
_ZONES = {"EST": -5, "EDT": -4, "ET": None, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
          "UTC": 0, "GMT": 0, "Z": 0}
_TIME = re.compile(r"(?<!\d)(\d{1,2})[:h](\d{2})(?::(\d{2}))?(?!\d)\s*(?:([ap])\.?\s*m\b\.?)?", re.IGNORECASE)
_OFFSET = re.compile(r"\b(?:GMT|UTC)\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?")
_ABBR = re.compile(r"\b([ECMP][SD]T|ET|UTC|GMT)\b")
_TOKEN = re.compile(r"[^\W\d_]+|\d+")


def month_number(token: str) -> int | None:
    """1..12 for a month name (or unambiguous >= 3-letter prefix) in any tabled locale, else None."""
    t = token.lower().rstrip(".")
    exact = [m for m, names in _MONTHS.items() if t in names]
    if exact:
        return exact[0]
    if len(t) >= 3:
        hits = {m for m, names in _MONTHS.items() for n in names if n.startswith(t)}
        if len(hits) == 1:
            return hits.pop()
    return None


def parse_download_time(text: str) -> pd.Timestamp | None:
    """The UTC time of a ``Date: ...`` text in any tabled locale, or None when it cannot be read
    unambiguously (the caller turns that into an error naming the file and field)."""
    s = text.replace("\u2212", "-").replace("\u2013", "-").replace("\u202f", " ").replace("\xa0", " ")
    s = re.sub(r"^\W*date\s*:\s*", "", s.strip(), flags=re.IGNORECASE)
    tm = _TIME.search(s)
    if tm is None:
        return None
    hour, minute, second = int(tm.group(1)), int(tm.group(2)), int(tm.group(3) or 0)
    if tm.group(4):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if tm.group(4).lower() == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    day = month = year = None
    for tok in _TOKEN.findall(s[:tm.start()]):
        if tok.isdigit():
            if len(tok) == 4 and year is None:
                year = int(tok)
            elif len(tok) <= 2 and day is None:
                day = int(tok)
            else:
                return None  # a second day/year: a numeric date, order unknown
        elif month is None:
            month = month_number(tok)
    if day is None or month is None or year is None:
        return None
    try:
        local = pd.Timestamp(year=year, month=month, day=day, hour=hour, minute=minute, second=second)
    except ValueError:
        return None
    rest = s[tm.end():]
    off = _OFFSET.search(rest)
    if off:
        hours = int(off.group(2)) + int(off.group(3) or 0) / 60
        return (local - pd.Timedelta(hours=hours if off.group(1) == "+" else -hours)).tz_localize("UTC")
    abbr = _ABBR.search(rest.upper())
    shift = _ZONES.get(abbr.group(1)) if abbr else None
    if shift is None:  # no zone, or plain "ET": exchange local time (DST-aware)
        return local.tz_localize(EXCHANGE_TZ).tz_convert("UTC")
    return (local - pd.Timedelta(hours=shift)).tz_localize("UTC")


def session_stamp(download_utc: pd.Timestamp, calendar_name: str = "XNYS") -> pd.Timestamp:
    """The time a snapshot's quotes belong to: the download time itself while a session is open,
    else the close of the last session before it (after the close, weekend, pre-market)."""
    cal = calendar(calendar_name)
    t = download_utc.tz_convert("UTC")
    day: date = t.tz_convert(EXCHANGE_TZ).date()
    for _ in range(15):
        stamp = pd.Timestamp(day)
        if cal.is_session(stamp):
            open_, close = cal.session_open(stamp), cal.session_close(stamp)
            if open_ <= t <= close:
                return t
            if close <= t:
                return close
        day -= timedelta(days=1)
    raise ValueError(f"no session within 15 days before {download_utc}")
