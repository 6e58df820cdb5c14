"""The collector's backlog: samples collected while the database refused writes, written in order when it is back.

A collection run whose write is refused (DatabaseUnavailable: locked, read-only, disk full, unreachable) hands
its samples here instead of losing them, and so does every run after it while anything is held, so that they
are written in the order they were collected. They are kept in memory up to COLLECTOR_BACKLOG_MEMORY_SAMPLES,
then appended to spool files (storage/journal.py: synced before `keep` returns) beside the database; what is in
memory at shutdown goes to a spool file too, and spool files left by an earlier run are written at start-up.

Order: memory holds only entries older than every spool file (an entry goes to memory only while no spool file
exists), so the drain writes memory first, then the spool files in the order of their numbers. A file is
replayed from where the drain got to, and removed only after its last entry's commit was durable (`durable=True`:
SQLite's synchronous=FULL for that commit). An entry that fails for another reason than an outage (a point
deleted meanwhile) goes to the dead-letter file with the reason, and the rest go on. Writes are idempotent (one
row per point and time), so a crash in the middle of a replay writes nothing twice.

Spool line: {"trendLogId": 7, "ts": 1790000000000, "samples": [[deviceId, pointType, pointNumber, tsMs, value,
quality], …]}.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Quality, Sample
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import DatabaseUnavailable
from t3000gql.lifecycle import cancel_and_wait
from t3000gql.storage.journal import DeadLetters, JournalFile
from t3000gql.storage.store import Store

log = logging.getLogger(__name__)

SPOOL_BATCH = 50
"""Entries read from a spool file at a time."""


@dataclass(frozen=True, slots=True)
class Deferred:
    """One collection run's samples that wait for the database."""

    trend_log_id: int | None
    """None for samples of no trend log (the collector always gives one)."""
    ts_ms: int
    samples: tuple[Sample, ...]

    def line(self) -> dict[str, Any]:
        return {
            "trendLogId": self.trend_log_id,
            "ts": self.ts_ms,
            "samples": [
                [
                    s.point.device_id,
                    int(s.point.point_type),
                    s.point.point_number,
                    s.ts_ms,
                    s.value,
                    int(s.quality),
                ]
                for s in self.samples
            ],
        }

    @classmethod
    def from_line(cls, data: Any) -> Deferred:
        """Raises KeyError, TypeError or ValueError for a line that is not an entry."""
        trend_log_id = None if data["trendLogId"] is None else int(data["trendLogId"])
        samples = tuple(
            Sample(
                PointRef(int(device), PointType(int(kind)), int(number)),
                int(ts),
                float(value),
                trend_log_id=trend_log_id,
                quality=Quality(int(quality)),
            )
            for device, kind, number, ts, value, quality in data["samples"]
        )
        return cls(trend_log_id, int(data["ts"]), samples)


Written = Callable[[Deferred], Any]


class Backlog:
    def __init__(
        self,
        store: Store,
        *,
        source: str,
        spool_base: Path,
        memory_samples: int,
        retry_seconds: float,
        clock: Clock,
        written: Written | None = None,
    ) -> None:
        self._store = store
        self._source = source
        self._base = spool_base
        self._memory_limit = memory_samples
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._written = written
        self.dead = DeadLetters(spool_base.with_name(spool_base.name + ".dead"))
        self._memory: deque[Deferred] = deque()
        self._memory_count = 0
        self._files: list[JournalFile] = []
        self._replaying: JournalFile | None = None
        self._replayed_to = 0
        self._spooled_samples = 0
        self._spooled_entries = 0
        self._oldest_ms: int | None = None
        self._lock = asyncio.Lock()
        """Taken by `keep` and by each step of the drain: spool files change under one of them at a time."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.kept = 0
        """Samples handed to the backlog since start."""
        self.drained = 0
        """Samples written from the backlog since start."""

    # --- what the collector calls ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether it drains (on the leader, while the collection schedule runs): only then does it take
        samples; a run elsewhere (`collect_now` on another process) fails as it did before."""
        return self._task is not None

    @property
    def pending(self) -> bool:
        """Whether anything waits: a new run's samples must then queue behind it."""
        return bool(self._memory) or bool(self._files)

    async def keep(self, entry: Deferred) -> None:
        """Holds a run's samples until the database takes them (in memory, or synced to a spool file)."""
        async with self._lock:
            self.kept += len(entry.samples)
            if self._oldest_ms is None:
                self._oldest_ms = entry.ts_ms
            if not self._files and self._memory_count + len(entry.samples) <= self._memory_limit:
                self._memory.append(entry)
                self._memory_count += len(entry.samples)
            else:
                await asyncio.to_thread(self._tail_file().append, [entry.line()])
                self._spooled_entries += 1
                self._spooled_samples += len(entry.samples)
        self._wake.set()

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the drain (which writes spool files left by an earlier run, or by the previous leader, first)."""
        async with self._lock:
            found = await asyncio.to_thread(self._existing_files)
            known = {file.path for file in self._files}
            self._files = sorted(
                [*self._files, *(file for file in found if file.path not in known)], key=self._number
            )
        if self._files:
            log.info("collector: writing %s spooled bytes of samples from an earlier run", self.spooled_bytes())
        self._task = asyncio.create_task(self._drain_forever(), name="collector backlog")
        self._wake.set()

    async def stop(self) -> None:
        """Stops the drain and puts what is in memory into a spool file before every other one, so that the
        next start writes it first: nothing held is lost at shutdown."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        async with self._lock:
            if not self._memory:
                return
            head = JournalFile(self._file_path(self._numbers()[0] - 1 if self._files else 1))
            await asyncio.to_thread(head.append, [entry.line() for entry in self._memory])
            self._files.insert(0, head)
            self._spooled_entries += len(self._memory)
            self._spooled_samples += self._memory_count
            self._memory.clear()
            self._memory_count = 0
            log.info("collector: %s held entries spooled to %s at shutdown", self._spooled_entries, head.path)

    # --- draining ----------------------------------------------------------------------------------------------

    async def _drain_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._retry_seconds if self.pending else None):
                    await self._wake.wait()
            self._wake.clear()
            if not self.pending:
                continue
            try:
                await self.drain()
            except Exception:
                log.exception("collector backlog: draining failed; it is tried again")

    async def drain(self) -> bool:
        """Writes what is held, oldest first, until done (True) or the database refuses again (False)."""
        while self._memory:
            entry = self._memory[0]
            if not await self._write(entry, durable=False, raw=None):
                return False
            async with self._lock:
                self._memory.popleft()
                self._memory_count -= len(entry.samples)
        while self._files:
            file = self._files[0]
            if file is not self._replaying:
                self._replaying, self._replayed_to = file, 0
            batches = file.entries(SPOOL_BATCH, self._replayed_to)
            while True:
                async with self._lock:  # `keep` may append to this very file: never read while it writes
                    item = await asyncio.to_thread(next, batches, None)
                if item is None:
                    break
                lines, end = item
                for line in lines:
                    # durable: the file goes once its last entry is written, and must not outlive a lost commit
                    if not await self._write_line(line):
                        return False
                self._replayed_to = end
            async with self._lock:
                if self._files[0] is not file or file.size() > self._replayed_to:
                    continue  # `keep` appended after our last read: read on
                await asyncio.to_thread(file.remove)
                self._files.pop(0)
                self._replaying, self._replayed_to = None, 0
        async with self._lock:
            if not self.pending:
                self._oldest_ms = None
                self._spooled_entries = self._spooled_samples = 0
        return True

    async def _write_line(self, line: Any) -> bool:
        try:
            entry = Deferred.from_line(line)
        except (KeyError, TypeError, ValueError) as exc:
            await asyncio.to_thread(self.dead.put, line, f"not a backlog entry: {exc!r}", self._clock())
            return True
        return await self._write(entry, durable=True, raw=line)

    async def _write(self, entry: Deferred, *, durable: bool, raw: Any) -> bool:
        """One entry in one transaction; False when the database refused (it stays held)."""
        try:
            await self._store.writes.record(entry.samples, self._source, durable=durable)
        except DatabaseUnavailable:
            return False
        except Exception as exc:  # not an outage: this entry will never be written as it is
            reason = f"{type(exc).__name__}: {exc}"
            await asyncio.to_thread(self.dead.put, raw or entry.line(), reason, self._clock())
            return True
        self.drained += len(entry.samples)
        if self._written is not None:
            try:
                await self._written(entry)
            except Exception:
                log.warning("collector backlog: a follow-up of a written entry failed", exc_info=True)
        return True

    # --- files -------------------------------------------------------------------------------------------------

    def _existing_files(self) -> list[JournalFile]:
        pattern = re.compile(re.escape(self._base.name) + r"\.(-?\d+)$")
        found = []
        if self._base.parent.is_dir():
            for path in self._base.parent.iterdir():
                match = pattern.match(path.name)
                if match:
                    found.append((int(match.group(1)), path))
        return [JournalFile(path) for _, path in sorted(found)]

    @staticmethod
    def _number(file: JournalFile) -> int:
        return int(file.path.name.rsplit(".", 1)[1])

    def _numbers(self) -> list[int]:
        return [self._number(file) for file in self._files]

    def _file_path(self, number: int) -> Path:
        return self._base.with_name(f"{self._base.name}.{number}")

    def _tail_file(self) -> JournalFile:
        """The file new entries go to: the last one (even while it is replayed: the drain reads on to its end
        under the same lock before it removes it)."""
        if not self._files:
            self._files.append(JournalFile(self._file_path(1)))
        return self._files[-1]

    def spooled_bytes(self) -> int:
        return sum(file.size() for file in self._files)

    def files(self) -> Iterator[Path]:
        return (file.path for file in self._files)

    def report(self) -> dict[str, Any]:
        """What /health shows: what waits for the database, since when, and how much of it is on disk."""
        return {
            "pending": self.pending,
            "samplesInMemory": self._memory_count,
            "entriesInMemory": len(self._memory),
            "spooledSamples": self._spooled_samples,
            "spooledBytes": self.spooled_bytes(),
            "oldestMs": self._oldest_ms,
            "kept": self.kept,
            "drained": self.drained,
            "deadLetters": self.dead.count,
            "deadLetterPath": str(self.dead.path.absolute()) if self.dead.count else None,
        }
