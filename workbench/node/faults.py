"""Broker faults, seen from the node: the IB link under nautilus's clients, and the reconnect fix.

What the simulator's scenario files showed (docs/node.md, "Broker faults and the circuit breaker"):

* ``/ready`` and the ``reconnects`` counter looked only at nautilus's client flags, which stay "connected"
  while the IB socket is down or IB reports 1100: a 5 s disconnect went by with ``reconnects: 0``.
  :class:`BrokerLink` reads the IB client's own state (API connection up and ready).
* After 1100 ("connectivity between IB and TWS lost") nautilus's connection watchdog recycles the
  client, but its reconnect (``_start_async`` -> ``EClient.reset()``) drops the old socket without closing
  it, so the gateway still holds the client id: every retry was refused with 326 ("client id already in
  use") and the node sat without data or orders for the rest of the run, with no error in its summary.
  :func:`close_before_reconnect` closes the old connection first, as ``EClient.disconnect`` does.
* A fill the broker made while the link was down never reached the node (nautilus re-requests nothing after
  a reconnect): the node kept the order working, its cancel was answered 161 ("not cancellable") and the
  run ended apart from the broker. In REAL the runner passes ``on_restore``: nautilus's own execution
  reconciliation (``reconcile_execution_state``, as at start) runs each time the link comes back.
* 1101 ("restored - data lost": IB dropped the market-data subscriptions) sets the client connected
  again but nothing resubscribes, so quotes never came back. :func:`resubscribe_on_data_lost` resubscribes
  everything (nautilus's own ``_resubscribe_all``, as after a reconnect).

This module, workbench/node/ibpump.py (the message pump) and workbench/node/runner.py reach into the IB adapter's
client object.
"""

from __future__ import annotations

import asyncio

from nautilus_trader.adapters.interactive_brokers.factories import IB_CLIENTS


def ib_client(host: str, port: int, client_id: int):
    """The shared InteractiveBrokersClient nautilus's IB factories built for ``(host, port, client_id)``
    (data and execution clients of one node share it), or None (no IB client: not built yet)."""
    return IB_CLIENTS.get((host, port, client_id))


def close_before_reconnect(client) -> None:
    """Make the client's watchdog close the old API connection before it reconnects (see the module
    docstring: without it the gateway refuses the reconnect with 326 while the old socket lives)."""
    if getattr(client, "_wb_close_before_reconnect", False):
        return
    original = client._handle_disconnection

    async def handle_disconnection() -> None:
        eclient = client._eclient
        if eclient.conn is not None:
            eclient.disconnect()  # closes the socket; its connectionClosed fails pending requests
        await original()

    client._handle_disconnection = handle_disconnection
    client._wb_close_before_reconnect = True


DATA_LOST = 1101  # IB: connectivity restored, market data subscriptions lost


def resubscribe_on_data_lost(client) -> None:
    """After 1101 resubscribe every subscription of the client (see the module docstring)."""
    if getattr(client, "_wb_resubscribe_on_1101", False):
        return
    original = client.process_error  # the EWrapper's error() queues this (bound method, looked up per call)

    async def process_error(**kwargs) -> None:
        await original(**kwargs)
        if kwargs.get("error_code") == DATA_LOST:
            client.resubscribed_after_data_lost = getattr(client, "resubscribed_after_data_lost", 0) + 1
            await client._resubscribe_all()

    client.process_error = process_error
    client._wb_resubscribe_on_1101 = True


class BrokerLink:
    """Is the node's IB API connection up (socket connected, API handshake done, no 1100 outstanding)?
    For :class:`workbench.node.telemetry.Readiness` (``link``): a down link is "clients not connected"
    on /ready and, when it comes back, one ``reconnects``."""

    def __init__(self, client, on_restore=None):
        self.client, self.on_restore = client, on_restore
        self._seen_up = self._down = False
        self._tasks: set = set()  # running on_restore tasks (a reference keeps them from being collected)

    def __call__(self) -> bool:
        """On the node's loop. When the link comes back after a loss, ``on_restore()`` (a coroutine
        function) is started on the loop."""
        c = self.client
        up = bool(c._is_ib_connected.is_set() and c._is_client_ready.is_set() and c._eclient.isConnected())
        if up and self._down and self.on_restore is not None:
            task = asyncio.get_running_loop().create_task(self.on_restore())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._down = (self._down or self._seen_up) and not up
        self._seen_up = self._seen_up or up
        return up


def watch_ib(host: str, port: int, client_id: int, on_restore=None) -> BrokerLink | None:
    """Install the reconnect and 1101 fixes on the node's IB client and return its link check (None: no IB client)."""
    client = ib_client(host, port, client_id)
    if client is None:
        return None
    close_before_reconnect(client)
    resubscribe_on_data_lost(client)
    return BrokerLink(client, on_restore)
