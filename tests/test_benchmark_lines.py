"""The shared benchmark line format: ratio = project/anchor, higher_is_better always, and an
anchor that cannot run is a printed 'anchor unavailable' line (not silence or a TypeError)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("benchmark_lines", ROOT / "benchmarks" / "lines.py")
lines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lines)
metric, try_anchor = lines.metric, lines.try_anchor


def test_ratio_direction_goal_and_required_higher_is_better():
    row = metric("x_ms", 5.0, "ms", "naive", 10.0, goal=8, higher_is_better=False)
    assert (row["ratio"], row["higher_is_better"], row["meets"]) == (0.5, False, True)
    with pytest.raises(TypeError):
        metric("x_ms", 5.0, "ms", "naive", 10.0)  # no default direction to forget
    tiny = metric("err", 1.234567e-9, "x", "none", higher_is_better=False)
    assert tiny["value"] == 1.23457e-09 and tiny["ratio"] is None
    assert metric("nan", float("nan"), "x", "a", 1.0, goal=1, higher_is_better=True)["meets"] is False


def test_anchor_that_raises_is_reported_unavailable():
    value, why = try_anchor(lambda: __import__("no_such_anchor_package"))
    row = metric("x_per_s", 100.0, "1/s", "no_such_anchor_package", value, anchor_error=why, higher_is_better=True)
    assert value is None and row["anchor_value"] is None and row["ratio"] is None
    assert row["anchor_status"].startswith("anchor unavailable: ModuleNotFoundError")


def test_risk_instructions_without_valgrind_prints_an_unavailable_line(tmp_path):
    """It used to exit with a message and no JSON line at all."""
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}  # no valgrind on this PATH
    out = subprocess.run([sys.executable, "-m", "benchmarks", "risk_instructions"], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=True).stdout
    (line,) = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert line["metric"] == "risk_instructions_per_new_order" and line["higher_is_better"] is False
    assert line["anchor_status"].startswith("anchor unavailable: valgrind not installed")
