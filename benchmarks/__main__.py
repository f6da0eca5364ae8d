"""Run benchmark suites and print one JSON line per metric.

Each suite is a module ``benchmarks.<name>`` with ``run() -> list[dict]``; a metric dict has
``metric, value, unit, anchor, anchor_value, ratio`` (and optional ``goal``, ``meets``).
"""

from __future__ import annotations

import importlib
import json
import sys
import time

SUITES = ("foundation", "vol", "risk", "ibsim", "replay", "sweep", "compare", "node")
OPT_IN = ("risk_instructions",)  # run only when named (valgrind, minutes)


def main(argv: list[str]) -> int:
    names = list(SUITES) if not argv or argv == ["all"] else argv
    if len(names) > 1:
        # One process per suite: a suite must not be timed on the heap, caches and idle worker threads
        # (numba's parallel pool) the previous suites left behind.
        import subprocess

        rcs = [subprocess.call([sys.executable, "-m", "benchmarks", name]) for name in names]
        return max(rcs)
    failed = 0
    for name in names:
        if name not in SUITES + OPT_IN:
            print(f"unknown suite {name!r}; choose from {', '.join(SUITES + OPT_IN)} or all", file=sys.stderr)
            return 2
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"benchmarks.{name}":
                raise
            print(json.dumps({"suite": name, "error": "not built yet"}), flush=True)
            failed += 1
            continue
        t0 = time.perf_counter()
        for metric in module.run():
            print(json.dumps(metric, default=float), flush=True)
        print(json.dumps({"suite": name, "seconds": round(time.perf_counter() - t0, 1)}), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
