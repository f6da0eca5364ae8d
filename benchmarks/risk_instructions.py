"""Machine instructions per new-order decision of the risk gate, counted by valgrind (callgrind).

Timings on a shared VM move by +-30% from minute to minute; an instruction count is the same on every
run of the same build, so it shows what a change to the decision path really did. Runs the ``risk``
benchmark's stream (3000 decisions, journal and metrics on) under callgrind with collection switched
on only inside ``operator.call``, through which the new orders of the last two thirds are decided.
Anchor: the same count for the single-validator gate without journal/metrics, in the same run.
Opt-in (``python -m benchmarks risk_instructions``, ~10 minutes here): not part of ``make bench``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile

from benchmarks.lines import metric, try_anchor

N_DECISIONS = 3000


def _worker(kind: str) -> None:
    import operator

    import duckdb

    from benchmarks.risk import _config, _run, _scenario
    from workbench.risk.gate import RiskGate
    from workbench.risk.journal import Journal
    from workbench.risk.metrics import RiskMetrics

    if kind == "full":
        con = duckdb.connect(":memory:")
        gate = RiskGate(_config(), journal=Journal(con, "ir", flush_every=10**9), metrics=RiskMetrics())
    else:
        gate = RiskGate(_config(["order_size"]))
    count = [0]

    def probe(ev, intent):
        count[0] += 1
        return operator.call(ev, intent)

    _run(gate, _scenario(), N_DECISIONS, probe)
    print(f"PROBED {count[0]}")


def _count(kind: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=_operator_call",
             f"--callgrind-out-file={tmp}/cg.out", sys.executable, "-m", "benchmarks.risk_instructions", kind],
            capture_output=True, text=True, check=True,
        )
    probed = int(re.search(r"PROBED (\d+)", out.stdout).group(1))
    collected = int(re.search(r"Collected : (\d+)", out.stderr).group(1))
    return collected / probed


def run() -> list[dict]:
    name, unit, anchor = "risk_instructions_per_new_order", "instructions", "single-validator gate, no journal/metrics"
    if shutil.which("valgrind") is None:  # neither side can be counted: say so, do not exit silently
        why = "valgrind not installed (Debian package valgrind)"
        return [metric(name, None, unit, anchor, anchor_error=why, higher_is_better=False, error=why)]
    full = _count("full")
    bare, why = try_anchor(_count, "bare")
    return [metric(name, round(full), unit, anchor, bare, anchor_error=why, higher_is_better=False)]


if __name__ == "__main__":
    _worker(sys.argv[1])
