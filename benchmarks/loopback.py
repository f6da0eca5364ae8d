"""Loopback helpers shared by the benchmark harnesses and the tests (one copy, not one per file)."""

from __future__ import annotations

import socket
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the socket is closed before it is used)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(pred, timeout_s: float, step: float = 0.05):
    """Poll ``pred`` until it returns a truthy value or ``timeout_s`` passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = pred()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def node_run(store, cfg, duration_s: float, workdir, *, timeout_s: float = 150.0, cwd=None):
    """``wb --store STORE node run CFG --duration S --json`` as its own process, as a user runs it; ``cfg`` is a
    run file's path or a dict written to ``workdir/node.yaml``. The control endpoint's discovery file goes to
    ``workdir`` (not the user's); ``cwd`` defaults to the checkout. Returns (the ``--json`` summary or None when the run printed none, the
    finished process: returncode, stderr for the failure message)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    workdir = Path(workdir)
    if isinstance(cfg, dict):
        path = workdir / "node.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        cfg = path
    wb = str(Path(sys.executable).with_name("wb"))
    proc = subprocess.run([wb, "--store", str(store), "node", "run", str(cfg), "--duration", str(duration_s),
                           "--json"], capture_output=True, text=True, timeout=timeout_s,
                          cwd=cwd or Path(__file__).resolve().parents[1],
                          env={**os.environ, "WB_CONTROL_FILE": str(workdir / "control.json")})
    lines = proc.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1]) if lines else None
    except ValueError:
        summary = None
    return summary, proc
