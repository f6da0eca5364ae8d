"""The local control endpoint of a running node: operator commands over HTTP on 127.0.0.1, with a token.

``wb risk halt|reset``, ``wb strategy enable|disable``, ``wb risk config apply|rollback``, ``wb risk state``
and ``wb orders dump`` act on the store when no node runs; with ``--node`` they talk to the node's
endpoint instead, so the command takes effect in the running gate at once and the answer comes from it::

    server = ControlServer(gate, store, registry=registry).start()   # in the node (or a notebook)
    $ wb risk halt --reason "feed gap" --node                        # from any shell on the machine

Design:

* One path for commands: the endpoint records the command in the store's ``risk_control`` table (the
  audit trail an offline ``wb risk halt`` also writes) and applies every unapplied row to the gate through
  :class:`ControlChannel` -- the same object the node's poller uses, so a command is applied exactly once
  whichever of them sees it first.
* Security: binds 127.0.0.1 unless ``allow_remote`` is given; every request needs
  ``Authorization: Bearer <token>`` (compared in constant time).  The token is random per start and is
  written with the URL to a discovery file readable by the owner only (mode 0600); it is never logged.
* Threads: a ``ThreadingHTTPServer`` in a daemon thread; the gate serialises everything under its own lock.

* Stores: ``store`` is a workbench ``Store`` held open, or an object with a ``session()`` context manager
  that opens the store for one command and closes it (the node's :class:`workbench.node.sharedstore.SharedStore`),
  so a long-lived node never holds DuckDB's lock between commands.
* Node loop: ``call`` (default: call directly) runs each command where the gate's listeners may touch the
  trading engine -- the node passes a function that runs it on its event loop and waits.
* Probes: ``probes`` maps extra GET paths (``/health``, ``/ready``, ``/metrics``) to functions returning
  ``(status, content_type, body_bytes)``. They need no token: Prometheus scrapers and load balancers cannot
  send one, and they expose counts and readiness reasons only (no account id, token, order or position).

Routes (JSON in and out): ``GET /v1/state``, ``GET /v1/orders``, ``POST /v1/halt``, ``POST /v1/reset``,
``POST /v1/strategy/enable``, ``POST /v1/strategy/disable``, ``POST /v1/config/apply``,
``POST /v1/config/rollback``.  Errors: 401 (token), 400 (bad request, with the reason), 404.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import secrets
import sys
import threading
import urllib.error
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.ops.discovery import default_control_file, write_control_file

__all__ = ["ControlChannel", "ControlError", "ControlServer", "default_control_file", "request"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class ControlError(WorkbenchError, RuntimeError):
    """The endpoint refused or failed a request (message from the node), or could not be reached."""

    def __init__(self, status: int, message: str):
        super().__init__(message, where=f"control endpoint (HTTP {status})" if status else "control endpoint")
        self.status = status
        self.message = message


def session(store):
    """``store`` for one block: opened and closed around it when it has ``session()``, else as is."""
    opener = getattr(store, "session", None)
    return opener() if opener is not None else contextlib.nullcontext(store)


class ControlChannel:
    """Applies ``risk_control`` rows to a gate exactly once (shared by the endpoint and the node's poller)."""

    def __init__(self, gate, store):
        from workbench.risk.control import apply_control_state

        self.gate, self.store = gate, store
        self._lock = threading.Lock()
        # commands recorded while no node ran (wb risk halt offline) take effect now, as their net state
        with session(store) as s:
            self.applied = apply_control_state(gate, s)

    def sync(self) -> int:
        with self._lock, session(self.store) as s:
            return self._sync(s)

    def _sync(self, s) -> int:
        from workbench.risk.control import sync_controls

        self.applied = sync_controls(self.gate, s, self.applied)
        return self.applied

    def command(self, command: str, scope: str, reason: str, by: str) -> int:
        from workbench.risk.control import issue

        with self._lock, session(self.store) as s:
            seq = issue(s, command, scope, reason, by)
            self._sync(s)
        return seq


def _state(gate, channel: ControlChannel) -> dict:
    guards = {sid: g.state.name for sid, g in sorted(gate.guards.items())}
    cfg = gate.config
    return {
        "global": gate.global_guard.state.name,
        "halt_reason": gate.global_guard.halt_reason,
        "strategies": guards,
        "disabled": sorted(sid for sid in cfg.spec.strategies if not gate.is_enabled(sid)),
        "policy_mode": gate.mode.name,
        "config_version": cfg.version,
        "config_hash": cfg.content_hash,
        "open_orders": len(gate.book.orders),
        "control_seq": channel.applied,
    }


def _orders(gate) -> list[dict]:
    return [
        {
            "client_order_id": o.client_order_id,
            "strategy": o.strategy,
            "instrument": o.instrument,
            "side": "BUY" if o.sign > 0 else "SELL",
            "remaining": o.remaining,
            "price": o.price,
            "ts": o.ts,
        }
        for _, o in sorted(gate.book.orders.items())
    ]


MAX_BODY = 64 * 1024  # bytes; a command or a config text is far smaller
MAX_CONNECTIONS = 16  # concurrent sockets; more are closed at once instead of queueing threads
SOCKET_TIMEOUT_S = 10.0  # a client that stalls mid-request frees its thread after this


def _need(body: dict, *fields: str) -> list:
    wrong = [f for f in fields if f in body and f not in ("version",) and not isinstance(body[f], str)]
    if wrong:
        raise ValueError(f"field(s) must be strings: {', '.join(wrong)}")
    missing = [f for f in fields if not str(body.get(f, "")).strip()]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    return [body[f] for f in fields]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = SOCKET_TIMEOUT_S  # StreamRequestHandler sets it on the socket

    def log_message(self, fmt, *args):  # the default logs every request line to stderr; stay quiet
        pass

    def _reply(self, status: int, payload) -> None:
        data = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        got = self.headers.get("Authorization", "")
        return hmac.compare_digest(got.encode(), f"Bearer {self.server.token}".encode())

    def _probe(self) -> bool:
        probe = self.server.probes.get(self.path.split("?", 1)[0].rstrip("/"))
        if probe is None:
            return False
        try:
            status, ctype, data = probe()
        except Exception as e:  # a probe that fails is an unhealthy answer, not a dropped connection
            status, ctype, data = 500, "application/json", json.dumps({"error": str(e)}).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return True

    def _handle(self, method: str) -> None:
        if method == "GET" and self._probe():  # /health, /ready, /metrics: no token (module docstring)
            return
        if not self._authorised():
            self._reply(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
            return
        body = {}
        if method == "POST":
            raw = (self.headers.get("Content-Length") or "").strip()
            if not (raw.isascii() and raw.isdigit()):  # missing, negative or not a number: never guess how much to read
                self._reply(HTTPStatus.BAD_REQUEST, {"error": "Content-Length must be a non-negative integer"})
                return
            n = int(raw)
            if n > MAX_BODY:
                self.close_connection = True
                self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body over {MAX_BODY} bytes"})
                return
            try:
                body = json.loads(self.rfile.read(n) or b"{}")
            except json.JSONDecodeError as e:
                self._reply(HTTPStatus.BAD_REQUEST, {"error": f"body is not JSON: {e}"})
                return
            if not isinstance(body, dict):
                self._reply(HTTPStatus.BAD_REQUEST, {"error": "body must be a JSON object"})
                return
        route = self.server.routes.get((method, self.path.rstrip("/")))
        if route is None:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route {method} {self.path}"})
            return
        try:
            self._reply(HTTPStatus.OK, self.server.call(lambda: route(body)))
        except (ValueError, KeyError, LookupError) as e:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(e)})

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    token: str
    routes: dict
    probes: dict
    call = staticmethod(lambda fn: fn())

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):  # over the cap: drop this socket, keep serving
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address):
        # a client that hangs up or stalls is its problem, not a traceback on the node's stderr
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, OSError)):
            super().handle_error(request, client_address)


class ControlServer:
    """Serve a gate's operator commands on ``host:port`` (port 0: any free port); see the module docstring."""

    def __init__(self, gate, store, *, registry=None, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, control_file: str | Path | None = None, allow_remote: bool = False,
                 probes: dict | None = None, call=None):
        if host not in _LOOPBACK and not allow_remote:
            raise ValueError(f"control endpoint host {host!r}: only loopback unless allow_remote=True")
        if registry is None and not hasattr(store, "session"):
            from workbench.risk.hotconfig import ConfigRegistry

            registry = ConfigRegistry(store, gate=gate)
        self.gate, self.store, self.registry = gate, store, registry
        self.channel = ControlChannel(gate, store)
        self.token = token or secrets.token_urlsafe(32)
        self.control_file = Path(control_file) if control_file else default_control_file()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.token = self.token
        self._httpd.routes = self._routes()
        self._httpd.probes = dict(probes or {})
        if call is not None:
            self._httpd.call = call
        self._thread: threading.Thread | None = None
        self.took_over: str | None = None  # set when start() replaced a dead node's discovery file

    def __repr__(self) -> str:  # never show the token
        return f"ControlServer({self.url!r})"

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @contextlib.contextmanager
    def _registry(self):
        if self.registry is not None:
            yield self.registry
            return
        from workbench.risk.hotconfig import ConfigRegistry

        with session(self.store) as s:  # a registry on the store for this one request
            yield ConfigRegistry(s, gate=self.gate)

    def _routes(self) -> dict:
        g, ch = self.gate, self.channel

        def command(name: str, scope_field: str = "scope", default_scope: str | None = "GLOBAL"):
            def run(body):
                if default_scope is not None:
                    body = {scope_field: default_scope, **body}
                scope, reason = _need(body, scope_field, "reason")
                seq = ch.command(name, scope, reason, str(body.get("by") or "operator"))
                return {"seq": seq, "state": _state(g, ch)}

            return run

        def config(action: str):
            def run(body):
                (reason,) = _need(body, "reason")
                by = str(body.get("by") or "operator")
                with self._registry() as registry:
                    if action == "rollback":
                        res = registry.rollback(int(_need(body, "version")[0]), by=by, reason=reason)
                    else:
                        res = registry.apply_text(_need(body, "text")[0], by=by, reason=reason, source="endpoint")
                return {"ok": res.ok, "changed": res.changed, "version": res.version, "summary": res.summary(),
                        "state": _state(g, ch)}

            return run

        return {
            ("GET", "/v1/state"): lambda body: _state(g, ch),
            ("GET", "/v1/orders"): lambda body: _orders(g),
            ("POST", "/v1/halt"): command("halt"),
            ("POST", "/v1/reset"): command("reset"),
            ("POST", "/v1/strategy/enable"): command("enable", "strategy", None),
            ("POST", "/v1/strategy/disable"): command("disable", "strategy", None),
            ("POST", "/v1/config/apply"): config("apply"),
            ("POST", "/v1/config/rollback"): config("rollback"),
        }

    def start(self) -> ControlServer:
        try:
            self._write_control_file()
        except BaseException:
            self._httpd.server_close()
            raise
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="wb-control", daemon=True)
        self._thread.start()
        return self

    def _write_control_file(self) -> None:
        self.took_over = write_control_file(
            self.control_file, {"url": self.url, "token": self.token},
            refuse=lambda note, cf: ControlError(0, f"control file {cf} already exists ({note}); "
                                                    f"if no node is running remove it: rm {cf}"))

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        try:
            if json.loads(self.control_file.read_text()).get("url") == self.url:
                self.control_file.unlink()
        except (OSError, ValueError):
            pass

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def request(method: str, path: str, body: dict | None = None, *, url: str | None = None,
            token: str | None = None, control_file: str | Path | None = None, timeout: float = 5.0):
    """Call a node's endpoint; URL and token default to the node's discovery file."""
    if url is None or token is None:
        cf = Path(control_file) if control_file else default_control_file()
        try:
            info = json.loads(cf.read_text())
        except (OSError, ValueError) as e:
            raise ControlError(0, f"no running node advertised in {cf} ({e})") from None
        url, token = url or info["url"], token or info["token"]
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{url}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read()).get("error", e.reason)
        except ValueError:
            msg = e.reason
        raise ControlError(e.code, msg) from None
    except urllib.error.URLError as e:
        raise ControlError(0, f"cannot reach {url}: {e.reason}") from None
