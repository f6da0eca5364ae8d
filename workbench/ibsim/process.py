"""The simulator in its own process, started and stopped by the program that embeds it (a node).

Why a process: on the node's event loop the simulator shares one interpreter (one GIL, one loop) with
the nautilus node it feeds, so its replay and wire encoding cost the node latency and cap both at one
core. As a child process each has its own core on a 2-core machine, and a replay that runs ahead of the
node queues in the socket, as with a real gateway.

How: the parent binds the listening socket on a free loopback port itself and hands the descriptor to
the child (``pass_fds``): no port race, and the port is known before the child runs. The child reads one
pickled ``(GatewayConfig, MarketSource, ContractCatalog)`` from its stdin, starts serving, says ``ready``
on its stdout (:func:`spawn_gateway` returns then: the nautilus IB client gives a silent gateway only a
few 1 s handshake retries), and takes text commands on the following lines (``speed <x>``: :meth:`SimClock.set_speed`). End of stdin stops it: the parent closing the
pipe at :meth:`GatewayProcess.stop`, or the parent dying (``kill -9`` of a node leaves no simulator
behind).

Usage::

    async with spawn_gateway(config, source, catalog) as gw:   # config.port is ignored: a free port
        ... dial 127.0.0.1:gw.port ...
        gw.clock.set_speed(150.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import signal
import socket
import struct
import sys
from dataclasses import replace

from workbench.errors import WorkbenchError

log = logging.getLogger("workbench.ibsim")
_LEN = struct.Struct(">Q")


class _RemoteClock:
    """The child's :class:`SimClock` as far as the parent may drive it."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    def set_speed(self, speed: float) -> None:
        self._proc.stdin.write(f"speed {float(speed)!r}\n".encode())


class GatewayProcess:
    """A running simulator child: ``port``, ``pid``, ``clock.set_speed`` and :meth:`stop`."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port, self.pid = proc, port, proc.pid
        self.clock = _RemoteClock(proc)

    async def stop(self, timeout_s: float = 5.0) -> int | None:
        """Close the command pipe (the child stops its gateway and exits); kill it after ``timeout_s``."""
        with contextlib.suppress(OSError, RuntimeError):
            self.proc.stdin.close()
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            log.warning("simulator process %s did not stop within %.1fs; killing it", self.pid, timeout_s)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            return await self.proc.wait()


@contextlib.asynccontextmanager
async def spawn_gateway(config, source, catalog, host: str = "127.0.0.1", startup_timeout_s: float = 60.0):
    """Start the simulator for ``(config, source, catalog)`` in a child process on a free ``host`` port;
    yields a :class:`GatewayProcess` once it serves, stopped on exit."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        spec = pickle.dumps((replace(config, host=host, port=port), source, catalog), protocol=pickle.HIGHEST_PROTOCOL)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "workbench.ibsim.process", str(sock.fileno()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, pass_fds=(sock.fileno(),))
    finally:
        sock.close()  # the child holds its own copy of the descriptor
    gw = GatewayProcess(proc, port)
    try:
        proc.stdin.write(_LEN.pack(len(spec)) + spec)  # flushed by the loop while the child reads it
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), startup_timeout_s)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            why = (f"did not start within {startup_timeout_s:.0f}s" if proc.returncode is None
                   else f"exited with code {proc.returncode} before serving (its error is above)")
            raise WorkbenchError(f"the simulator process {why}", where="embedded simulator")
        yield gw
    finally:
        rc = await gw.stop()
        if rc not in (0, None):
            log.warning("simulator process %s exited with %s", gw.pid, rc)


# ------------------------------------------------------------------------------------------ child side
async def _serve(fd: int) -> None:
    from .gateway import Gateway

    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    (n,) = _LEN.unpack(await stdin.readexactly(_LEN.size))
    config, source, catalog = pickle.loads(await stdin.readexactly(n))
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
    # Ctrl-C in a terminal reaches the whole process group: the node stops on it and, in REAL, still needs
    # the broker to cancel and close at stop; the simulator ends when the node closes its stdin
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import uvloop  # the node's loop too (nautilus installs it): the same I/O path on both ends

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    try:
        asyncio.run(_serve(int(argv[0])), loop_factory=factory)
    except (asyncio.IncompleteReadError, BrokenPipeError):  # parent gone before handing the spec over
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
