"""Run the REAL client decoders (ib_async 2.0.1 and ibapi 10.45) over simulator output.

Both decoders swallow some problems (ib_async logs and drops a message whose fields don't unpack;
ibapi ignores trailing fields and silently drops a "wrap" message whose field count is off), so the
helpers here make every such case loud: ib_async decoder log errors raise, and the ibapi path
asserts that the message's fields were consumed exactly.
"""

from __future__ import annotations

import inspect
import logging
from datetime import UTC
from types import SimpleNamespace

import ib_async.decoder as ia_decoder
from ibapi import decoder as ibapi_decoder
from ibapi.wrapper import EWrapper

from workbench.ibsim.wire import FrameReader, frame, split_fields


class Call(SimpleNamespace):
    pass


class _IaRecorder:
    """Stands in for ib_async's Wrapper: records every callback the Decoder makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.defaultTimezone = UTC
        self.ib = SimpleNamespace(TimezoneTWS=None)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args):
            self.calls.append((name, args))

        return record


class _Raise(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def decode_ib_async(messages: list[list], version: int) -> list[tuple[str, tuple]]:
    """Frame ``messages`` and feed them to ib_async's Decoder; return the wrapper calls."""
    rec = _IaRecorder()
    dec = ia_decoder.Decoder(rec, version)
    handler = _Raise()
    dec.logger.addHandler(handler)
    try:
        reader = FrameReader()
        for body in reader.feed(b"".join(frame(m) for m in messages)):
            fields = body.decode().split("\0")
            fields.pop()
            dec.interpret(fields)
    finally:
        dec.logger.removeHandler(handler)
    if handler.records:
        r = handler.records[0]
        raise AssertionError(f"ib_async decoder error: {r.getMessage()} {r.exc_info[1] if r.exc_info else ''}")
    return rec.calls


def _make_ewrapper():
    calls: list[tuple[str, tuple]] = []
    ns = {}
    for name, _fn in inspect.getmembers(EWrapper, inspect.isfunction):
        if name.startswith("_"):
            continue

        def make(n):
            def method(self, *args):
                calls.append((n, args))

            return method

        ns[name] = make(name)
    cls = type("RecordingEWrapper", (EWrapper,), ns)
    return cls(), calls


class _CountingIter:
    def __init__(self, items) -> None:
        self._items = list(items)
        self.pos = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.pos >= len(self._items):
            raise StopIteration
        v = self._items[self.pos]
        self.pos += 1
        return v


def decode_ibapi(messages: list[list], version: int) -> list[tuple[str, tuple]]:
    """Frame ``messages`` and feed them to ibapi's text Decoder; return the EWrapper calls.

    Asserts each message's fields are consumed exactly (no trailing or missing field)."""
    wrapper, calls = _make_ewrapper()
    dec = ibapi_decoder.Decoder(wrapper, version)
    reader = FrameReader()
    for body in reader.feed(b"".join(frame(m) for m in messages)):
        msg_id = int(body[: body.index(b"\0")])
        rest = body[body.index(b"\0") + 1 :]
        fields = tuple(rest.split(b"\0")[:-1])
        info = dec.msgId2handleInfo[msg_id]
        before = len(calls)
        if info.processMeth is not None:
            it = _CountingIter(fields)
            info.processMeth(dec, it)
            assert it.pos == len(fields), (
                f"ibapi v{version} msg {msg_id}: consumed {it.pos} of {len(fields)} fields: {fields}"
            )
        else:
            dec.interpret(fields, msg_id)
        assert len(calls) > before, f"ibapi v{version} msg {msg_id} produced no callback (fields {fields})"
    return calls


def roundtrip_fields(msg: list) -> list[str]:
    """The text fields the client sees for one encoded message."""
    (body,) = FrameReader().feed(frame(msg))
    return split_fields(body)
