"""A multi-file ingest that parses the next file while the current one is written.

Reading a file (inflate, CSV parse, checks, unit and zone conversion) needs no store, and DuckDB,
zlib and the Arrow CSV reader all release the GIL: so one worker thread reads file ``i+1`` while
the calling thread writes file ``i``. The store is only ever touched from the calling thread, and
every file is still its own batch (one transaction, one ``ingest_log`` row), written in order.

A job's ``prepare(path, data)`` does the reading and returns ``write(store, batch)``; it must not
touch the store. What stays as it was without the look-ahead:

- a file whose bytes were already ingested is skipped, checked again right before its write (the
  same bytes earlier in this run count), so a skipped file is at most parsed once for nothing; the
  stored hashes are read once per ingest (the store is written only from the calling thread, so
  the set plus this run's ingested files is what a query per file would say);
- a file that fails (``IngestError`` from reading or writing) stops the ingest, or with
  ``keep_going`` is reported ``failed`` and the next file goes on; nothing of it is written;
- at most two files are held in memory (the one being written and the next).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.ingest.base import FileResult, Handler, ingested_hashes, scan_file, write_file
from workbench.ingest.errors import IngestError, not_utf8

Writer = Callable[[Any, Any], None]
Prepare = Callable[[Path, bytes], Writer]


@dataclass(frozen=True)
class Job:
    """One file: ``prepare`` None means the file is recognised but not ingested (``ignored``)."""

    path: Path
    prepare: Prepare | None
    force: bool = False


@dataclass
class _Ahead:
    job: Job
    sha: str | None = None
    error: IngestError | None = None
    skip: bool = False  # already ingested when looked at
    parsed: Future | None = None  # the read-ahead (None: read at its turn)


def ingest_jobs(store: Any, jobs: Sequence[Job], source: str, *, keep_going: bool = False,
                wrap: Callable[[Sequence[Job]], Any] = iter, read_ahead: bool = True) -> Iterator[FileResult]:
    """Yield one :class:`FileResult` per job, in order (``wrap`` is a progress bar around the jobs);
    ``read_ahead=False`` reads each file at its turn on the calling thread (as does a single file:
    there is no next file to read meanwhile, so no thread is started)."""
    ahead_pool = ThreadPoolExecutor(1, thread_name_prefix="wb-ingest-read") if read_ahead and len(jobs) > 1 else None
    with ahead_pool or contextlib.nullcontext(), store.one_thread(), store.deferred_checkpoints():
        try:
            done = ingested_hashes(store, source) if jobs else set()  # grows with this run's files
            ahead = _start(done, jobs[0], ahead_pool) if jobs else None
            for i, _ in enumerate(wrap(jobs)):
                current, ahead = ahead, (_start(done, jobs[i + 1], ahead_pool) if i + 1 < len(jobs) else None)
                try:
                    result = _finish(store, source, current, done)
                except IngestError as exc:
                    if not keep_going:
                        raise
                    result = FileResult(str(current.job.path), "failed", error=str(exc))
                if result.status == "ingested" and current.sha is not None:
                    done.add(current.sha)  # its ingest_log row (status OK) is committed
                yield result
        finally:
            if ahead_pool is not None:
                ahead_pool.shutdown(wait=True, cancel_futures=True)


def in_write(handler: Handler) -> Prepare:
    """A one-step handler ``handler(store, path, data, batch)`` as a job's ``prepare``: everything,
    reading included, happens in the write step (on the calling thread)."""
    return lambda path, data: (lambda store, batch: handler(store, path, data, batch))


def _start(done: set[str], job: Job, pool: ThreadPoolExecutor | None) -> _Ahead:
    if job.prepare is None:
        return _Ahead(job)
    try:
        sha = scan_file(job.path)
    except IngestError as exc:
        return _Ahead(job, error=exc)
    if not job.force and sha in done:
        return _Ahead(job, sha, skip=True)
    if pool is None:
        return _Ahead(job, sha)
    # the worker sees this context's ingest limits (a ContextVar) as the calling thread does
    return _Ahead(job, sha, parsed=pool.submit(contextvars.copy_context().run, _read, job))


def _read(job: Job) -> Writer:
    return job.prepare(job.path, job.path.read_bytes())


def _finish(store: Any, source: str, a: _Ahead, done: set[str]) -> FileResult:
    path = a.job.path
    if a.job.prepare is None:
        return FileResult(str(path), "ignored")
    if a.error is not None:
        raise a.error
    # skipped at the look-ahead (ingest_log rows that say OK are never removed), or the same bytes
    # came earlier in this run and were ingested after the look-ahead looked
    if not a.job.force and (a.skip or a.sha in done):
        if a.parsed is not None:
            a.parsed.cancel()
        return FileResult(str(path), "skipped")
    try:
        write = a.parsed.result() if a.parsed is not None else _read(a.job)
    except UnicodeDecodeError as exc:
        raise not_utf8(str(path), exc) from None
    return write_file(store, path, source, a.sha, write)
