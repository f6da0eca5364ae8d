"""The simulator in its own process, started and stopped by the program that embeds it (a node).

Why a process: on the node's event loop the simulator shares one interpreter (one GIL, one loop) with
the nautilus node it feeds, so its replay and wire encoding cost the node latency and cap both at one
core. As a child process each has its own core on a 2-core machine, and a replay that runs ahead of the
node queues in the socket, as with a real gateway.

How: the parent binds the listening socket on a free loopback port itself and hands the descriptor to
the child (``pass_fds``): no port race, and the port is known before the child runs (a client that dials
before the child serves waits in the listen backlog; the nautilus IB client retries its handshake at 2 s
steps, so the node awaits :meth:`GatewayProcess.ready` first: ~0.6-1 s of imports). The child loads one
pickled ``(GatewayConfig, MarketSource, ContractCatalog)`` from a temporary file (not the pipe: the parent's
loop may be busy building the node), serves, says ``ready`` on its stdout (:meth:`GatewayProcess.ready`),
and takes text commands on its stdin (``speed <x>``: :meth:`SimClock.set_speed`). End of stdin stops it:
the parent closing the pipe at :meth:`GatewayProcess.stop`, or the parent dying (``kill -9`` of a node
leaves no simulator behind). It ignores SIGINT, which a terminal sends to the whole process group: a REAL
node stopping on Ctrl-C still needs its broker to cancel and close.

Usage::

    async with spawn_gateway(config, source, catalog) as gw:   # config.port is ignored: a free port
        await gw.ready()                                       # optional: a client may dial at once
        ... dial 127.0.0.1:gw.port ...
        gw.clock.set_speed(150.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import socket
import sys
import tempfile
from dataclasses import replace

from workbench.errors import WorkbenchError

log = logging.getLogger("workbench.ibsim")


class _RemoteClock:
    """The child's :class:`SimClock` as far as the parent may drive it."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    def set_speed(self, speed: float) -> None:
        self._proc.stdin.write(f"speed {float(speed)!r}\n".encode())


class GatewayProcess:
    """A running simulator child: ``port``, ``pid``, ``clock.set_speed``, :meth:`ready` and :meth:`stop`."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port, self.pid = proc, port, proc.pid
        self.clock = _RemoteClock(proc)
        self._ready = asyncio.ensure_future(self._watch())

    async def _watch(self) -> bool:
        line = await self.proc.stdout.readline()
        if line.strip() == b"ready":
            return True
        rc = await self.proc.wait()  # the child said nothing and ended: its own error is on stderr
        log.error("the embedded simulator process exited with code %s before serving", rc)
        return False

    async def ready(self, timeout_s: float = 60.0) -> None:
        """Until the child serves; a one-line WorkbenchError if it ended or took longer than ``timeout_s``."""
        try:
            ok = await asyncio.wait_for(asyncio.shield(self._ready), timeout_s)
        except TimeoutError:
            raise WorkbenchError(f"the simulator process did not start within {timeout_s:.0f}s",
                                 where="embedded simulator") from None
        if not ok:
            raise WorkbenchError(f"the simulator process exited with code {self.proc.returncode} before serving "
                                 "(its error is above)", where="embedded simulator")

    async def stop(self, timeout_s: float = 5.0) -> int | None:
        """Close the command pipe (the child stops its gateway and exits); kill it after ``timeout_s``."""
        with contextlib.suppress(OSError, RuntimeError):
            self.proc.stdin.close()
        try:
            rc = await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            log.warning("simulator process %s did not stop within %.1fs; killing it", self.pid, timeout_s)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            rc = await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._ready
        return rc


@contextlib.asynccontextmanager
async def spawn_gateway(config, source, catalog, host: str = "127.0.0.1"):
    """Start the simulator for ``(config, source, catalog)`` in a child process on a free ``host`` port;
    yields a :class:`GatewayProcess` at once (see the module docstring), stopped on exit."""
    fd, spec_path = tempfile.mkstemp(prefix="wb-ibsim-", suffix=".pickle")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        with os.fdopen(fd, "wb") as fh:
            pickle.dump((replace(config, host=host, port=port), source, catalog), fh, protocol=pickle.HIGHEST_PROTOCOL)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "workbench.ibsim.process", str(sock.fileno()), spec_path,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, pass_fds=(sock.fileno(),))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(spec_path)
        raise
    finally:
        sock.close()  # the child holds its own copy of the descriptor
    gw = GatewayProcess(proc, port)
    try:
        yield gw
    finally:
        rc = await gw.stop()
        with contextlib.suppress(OSError):  # the child removes it once loaded; not if it died first
            os.unlink(spec_path)
        if rc not in (0, None):
            log.warning("simulator process %s exited with %s", gw.pid, rc)


# ------------------------------------------------------------------------------------------ child side
async def _serve(fd: int, spec_path: str) -> None:
    from .gateway import Gateway

    with open(spec_path, "rb") as fh:
        config, source, catalog = pickle.load(fh)
    os.unlink(spec_path)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    gw = Gateway(config, source, catalog)
    await gw.start(sock=socket.socket(fileno=fd))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        while line := await stdin.readline():  # b"" = end of stdin: the parent stopped us or died
            cmd, _, arg = line.decode().strip().partition(" ")
            if cmd == "speed":
                gw.clock.set_speed(float(arg))
            elif cmd:
                log.warning("simulator process: unknown command %r", cmd)
    finally:
        await gw.stop()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # see the module docstring: the node ends it via stdin
    try:
        import uvloop  # the node's loop too (nautilus installs it): the same I/O path on both ends

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    try:
        asyncio.run(_serve(int(argv[0]), argv[1]), loop_factory=factory)
    except BrokenPipeError:  # the parent is gone
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
