"""A faster message pump for nautilus's Interactive Brokers client (the node's default; ``WB_IB_PUMP``).

Why. Against the IB-wire simulator a plain nautilus node spent ~576 CPU-µs per quote, and at ~5,000
quotes/s neither our node nor a plain one kept up. Most of it was not decoding or the strategy but how
nautilus 1.231.0's ``InteractiveBrokersClient`` moves each message from the socket to its handler:

1. **Framing.** ``_run_tws_incoming_msg_reader`` does ``buf += data`` and ``comm.read_msg(buf)`` per
   message; ``read_msg`` returns the rest of the buffer as a new ``bytes``, so taking N messages out of one
   receive copies the buffer N times (quadratic exactly when the node is behind and receives are large),
   and it formats ``f"Msg buffer received: {buf!s}"`` (the whole buffer) per message although the node
   logs at ERROR and nautilus drops the line.
2. **Three thread hops per message.** Each framed message goes ``call_soon_threadsafe`` -> queue ->
   ``_process_message``, which formats a debug f-string and ``await asyncio.to_thread(decoder.interpret)``
   (a worker thread per message); the wrapper callback (``tickByTickBidAsk`` ...) formats its arguments
   (``logAnswer``) and calls ``submit_to_msg_handler_queue``, i.e. ``asyncio.run_coroutine_threadsafe(
   queue.put(task))`` (another hop, another coroutine) before the handler runs on the loop.

What this module changes, and only that (every other method is nautilus's own):

* :func:`frame` takes all whole messages out of a ``bytearray`` with one slice each and drops the consumed
  prefix once per receive (``read_msg``'s framing, same results: tests/node/test_ibpump.py).
* :class:`FastIBClient` receives in a worker thread as before (one hop per *receive*, not per message),
  queues each receive's messages as one batch, and decodes them on the event-loop thread
  (``decoder.interpret`` / ``processProtoBuf`` called directly); the wrapper's callbacks then run on the
  loop too, so ``submit_to_msg_handler_queue`` puts the handler straight into the queue (``put_nowait``;
  from another thread it keeps nautilus's thread-safe path). Handlers still run one at a time, in message
  order, in nautilus's ``_run_msg_handler_processor``.
* A receive is one ``recv`` of up to 256 KiB (:meth:`FastIBClient._recv`, ``conn.recvMsg``'s semantics):
  ibapi's ``recvMsg`` takes 4 KiB pieces and concatenates them (``allbuf += buf``), quadratic in a backlog.
* Every :data:`SLICE` messages the decoder gives the loop a turn (as nautilus's per-message ``await`` did),
  so a large receive's first quotes reach the strategy while the rest waits, instead of thousands being
  stamped (``ts_init``) and queued before the data engine sees the first.
* No per-message debug strings: :class:`QuietWrapper` skips ``logAnswer``'s formatting, the client skips
  ``logRequest``'s and ``sendMsg``'s. The node logs at ERROR (runner.py), where nautilus drops these lines
  anyway; for a wire trace run the stock pump (``WB_IB_PUMP=nautilus``) at DEBUG.

Why decoding on the loop cannot deadlock: the decoder only parses fields and calls the wrapper, whose
callbacks only build a ``partial`` of the async handler and queue it (``connectionClosed`` calls
``process_connection_closed``, which fails pending futures: on the loop that is now thread-safe). Nothing
in that path waits for the loop. The handlers themselves ran on the loop before and still do.

Kept as nautilus has it: message order; the MAX_MSG_LEN check (BAD_LENGTH error, the processor stops);
the raw-int and text message ids and the protobuf path; the reader's and processor's stop conditions, their
exception handling and the ``_is_ib_connected`` reset when the reader ends (the connection watchdog's
reconnect restarts both tasks, and the handshake in ``_connect`` is untouched). One deviation: a
zero-length frame is consumed and dropped, where ``read_msg``'s empty message stalls nautilus's reader for
good (IB never sends one).

Wiring: :class:`FastIBDataClientFactory` / :class:`FastIBExecClientFactory` put a :class:`FastIBClient` into
nautilus's client cache (``factories.IB_CLIENTS``, keyed by host, port and client id) and then delegate to
nautilus's factories, which find it there. ``WB_IB_PUMP=nautilus`` leaves the cache alone (nautilus's own
client: the benchmark measures both); a client already cached for the key is reused as nautilus would.
"""

from __future__ import annotations

import asyncio
import os
import struct

from ibapi import comm
from ibapi.common import PROTOBUF_MSG_ID
from ibapi.const import MAX_MSG_LEN, NO_VALID_ID
from ibapi.errors import BAD_LENGTH
from nautilus_trader.adapters.interactive_brokers import factories as ib_factories
from nautilus_trader.adapters.interactive_brokers.client import InteractiveBrokersClient
from nautilus_trader.adapters.interactive_brokers.client.wrapper import InteractiveBrokersEWrapper

from workbench.errors import WorkbenchError

PUMP_ENV = "WB_IB_PUMP"
PUMPS = ("fast", "nautilus")
_SIZE = struct.Struct("!I")  # IB's 4-byte big-endian length prefix
RECV_BYTES = 1 << 18  # one receive takes up to this much (a backlog in one piece, not ibapi's 4 KiB pieces)
SLICE = 32  # messages decoded between two turns of the loop: bounds how long a big receive holds the handlers


def pump() -> str:
    """The pump the node's IB clients use: ``fast`` (default) or ``nautilus`` (the stock client)."""
    name = os.environ.get(PUMP_ENV, "fast").strip().lower() or "fast"
    if name not in PUMPS:  # a typo must not silently measure or run the other pump
        raise WorkbenchError(f"{PUMP_ENV}={name!r} is not one of {', '.join(PUMPS)}", where=PUMP_ENV)
    return name


def frame(buf: bytearray) -> tuple[list[bytes], int]:
    """The whole messages at the start of ``buf`` (payloads without their length prefix, as
    ``ibapi.comm.read_msg`` returns them) and how many bytes they took; an incomplete tail stays."""
    msgs: list[bytes] = []
    pos, end = 0, len(buf)
    unpack = _SIZE.unpack_from
    with memoryview(buf) as view:  # one copy per message; released before the caller resizes buf
        while end - pos >= 4:
            (size,) = unpack(view, pos)
            stop = pos + 4 + size
            if stop > end:
                break
            if size:
                msgs.append(bytes(view[pos + 4:stop]))
            pos = stop
    return msgs, pos


class QuietWrapper(InteractiveBrokersEWrapper):
    """nautilus's wrapper without ``logAnswer``'s per-callback debug string (see the module docstring)."""

    def logAnswer(self, fnName, fnParams) -> None:  # noqa: N802 (ibapi's name)
        return


class FastIBClient(InteractiveBrokersClient):
    """nautilus's IB client with the pump of this module's docstring; everything else is inherited."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # the decoder is built from eclient.wrapper at each connect (connection.py), so this is the one used
        self._eclient.wrapper = QuietWrapper(nautilus_logger=self._log, client=self)

    async def _run_tws_incoming_msg_reader(self) -> None:
        """nautilus's reader: one worker-thread receive at a time; each receive's messages, one batch."""
        buf = bytearray()
        try:
            while not self._is_message_processing_stopping() and (
                self._eclient.conn and self._eclient.conn.isConnected()
            ):
                data = await asyncio.to_thread(self._recv)
                if not data:
                    continue
                buf += data
                msgs, used = frame(buf)
                if used:
                    del buf[:used]
                if msgs:  # the processor runs on this loop: no call_soon_threadsafe
                    self._internal_msg_queue.put_nowait(msgs)
        except asyncio.CancelledError:
            self._log.debug("Client TWS incoming message reader was cancelled")
        except RuntimeError as e:
            if self._is_executor_shutdown_error(e):
                self._log.debug("Client TWS incoming message reader stopped during shutdown")
            else:
                self._log.exception("Unhandled exception in Client TWS incoming message reader", e)
        except Exception as e:
            self._log.exception("Unhandled exception in Client TWS incoming message reader", e)
        finally:
            if self._is_ib_connected.is_set() and not self.is_disposed:
                self._is_ib_connected.clear()

    def _recv(self) -> bytes:
        """``conn.recvMsg`` (ibapi/connection.py) in one ``recv``: b"" on the socket's 1 s timeout, the
        connection closed (``conn.disconnect()``) when the peer closed it or it broke."""
        conn = self._eclient.conn
        sock = conn.socket if conn is not None else None
        if sock is None:  # closed or reset on the loop thread (stop, watchdog): the reader's loop ends
            return b""
        try:
            data = sock.recv(RECV_BYTES)
        except TimeoutError:  # socket.timeout: nothing yet, the reader re-checks its stop conditions
            return b""
        except OSError:
            conn.disconnect()
            return b""
        if not data:
            conn.disconnect()
        return data

    async def _run_internal_msg_queue_processor(self) -> None:
        """nautilus's processor, taking a batch per ``get``; stops as nautilus's does (BAD_LENGTH, stop)."""
        queue = self._internal_msg_queue
        try:
            while not self._is_message_processing_stopping() and (
                (self._eclient.conn and self._eclient.conn.isConnected()) or not queue.empty()
            ):
                batch = await queue.get()
                if not await self._process_batch(batch):
                    break
                queue.task_done()
        except asyncio.CancelledError:
            log_msg = f"Internal message queue processing was cancelled. (qsize={queue.qsize()})."
            self._log.warning(log_msg) if not queue.empty() else self._log.debug(log_msg)

    async def _process_batch(self, batch: list[bytes]) -> bool:
        """Decode ``batch`` in order on this thread; False (and nautilus's BAD_LENGTH error) on a message
        longer than MAX_MSG_LEN, the rest of the batch dropped, as nautilus's processor stops there."""
        decoder = self._eclient.decoder
        raw_id = self._use_raw_int_msg_id()  # fixed by the handshake, before the reader starts
        for n, msg in enumerate(batch, 1):
            if len(msg) > MAX_MSG_LEN:
                await self.process_error(req_id=NO_VALID_ID, error_time=0, error_code=BAD_LENGTH.code(),
                                         error_string=f"{BAD_LENGTH.msg()}:{len(msg)}:{msg!r}")
                return False
            if raw_id:
                msg_id = int.from_bytes(msg[:4], "big")
                if msg_id > PROTOBUF_MSG_ID:
                    decoder.processProtoBuf(msg[4:], msg_id - PROTOBUF_MSG_ID)
                else:
                    decoder.interpret(tuple(msg[4:].split(b"\0")[:-1]), msg_id)
            else:
                fields = msg.split(b"\0")  # [id] + comm.read_fields(rest) + [b""]: one pass, no slices
                if len(fields) == 1:
                    raise ValueError("subsection not found")  # nautilus's msg.index(b"\0") error
                msg_id = int(fields[0])
                if msg_id > PROTOBUF_MSG_ID:  # nautilus's check, kept for a text id above it
                    decoder.processProtoBuf(msg[len(fields[0]) + 1:], msg_id - PROTOBUF_MSG_ID)
                else:
                    decoder.interpret(tuple(fields[1:-1]), msg_id)
            if n % SLICE == 0 and n < len(batch):
                await asyncio.sleep(0)  # the handlers (and the strategy behind them) run; then as nautilus's
                if self._is_message_processing_stopping():  # loop: a stop between two messages ends it there
                    return False
                decoder = self._eclient.decoder  # a reconnect in that turn replaces it
        return True

    async def _run_msg_handler_processor(self) -> None:
        """nautilus's handler processor, giving the loop a turn after each handler. With the stock pump each
        message came through a thread hop, so the handler queue held one task at a time and emptied between
        messages; here a decoded slice queues many, and ``await queue.get()`` on a non-empty queue does not
        suspend: an order the strategy submitted on the first quote (its send is a task) waited behind the
        slice's other handlers (tick-to-submit p99 21-37 ms against 8-20 ms with the stock client)."""
        queue = self._msg_handler_task_queue
        try:
            while True:
                handler_task = await queue.get()
                try:
                    await handler_task()
                except Exception as e:
                    name = getattr(handler_task, "__name__", str(handler_task))
                    self._log.exception(f"Exception in message handler task '{name}'", e)
                queue.task_done()
                await asyncio.sleep(0)  # the order sends (and timers) the handler made ready go first
        except asyncio.CancelledError:
            log_msg = f"Handler task processing was cancelled. (qsize={queue.qsize()})."
            self._log.warning(log_msg) if not queue.empty() else self._log.debug(log_msg)

    def submit_to_msg_handler_queue(self, task) -> None:
        """On the loop thread (every decoded message now): straight into the handler queue, in order."""
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:  # no loop on this thread
            on_loop = False
        if on_loop:
            self._msg_handler_task_queue.put_nowait(task)
        else:
            super().submit_to_msg_handler_queue(task)

    def sendMsg(self, msgId, msg) -> None:  # noqa: N802,N803 (EClient's names)
        self._eclient.conn.sendMsg(comm.make_msg(msgId, self._use_raw_int_msg_id(), msg))

    def logRequest(self, fnName, fnParams) -> None:  # noqa: N802,N803
        return


def _seed(loop, msgbus, cache, clock, config) -> None:
    """Put a FastIBClient into nautilus's client cache for ``config``'s key, unless the stock pump is chosen,
    the key already has a client, or the gateway is nautilus's docker one (its port is known only there)."""
    if pump() != "fast" or config.dockerized_gateway is not None or config.ibg_port is None:
        return
    key = (config.ibg_host, config.ibg_port, config.ibg_client_id)
    if key in ib_factories.IB_CLIENTS:
        return
    client = FastIBClient(loop=loop, msgbus=msgbus, cache=cache, clock=clock, host=config.ibg_host,
                          port=config.ibg_port, client_id=config.ibg_client_id,
                          fetch_all_open_orders=getattr(config, "fetch_all_open_orders", False),
                          request_timeout_secs=config.request_timeout_secs)
    client.start()  # as get_cached_ib_client does
    ib_factories.IB_CLIENTS[key] = client


class FastIBDataClientFactory(ib_factories.InteractiveBrokersLiveDataClientFactory):
    """nautilus's IB data client factory, on a :class:`FastIBClient` (see the module docstring)."""

    @staticmethod
    def create(loop, name, config, msgbus, cache, clock):  # type: ignore[override]
        _seed(loop, msgbus, cache, clock, config)
        return ib_factories.InteractiveBrokersLiveDataClientFactory.create(loop, name, config, msgbus, cache, clock)


class FastIBExecClientFactory(ib_factories.InteractiveBrokersLiveExecClientFactory):
    """nautilus's IB execution client factory, on a :class:`FastIBClient` (see the module docstring)."""

    @staticmethod
    def create(loop, name, config, msgbus, cache, clock):  # type: ignore[override]
        _seed(loop, msgbus, cache, clock, config)
        return ib_factories.InteractiveBrokersLiveExecClientFactory.create(loop, name, config, msgbus, cache, clock)
