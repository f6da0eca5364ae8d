"""Market replay: step, seek and what-if over a real nautilus run (see docs/replay.md)."""

from workbench.replay.replay import Breakpoints, Replay, ReplayError, compare, compare_stored
from workbench.replay.view import ReplayView

__all__ = ["Breakpoints", "Replay", "ReplayError", "ReplayView", "compare", "compare_stored"]
