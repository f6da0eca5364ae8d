"""TWS API socket framing: the handshake and length-prefixed, NUL-separated text messages.

Every message on the wire (after the handshake) is a 4-byte big-endian length followed by that many
bytes of ASCII fields, each terminated by ``\\0``.  The first field of a server message is its
message id (the ``IN`` ids of ``ibapi.message``); client requests start with the ``OUT`` ids.

The handshake is the only exception: the client opens with the raw bytes ``API\\0`` followed by one
framed field ``v{min}..{max}[ options]`` and the server answers with a framed pair
``[server_version, connection_time]``.  Nothing else may be sent before the client's START_API:
the nautilus adapter reads exactly one frame for the handshake reply and drops the rest of the
buffer, so anything piggy-backed on it would be lost.

Message ids become 4-byte binary integers from server version 201 and bodies become protobuf from
203; this simulator speaks text only, which is why the negotiated version is capped at 200.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from decimal import Decimal

from workbench.errors import WorkbenchError

API_PREFIX = b"API\0"
TEXT_PROTOCOL_MAX = 200
# The version 2147483647/1.797e308 sentinels mean "unset" in the TWS API.
UNSET_INTEGER = 2**31 - 1
UNSET_DOUBLE = 1.7976931348623157e308
_LEN = struct.Struct(">I")


class ProtocolError(WorkbenchError, ValueError):
    """The peer sent bytes that are not a valid TWS API message."""


@dataclass(frozen=True)
class Handshake:
    """The client's opening offer: the protocol versions it speaks and its connect options."""

    min_version: int
    max_version: int
    options: str = ""

    def negotiate(self, ceiling: int) -> int:
        """Return the version the server will speak: the client's max capped by ``ceiling``.

        Raises ``ProtocolError`` if the capped version is below what the client accepts.
        """
        version = min(self.max_version, ceiling)
        if version < self.min_version:
            raise ProtocolError(
                f"client needs server version >= {self.min_version}, simulator ceiling is {ceiling}"
            )
        return version


def parse_handshake(payload: bytes) -> Handshake:
    """Parse the body of the first frame after ``API\\0`` (e.g. ``b"v157..178"``)."""
    try:
        text = payload.rstrip(b"\0").decode("ascii", errors="strict")
    except UnicodeDecodeError as exc:  # a hostile or confused client: one log line, clean close
        raise ProtocolError(f"handshake is not ASCII: {payload[:20]!r}") from exc
    if not text.startswith("v"):
        raise ProtocolError(f"handshake must start with 'v', got {text[:20]!r}")
    spec, _, options = text[1:].partition(" ")
    lo, sep, hi = spec.partition("..")
    try:
        low = int(lo)
        high = int(hi) if sep else low
    except ValueError as exc:
        raise ProtocolError(f"bad version range in handshake: {text[:40]!r}") from exc
    if low > high:
        raise ProtocolError(f"empty version range {low}..{high}")
    return Handshake(low, high, options.strip())


def fmt(value: object) -> str:
    """Render one field the way TWS does.

    ``None`` and the unset sentinels become empty fields; booleans are ``1``/``0``; floats that are
    integral are still written with a decimal point only when they are not meant as integers, so
    callers pass ``int`` for integer fields.  Decimals are written without exponent.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return "" if value == UNSET_INTEGER else str(value)
    if isinstance(value, float):
        if value == UNSET_DOUBLE:
            return ""
        if math.isinf(value):
            return "Infinity"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value)) + ".0"
        return repr(value)
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    return str(value)


def _fmt_int(v: int) -> str:
    return "" if v == UNSET_INTEGER else str(v)


_FAST = {str: str, int: _fmt_int, bool: lambda v: "1" if v else "0", type(None): lambda v: ""}


def frame(fields: list[object] | tuple[object, ...]) -> bytes:
    """Encode a list of fields as one length-prefixed message."""
    fast = _FAST
    body = "\0".join([(fast.get(type(f)) or fmt)(f) for f in fields])
    data = (body + "\0").encode("ascii", errors="backslashreplace")
    return _LEN.pack(len(data)) + data


def _num(x: float) -> str:
    # fmt() of a float: for a finite 0 < x < 1e15 that is repr(x) (an integral value prints "N.0" both ways)
    return repr(x) if 0.0 < x < 1e15 else fmt(x)


def _qty(x: float) -> str:
    # fmt() of h_market._size(x): whole sizes as ints, fractional ones as exact decimals
    return str(int(x)) if x.is_integer() else fmt(Decimal(str(x)))


def bid_ask_frame(req_id: int, epoch_s: int, bid: float, ask: float, bid_size: float, ask_size: float) -> bytes:
    """``frame(msg_core.tick_by_tick_bid_ask(...))`` with sizes as ``h_market._size`` gives them, byte for
    byte (tests/ibsim/test_process.py checks), without the field list and per-field type dispatch: the
    replay sends one per quote, the simulator's hottest message."""
    data = (f"99\x00{req_id}\x003\x00{epoch_s}\x00{_num(bid)}\x00{_num(ask)}\x00{_qty(bid_size)}\x00"
            f"{_qty(ask_size)}\x000\x00").encode("ascii")
    return _LEN.pack(len(data)) + data


def frame_raw(body: bytes) -> bytes:
    return _LEN.pack(len(body)) + body


def split_fields(body: bytes) -> list[str]:
    """Split one message body into its text fields (the trailing empty element is dropped)."""
    parts = body.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("latin-1") for p in parts]


class FrameReader:
    """Incremental decoder for a byte stream of length-prefixed messages."""

    MAX_MSG = 0xFFFFFF  # TWS rejects frames over 16 MB; so do we, instead of buffering forever

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed_raw(self, data: bytes) -> None:
        """Append bytes without parsing (the handshake prefix is not a frame)."""
        self._buf += data

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes and return every complete message body now available."""
        self._buf += data
        out: list[bytes] = []
        while len(self._buf) >= 4:
            (size,) = _LEN.unpack_from(self._buf, 0)
            if size > self.MAX_MSG:
                raise ProtocolError(f"frame of {size} bytes exceeds the {self.MAX_MSG} limit")
            if len(self._buf) < 4 + size:
                break
            out.append(bytes(self._buf[4 : 4 + size]))
            del self._buf[: 4 + size]
        return out

    def take_prefix(self, prefix: bytes) -> bool | None:
        """Consume ``prefix`` if the buffer starts with it: True if taken, None if more bytes are
        needed, False if the buffer does not start with it."""
        if len(self._buf) < len(prefix):
            return None if prefix.startswith(bytes(self._buf)) else False
        if bytes(self._buf[: len(prefix)]) == prefix:
            del self._buf[: len(prefix)]
            return True
        return False
