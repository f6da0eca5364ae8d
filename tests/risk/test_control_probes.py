"""The control endpoint's token-free probes (/health, /ready, /metrics for a node) and its session-per-
command store: with a SharedStore nothing holds the DuckDB file between commands, so another process
(here: a second connection, which DuckDB refuses across processes while one is open) can write it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from workbench.node.sharedstore import SharedStore
from workbench.ops.control import ControlServer, request
from workbench.risk.control import control_state, issue
from workbench.store import Store


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def test_probes_need_no_token_and_commands_still_do(tmp_path, rk):
    path = tmp_path / "s.duckdb"
    Store.open(str(path)).close()
    shared = SharedStore(str(path))
    ready = {"ready": False}

    def boom():
        raise RuntimeError("probe failed")

    probes = {"/health": lambda: (200, "application/json", b'{"status": "alive"}'),
              "/ready": lambda: (200 if ready["ready"] else 503, "application/json", json.dumps(ready).encode()),
              "/broken": boom}
    calls = []
    server = ControlServer(rk.make_gate(), shared, control_file=tmp_path / "c.json", probes=probes,
                           call=lambda fn: calls.append(1) or fn()).start()
    try:
        assert _get(f"{server.url}/health")[0] == 200
        assert _get(f"{server.url}/ready")[0] == 503
        ready["ready"] = True
        assert _get(f"{server.url}/ready?verbose=1")[:2] == (200, "application/json")
        status, _, body = _get(f"{server.url}/broken")
        assert status == 500 and b"probe failed" in body
        assert _get(f"{server.url}/v1/state")[0] == 401
        # between commands the store is closed: an offline writer gets in, and the command route sees it
        with Store.open(str(path)) as s:
            issue(s, "halt", "GLOBAL", "offline", "ops")
        res = request("POST", "/v1/reset", {"reason": "back"}, url=server.url, token=server.token)
        assert res["state"]["global"] != "HALT" and res["seq"] == 2 and calls  # ran through ``call``
        with Store.open(str(path)) as s:
            assert control_state(s)["halted"] == {}
    finally:
        server.stop()
