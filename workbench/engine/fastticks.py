"""Build nautilus QuoteTicks from numpy columns ~10x faster than ``from_raw_arrays_to_list``.

Why: nautilus's per-row constructor validates and converts every price through Python-level
calls (~0.5M quotes/s here). Its capsule path (``QuoteTick.list_from_capsule``, used by its
own Parquet catalog) only copies fixed-size C structs. We lay those structs out with numpy and
hand them over in a capsule.

Safety: the layout (160-byte ``QuoteTick_t``: instrument id, 4 x {int128 raw, u8 precision},
two u64 timestamps) is learned from nautilus itself at first use, and every batch's first and
last rows are checked against nautilus's own constructor; any mismatch falls back to the slow
path. A nautilus upgrade therefore cannot silently corrupt data.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.identifiers import InstrumentId
from numba import njit

FIXED_PRECISION = 16  # nautilus high-precision build: raw = value * 10**16
_STRUCT = 160
_CHUNK = 8192


class _CVec(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("len", ctypes.c_size_t), ("cap", ctypes.c_size_t)]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_capsule_ptr = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_ptr.restype = ctypes.c_void_p
_capsule_ptr.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _struct_bytes(quotes: list[QuoteTick]) -> bytes:
    cap = QuoteTick.capsule_from_list(quotes)
    vec = _CVec.from_address(_capsule_ptr(cap, None))
    return ctypes.string_at(vec.ptr, vec.len * _STRUCT)


@lru_cache(maxsize=256)
def _template(instrument_id: str) -> bytes | None:
    """One reference struct for this instrument (holds its interned id pointers), or None if the
    layout is not the one this module knows."""
    iid = InstrumentId.from_str(instrument_id)
    one = np.array([1.0]), np.array([2.0])
    ref = QuoteTick.from_raw_arrays_to_list(iid, 2, 0, one[0], one[1], one[0], one[1],
                                            np.array([7], np.uint64), np.array([9], np.uint64))
    raw = _struct_bytes(ref * 2)
    if len(raw) != 2 * _STRUCT or raw[:_STRUCT] != raw[_STRUCT:]:
        return None
    ts = np.frombuffer(raw[144:160], np.uint64)
    if ts.tolist() != [7, 9]:
        return None
    return raw[:_STRUCT]


@njit(cache=True, nogil=True)
def _put128(words: np.ndarray, row: int, word: int, value: float, scale: float, c: np.uint64) -> None:
    """Write round(value * 10**p) * 10**(16 - p) as a two's-complement int128 (lo, hi words);
    ``scale`` = 10**p, ``c`` = 10**(16 - p)."""
    m = np.int64(np.rint(value * scale))
    neg = m < 0
    mag = np.uint64(-m if neg else m)
    mask = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    m_lo, m_hi = mag & mask, mag >> s32
    c_lo, c_hi = c & mask, c >> s32
    ll, lh, hl, hh = m_lo * c_lo, m_lo * c_hi, m_hi * c_lo, m_hi * c_hi
    mid = (ll >> s32) + (lh & mask) + (hl & mask)
    lo = (ll & mask) | (mid << s32)
    hi = hh + (lh >> s32) + (hl >> s32) + (mid >> s32)
    if neg:
        lo = ~lo + np.uint64(1)
        hi = ~hi + np.uint64(1 if lo == 0 else 0)
    words[row, word] = lo
    words[row, word + 1] = hi


@njit(cache=True, nogil=True)
def _fill(words: np.ndarray, tmpl: np.ndarray, price_prec: int, size_prec: int, bid: np.ndarray, ask: np.ndarray,
          bid_size: np.ndarray, ask_size: np.ndarray, ts_event: np.ndarray, ts_init: np.ndarray) -> None:
    ps, ss = 10.0 ** price_prec, 10.0 ** size_prec
    pc, sc = np.uint64(10 ** (FIXED_PRECISION - price_prec)), np.uint64(10 ** (FIXED_PRECISION - size_prec))
    for i in range(words.shape[0]):
        for w in range(20):
            words[i, w] = tmpl[w]
        _put128(words, i, 2, bid[i], ps, pc)
        _put128(words, i, 6, ask[i], ps, pc)
        _put128(words, i, 10, bid_size[i], ss, sc)
        _put128(words, i, 14, ask_size[i], ss, sc)
        words[i, 4] = np.uint64(price_prec)
        words[i, 8] = np.uint64(price_prec)
        words[i, 12] = np.uint64(size_prec)
        words[i, 16] = np.uint64(size_prec)
        words[i, 18] = ts_event[i]
        words[i, 19] = ts_init[i]


def quotes_fast(instrument_id: InstrumentId, price_prec: int, size_prec: int, bid: np.ndarray, ask: np.ndarray,
                bid_size: np.ndarray, ask_size: np.ndarray, ts_event: np.ndarray, ts_init: np.ndarray
                ) -> list[QuoteTick]:
    """Same contract as ``QuoteTick.from_raw_arrays_to_list``; verified per batch, slow path on doubt."""
    n = len(bid)
    template = _template(str(instrument_id)) if n else None
    if template is None:
        return QuoteTick.from_raw_arrays_to_list(instrument_id, price_prec, size_prec, bid, ask, bid_size,
                                                 ask_size, ts_event, ts_init)
    f64, u64 = np.float64, np.uint64
    cols = (np.asarray(bid, f64), np.asarray(ask, f64), np.asarray(bid_size, f64), np.asarray(ask_size, f64),
            np.asarray(ts_event, u64), np.asarray(ts_init, u64))
    tmpl = np.frombuffer(template, np.uint64)
    # One small reusable buffer: nautilus copies each struct into its object, and a cache-sized
    # buffer avoids first-touch page faults that dominate a single 160 MB allocation.
    words = np.empty((min(n, _CHUNK), _STRUCT // 8), dtype=np.uint64)
    vec = _CVec(words.ctypes.data, 0, len(words))
    capsule = _capsule_new(ctypes.addressof(vec), None, None)
    out: list[QuoteTick] = []
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        _fill(words[: hi - lo], tmpl, price_prec, size_prec, *(c[lo:hi] for c in cols))
        vec.len = hi - lo
        out.extend(QuoteTick.list_from_capsule(capsule))
    del capsule
    check = [0, n - 1]
    ref = QuoteTick.from_raw_arrays_to_list(
        instrument_id, price_prec, size_prec, bid[check], ask[check], bid_size[check], ask_size[check],
        ts_event[check], ts_init[check])
    if ref[0] != out[0] or ref[1] != out[-1] or [r.bid_price for r in ref] != [out[0].bid_price, out[-1].bid_price]:
        return QuoteTick.from_raw_arrays_to_list(instrument_id, price_prec, size_prec, bid, ask, bid_size,
                                                 ask_size, ts_event, ts_init)
    return out
