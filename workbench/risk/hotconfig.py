"""Hot configuration: validate, version, apply atomically, roll back, watch a file.

Every applied config is a row of ``risk_config_versions`` (increasing version, content hash, the
YAML text, who, when, why, and its source: api / file / watcher / rollback:vN). Applying is
validate -> insert the version row (one transaction) -> swap the gate's config reference. An invalid
config never reaches the gate: :class:`ApplyResult` carries the errors, and a ``CONFIG_REJECTED`` row
lands in ``risk_events`` so the refusal is auditable. Applying the config that is already active is a
no-op (same content hash). Rolling back to version N re-applies N's text as a *new* version, so the
history only ever grows.

Example::

    reg = ConfigRegistry(store, gate)
    reg.apply_file("config/risk.yaml", by="alice", reason="widen MM band")
    reg.rollback(3, by="alice", reason="band too wide")
    watcher = ConfigWatcher(reg, "config/risk.yaml", interval_s=1.0).start()
"""

from __future__ import annotations

import difflib
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.risk.config import CompiledConfig, ConfigError, parse_config
from workbench.risk.journal import connection, transaction
from workbench.risk.schema import ensure_schema


class UnknownVersion(WorkbenchError, KeyError):
    """A config version that is not in the store (a KeyError too, for callers that caught that)."""

    __str__ = WorkbenchError.__str__  # KeyError would quote the message


class ApplyResult(msgspec.Struct, frozen=True):
    ok: bool
    changed: bool
    version: int | None
    content_hash: str | None
    errors: list[str] = []

    def summary(self) -> str:
        if not self.ok:
            return "REJECTED: " + "; ".join(self.errors)
        return f"{'applied' if self.changed else 'unchanged'} v{self.version} ({self.content_hash[:12]})"


class ConfigRegistry:
    def __init__(self, store_or_con, gate=None):
        self.store = store_or_con
        self.con = connection(store_or_con)
        self.gate = gate
        self._lock = threading.Lock()
        ensure_schema(self.con)

    # -- queries -------------------------------------------------------------------------------------
    def history(self) -> pd.DataFrame:
        return self.con.execute(
            "SELECT version, content_hash, applied_by, applied_at, reason, source FROM risk_config_versions "
            "ORDER BY version"
        ).df()

    def text(self, version: int) -> str:
        row = self.con.execute(
            "SELECT config_text FROM risk_config_versions WHERE version = ?", [version]
        ).fetchone()
        if row is None:
            raise UnknownVersion(
                f"risk config version {version} does not exist", hint="`wb risk config history` lists them"
            )
        return row[0]

    def active(self) -> CompiledConfig | None:
        """The latest applied version, compiled (None if nothing was ever applied)."""
        row = self.con.execute(
            "SELECT version, config_text FROM risk_config_versions ORDER BY version DESC LIMIT 1"
        ).fetchone()
        return None if row is None else parse_config(row[1]).with_version(row[0])

    def diff(self, old: int | str | None = None, new: int | str | None = None) -> str:
        """Unified diff between two versions or texts (default: active vs nothing)."""

        def resolve(x):
            if x is None:
                cur = self.active()
                return ("active", cur.text if cur else "")
            return (f"v{x}", self.text(x)) if isinstance(x, int) else ("candidate", x)

        (na, a), (nb, b) = resolve(old), resolve(new)
        return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), fromfile=na, tofile=nb))

    # -- changes -------------------------------------------------------------------------------------
    def apply_text(self, text: str, *, by: str, reason: str, source: str = "api") -> ApplyResult:
        if not by or not reason:
            return ApplyResult(
                ok=False,
                changed=False,
                version=None,
                content_hash=None,
                errors=["who (by) and why (reason) are required"],
            )
        try:
            compiled = parse_config(text)
        except ConfigError as exc:
            self._record_rejection(exc.errors, by, reason, source)
            return ApplyResult(ok=False, changed=False, version=None, content_hash=None, errors=exc.errors)
        with self._lock:
            row = self.con.execute(
                "SELECT version, content_hash FROM risk_config_versions ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if row is not None and row[1] == compiled.content_hash:
                if self.gate is not None and self.gate.config.content_hash != compiled.content_hash:
                    self.gate.swap_config(compiled.with_version(row[0]))
                return ApplyResult(ok=True, changed=False, version=row[0], content_hash=row[1])
            version = (row[0] if row else 0) + 1
            with transaction(self.store):
                self.con.execute(
                    "INSERT INTO risk_config_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [version, compiled.content_hash, text, by, datetime.now(UTC), reason, source],
                )
            compiled = compiled.with_version(version)
            if self.gate is not None:
                self.gate.swap_config(compiled)
        return ApplyResult(ok=True, changed=True, version=version, content_hash=compiled.content_hash)

    def apply_file(self, path: str | Path, *, by: str, reason: str, source: str = "file") -> ApplyResult:
        return self.apply_text(Path(path).read_text(), by=by, reason=reason, source=source)

    def rollback(self, version: int, *, by: str, reason: str) -> ApplyResult:
        return self.apply_text(self.text(version), by=by, reason=reason, source=f"rollback:v{version}")

    def _record_rejection(self, errors: list[str], by: str, reason: str, source: str) -> None:
        with transaction(self.store):
            self.con.execute(
                "INSERT INTO risk_events VALUES ('config', 'CONFIG_REJECTED', 'GLOBAL', NULL, NULL, ?, "
                "NULL, ?, ?)",
                [f"{by}: {reason}", time.time_ns(), json.dumps({"errors": errors, "source": source})],
            )


class ConfigWatcher:
    """Polls a config file (mtime + content) and applies changes through the registry. Polling keeps it
    portable and deterministic to test; ``poll_once()`` is the unit of work, the thread just repeats it."""

    def __init__(
        self, registry: ConfigRegistry, path: str | Path, interval_s: float = 1.0, by: str = "watcher"
    ):
        self.registry = registry
        self.path = Path(path)
        self.interval_s = interval_s
        self.by = by
        self.last_result: ApplyResult | None = None
        self._seen: tuple[float, str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> ApplyResult | None:
        try:
            stat = self.path.stat()
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        key = (stat.st_mtime, text)
        if key == self._seen:
            return None
        self._seen = key
        self.last_result = self.registry.apply_text(
            text, by=self.by, reason=f"file changed: {self.path.name}", source="watcher"
        )
        return self.last_result

    def start(self) -> ConfigWatcher:
        def loop():
            while not self._stop.wait(self.interval_s):
                self.poll_once()

        self.poll_once()
        self._thread = threading.Thread(target=loop, name="risk-config-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
