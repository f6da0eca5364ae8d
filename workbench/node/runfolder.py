"""``runs/<run_id>/``: one folder per node run — ``config.yaml`` (the effective run file), ``events.jsonl``
(one JSON event per line: orders, fills, decisions' verdicts, readiness changes, errors), ``journal.duckdb``
(the gate's journal for this run) and ``summary.json`` at the end. The account id and the endpoint token
are never written (the config's account id is replaced, the log redacts both)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import yaml

from workbench.node.telemetry import RunLog

REDACTED = "<redacted>"


class RunFolder:
    def __init__(self, path: Path, secrets: tuple[str, ...] = ()):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=False)  # a run id is new: never write into another run
        self.log = RunLog(self.path / "events.jsonl", secrets)

    def write_config(self, cfg, **resolved) -> Path:
        doc = msgspec.to_builtins(cfg)
        doc["account_id"] = REDACTED
        doc["resolved"] = resolved
        return self._write("config.yaml", yaml.safe_dump(doc, sort_keys=False))

    def finish(self, summary: dict) -> Path:
        self.log.write("summary", **summary)
        self.log.close()
        return self._write("summary.json", json.dumps(summary, sort_keys=True, default=str, indent=1) + "\n")

    def _write(self, name: str, text: str) -> Path:
        """Whole or nothing: written beside, then renamed over."""
        out = self.path / name
        tmp = out.with_suffix(out.suffix + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
        return out
