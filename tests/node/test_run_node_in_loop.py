"""run_node called where a loop already runs (a Jupyter cell) is a WorkbenchError saying what to do instead,
not asyncio's bare RuntimeError; nothing is started."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.node import load_node_config, run_node

REPO = Path(__file__).resolve().parents[2]


def test_run_node_inside_a_running_loop_is_one_line_with_the_way_out():
    cfg = load_node_config(REPO / "config" / "node_paper.yaml")

    async def cell():
        return run_node(cfg, 1.0, store_path=":memory:")

    with pytest.raises(WorkbenchError) as err:
        asyncio.run(cell())
    assert "running event loop" in str(err.value) and "run_node_async" in err.value.one_line()
