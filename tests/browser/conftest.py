"""Real JupyterLab and Debian's Chromium (driven by Playwright) for the browser tests.

JupyterLab serves a temporary root holding a copy of the replay notebook (offline: WORKBENCH_STORE=:memory:
makes it generate the demo market), on 127.0.0.1 with a free port and a random token; it is started once
per session and always stopped. Screenshots go to $WORKBENCH_ARTIFACTS or tests/browser/artifacts/."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from benchmarks.loopback import free_port

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = REPO / "notebooks" / "06_replay.ipynb"
START_TIMEOUT_S = 90      # JupyterLab up and answering /api/status
STOP_TIMEOUT_S = 20
DEMO_TIMEOUT_S = 300      # `wb demo` (about 20 s alone on 2 cores)
ROOT = os.geteuid() == 0  # Chromium's sandbox and Jupyter both refuse root unless told


@dataclass(frozen=True)
class Lab:
    url: str       # http://127.0.0.1:<port>/
    token: str
    root: Path     # the server's root dir (the notebook copies)
    log: Path

    def tree(self, path: str) -> str:
        return f"{self.url}lab/tree/{path}?token={self.token}"

    def log_tail(self, n: int = 40) -> str:
        """The server's last log lines, token redacted (it is printed in the server's URLs)."""
        lines = self.log.read_text(errors="replace").splitlines()[-n:]
        return "\n".join(lines).replace(self.token, "<token>")


@dataclass
class Console:
    """Every console 'error' message and uncaught page error of one page; nothing is filtered."""
    errors: list[str] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("console", lambda m: self.errors.append(f"console: {m.text} @ {m.location}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))


def _request(url: str, method: str = "GET", timeout: float = 2.0) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=timeout) as r:
        return r.status


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = Path(os.environ.get("WORKBENCH_ARTIFACTS") or REPO / "tests" / "browser" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    # the user's Jupyter config, settings and workspaces stay out; no news/update requests (offline CI)
    # and a notebook starts its kernel without asking (the "Select Kernel" dialog)
    for plugin, values in {"apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
                           "notebook-extension/tracker": {"autoStartDefaultKernel": True}}.items():
        settings = base / "settings" / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(values))
    env = {**os.environ, "WORKBENCH_STORE": ":memory:", "JUPYTER_CONFIG_DIR": str(base / "config"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces")}
    jupyter = Path(sys.executable).with_name("jupyter")
    port, token = free_port(), secrets.token_hex(24)
    log = base / "jupyterlab.log"
    cmd = [str(jupyter), "lab", "--ip=127.0.0.1", f"--port={port}", "--no-browser",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
           *(["--allow-root"] if ROOT else [])]
    with log.open("wb") as out:
        # own process group: the teardown ends the server and whatever it started, by this group's id
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}/", token, root, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited with {proc.returncode} while starting:\n{server.log_tail()}",
                            pytrace=False)
            try:
                if _request(f"{server.url}api/status?token={token}") == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab not answering after {START_TIMEOUT_S}s:\n{server.log_tail()}",
                            pytrace=False)
            time.sleep(0.25)  # poll interval of the bounded start wait
        yield server
    finally:
        _stop(proc, server)


def _stop(proc: subprocess.Popen, server: Lab) -> None:
    """Shut the server down through its API (that also shuts its kernels down, which run in their own
    sessions), then end its process group whatever happened."""
    if proc.poll() is None:
        try:
            _request(f"{server.url}api/shutdown?token={server.token}", method="POST", timeout=10)
            proc.wait(timeout=STOP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            pass
    _end_group(proc)


def _end_group(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, the process group we started ``proc`` in (start_new_session=True)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
    proc.wait(timeout=STOP_TIMEOUT_S)


@dataclass(frozen=True)
class DemoJob:
    proc: subprocess.Popen
    report: Path
    log: Path

    def wait(self) -> Path:
        try:
            rc = self.proc.wait(timeout=DEMO_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`wb demo` still running after {DEMO_TIMEOUT_S}s", pytrace=False)
        if rc != 0 or not self.report.is_file():
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            pytest.fail(f"`wb demo` exited with {rc}, no report at {self.report}:\n{tail}", pytrace=False)
        return self.report


@pytest.fixture(scope="session", autouse=True)
def demo_job(tmp_path_factory):
    """`wb demo` (what `make demo` runs) on an in-memory store into a temp folder, started in the background
    with the first browser test: it computes while the notebook test mostly waits on the browser."""
    out = tmp_path_factory.mktemp("demo")
    log = out / "wb-demo.log"
    wb = Path(sys.executable).with_name("wb")
    with log.open("wb") as f:
        proc = subprocess.Popen([str(wb), "--store", ":memory:", "demo", "--out", str(out / "reports"), "--quiet"],
                                env={**os.environ, "TQDM_DISABLE": "1"}, cwd=REPO, stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield DemoJob(proc, out / "reports" / "demo.html", log)
    finally:
        _end_group(proc)


@pytest.fixture
def demo_report(demo_job) -> Path:
    """The demo's HTML report (waits for the background `wb demo`)."""
    return demo_job.wait()


# Module scope, not session: Playwright's sync API keeps an asyncio loop running on the main thread while
# it is open, and every later test that calls asyncio.run() (the IB simulator and node tests) would fail.
@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: the browser tests drive Debian's Chromium; run `make chromium`",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                               args=["--no-sandbox"] if ROOT else [])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser, console, artifacts, request):
    """A fresh page whose console goes to ``console``; its last state is saved as <test>-last.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(60_000)
    console.attach(page)
    try:
        yield page
    finally:
        try:
            page.screenshot(path=artifacts / f"{request.node.name}-last.png")
        finally:
            context.close()
