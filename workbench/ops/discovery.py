"""The discovery file a running node's control endpoint advertises itself in (URL, token, owner pid).

It holds a token, so it is created exclusively (``O_CREAT|O_EXCL|O_NOFOLLOW``), owner-only (0600 set with
``fchmod`` so the umask cannot widen it) and never written through a symlink. A file left behind by a process
that is gone (``kill -9``: nothing removed it) is taken over with one line on stderr; a live node's file, a
symlink or an unreadable file is refused. Check and takeover run under a lock file beside it, so two nodes
starting at once cannot both take it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["default_control_file", "write_control_file"]


def default_control_file() -> Path:
    """Where a running node advertises its endpoint: ``$WB_CONTROL_FILE`` or ``~/.workbench/control.json``."""
    return Path(os.environ.get("WB_CONTROL_FILE", Path.home() / ".workbench" / "control.json"))


def write_control_file(cf: Path, payload: dict, *, refuse: Callable[[str, Path], Exception]) -> str | None:
    """Write ``payload`` plus this process's pid and start time to ``cf``; returns the takeover note when a
    stale file was replaced (else None). ``refuse(note, cf)`` builds the exception raised for a file that is
    not ours to replace."""
    cf.parent.mkdir(parents=True, exist_ok=True)
    took_over = None
    with _dir_lock(cf):
        try:
            fd = _create(cf)
        except FileExistsError:
            note, stale = _owner_note(cf)
            if not stale:
                raise refuse(note, cf) from None
            cf.unlink()
            took_over = f"control file {cf} taken over ({note})"
            print(took_over, file=sys.stderr, flush=True)
            fd = _create(cf)
    os.fchmod(fd, 0o600)  # the umask cannot widen it, and a pre-set mode is overridden
    with os.fdopen(fd, "w") as f:
        json.dump({**payload, "pid": os.getpid(), "started": _start_ticks(os.getpid())}, f)
    return took_over


def _create(cf: Path) -> int:
    return os.open(cf, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)


@contextlib.contextmanager
def _dir_lock(cf: Path):
    """An exclusive lock on ``<control file>.lock`` (created 0600, never through a symlink)."""
    import fcntl

    fd = os.open(cf.with_name(cf.name + ".lock"), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot, /proc/<pid>/stat field 22): with the pid it
    names one process, so a pid the kernel reused for another program is told apart. None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])  # fields after "(comm)": state is field 3
    except (OSError, ValueError, IndexError):
        return None


def _looks_like_node(pid: int) -> bool:
    """For a file without a start time: could ``pid`` be a workbench node (python, wb, jupyter)?
    Unknown (no /proc) counts as yes: fail closed, the file is refused."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").lower()
    except OSError:
        return True
    return any(w in cmd for w in ("python", "wb", "workbench", "jupyter", "pytest"))


def _owner_note(cf: Path) -> tuple[str, bool]:
    """(why the existing file is there, whether it is stale: its process is gone or is another program)."""
    if cf.is_symlink():
        return "it is a symlink, refused", False
    try:
        info = json.loads(cf.read_text())
        pid = int(info.get("pid"))
        started = info.get("started")
        if pid <= 0:
            raise ValueError(pid)
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"stale: recorded pid {pid} is not running", True
    except PermissionError:  # alive, another user's: never ours to take over
        return f"pid {pid} is running (another user)", False
    except (OSError, ValueError, TypeError, AttributeError):
        return "not readable as a control file", False
    now = _start_ticks(pid)
    if started is not None and now is not None and now != started:
        return f"stale: pid {pid} is now another process", True
    if started is None and not _looks_like_node(pid):
        return f"stale: pid {pid} is not a workbench node", True
    return f"node pid {pid} is running", False
