"""Control endpoint hardening with real sockets on 127.0.0.1: discovery file created exclusively (no
symlink, no overwrite), request bodies bounded and validated before anything acts."""

from __future__ import annotations

import json
import os
import socket

import pytest

from workbench.ops.control import MAX_BODY, ControlError, ControlServer
from workbench.risk.control import control_state
from workbench.store import Store


@pytest.fixture
def srv(tmp_path, rk):
    store = Store.open(str(tmp_path / "node.duckdb"))
    server = ControlServer(rk.make_gate(), store, control_file=tmp_path / "control.json").start()
    yield server
    server.stop()
    store.close()


def _raw(server, head: str, body: bytes = b"") -> tuple[int, bytes]:
    host, port = server._httpd.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def _post(server, headers: str, body: bytes = b"") -> int:
    head = (f"POST /v1/halt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
            f"Connection: close\r\n{headers}")
    return _raw(server, head, body)[0]


@pytest.mark.parametrize("cl", [None, "-5", "abc", "1e3"])
def test_bad_content_length_is_400_and_nothing_is_recorded(srv, cl):
    body = json.dumps({"reason": "x"}).encode()
    hdr = "" if cl is None else f"Content-Length: {cl}\r\n"
    assert _post(srv, hdr, body) == 400
    assert control_state(srv.store)["last_seq"] == 0


def test_oversized_body_is_413(srv):
    assert _post(srv, f"Content-Length: {MAX_BODY + 1}\r\n") == 413
    assert control_state(srv.store)["last_seq"] == 0


def test_non_string_reason_is_400(srv):
    body = json.dumps({"reason": {"a": 1}}).encode()
    assert _post(srv, f"Content-Length: {len(body)}\r\n", body) == 400
    assert control_state(srv.store)["last_seq"] == 0


def test_client_hanging_up_is_not_a_traceback(srv, capfd):
    host, port = srv._httpd.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(f"POST /v1/halt HTTP/1.1\r\nAuthorization: Bearer {srv.token}\r\nContent-Length: 100\r\n\r\n{{".encode())
    body = json.dumps({"reason": "still up"}).encode()
    assert _post(srv, f"Content-Length: {len(body)}\r\n", body) == 200
    assert "Traceback" not in capfd.readouterr().err


def test_existing_or_symlinked_control_file_is_refused(tmp_path, rk):
    with Store.open(str(tmp_path / "n.duckdb")) as store:
        target = tmp_path / "elsewhere.txt"
        target.write_text("keep")
        link = tmp_path / "link.json"
        link.symlink_to(target)
        with pytest.raises(ControlError, match="already exists"):
            ControlServer(rk.make_gate(), store, control_file=link).start()
        assert target.read_text() == "keep"
        stale = tmp_path / "stale.json"
        stale.write_text(json.dumps({"url": "http://127.0.0.1:1", "token": "t", "pid": 2**22 + 12345}))
        s = ControlServer(rk.make_gate(), store, control_file=stale).start()  # a dead pid's file: taken over
        assert json.loads(stale.read_text())["token"] == s.token != "t"  # (tests/node/test_restart.py)
        s.stop()
        fresh = tmp_path / "fresh.json"
        old = os.umask(0)
        try:
            s = ControlServer(rk.make_gate(), store, control_file=fresh).start()
        finally:
            os.umask(old)
        assert (fresh.stat().st_mode & 0o777) == 0o600
        s.stop()
