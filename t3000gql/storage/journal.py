"""Append-only files of JSON lines beside the database: what a writer keeps while the database refuses it.

`JournalFile` is the one format of the station monitor's spool and journal (ingest/) and of the collector's
backlog (collect/): one JSON value per line, synced to disk before `append` returns, read back in order in
batches with the byte offset after each (so a replay that stops half-way resumes there). A crash in the middle of
an append leaves a torn last line: it was never synced, so nobody was told it was kept; reading skips it, and the
next append starts on a new line.

`DeadLetters` is where an entry goes that cannot be written for a reason other than an outage (a point deleted
meanwhile, a value the write path refuses): one JSON line with the entry, the reason and the time, so an operator
can see and replay it, and the entries after it go on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)


class JournalFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._tail_checked = False

    def exists(self) -> bool:
        return self.path.exists()

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, entries: Iterable[Any]) -> int:
        """Appends one line per entry and syncs (blocking: call it in a thread from async code); returns how
        many it appended."""
        lines = [orjson.dumps(entry) + b"\n" for entry in entries]
        if not lines:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        with self.path.open("ab") as f:
            if not self._tail_checked:
                # A crash mid-append can leave a torn last line; end it so the next line starts clean.
                if f.tell() > 0:
                    with self.path.open("rb") as tail:
                        tail.seek(-1, os.SEEK_END)
                        if tail.read(1) != b"\n":
                            f.write(b"\n")
                self._tail_checked = True
            f.write(b"".join(lines))
            f.flush()
            os.fsync(f.fileno())
        if created:
            _sync_directory(self.path.parent)  # the file's name survives a power cut too
        return len(lines)

    def entries(self, size: int, start: int = 0) -> Iterator[tuple[list[Any], int]]:
        """Entries from byte `start` in batches of up to `size`, each with the byte offset after it (a last
        batch may be empty when only skipped lines remained). A torn line (no newline: never synced) or a line
        that is not JSON is logged and skipped."""
        if not self.path.exists():
            return
        batch: list[Any] = []
        offset = start
        with self.path.open("rb") as f:
            f.seek(start)
            for raw in f:
                offset += len(raw)
                entry = _decoded(raw)
                if entry is _UNREADABLE:
                    log.warning("%s: skipped an unreadable line at byte %s", self.path, offset - len(raw))
                else:
                    batch.append(entry)
                if len(batch) >= size:
                    yield batch, offset
                    batch = []
        if batch or offset > start:
            yield batch, offset

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self._tail_checked = False


class DeadLetters:
    """Entries that failed for a reason other than an outage, each with why (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.file = JournalFile(path)
        self.count = 0
        """Entries put here by this process."""

    @property
    def path(self) -> Path:
        return self.file.path

    def put(self, entry: Any, reason: str, at_ms: int) -> None:
        """Appends and syncs (blocking)."""
        self.file.append([{"reason": reason, "at": at_ms, "entry": entry}])
        self.count += 1
        log.error("%s: an entry that cannot be written was set aside: %s", self.file.path, reason)


_UNREADABLE = object()


def _decoded(raw: bytes) -> Any:
    if not raw.endswith(b"\n"):
        return _UNREADABLE
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _UNREADABLE


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
