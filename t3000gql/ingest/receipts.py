"""The station monitor's journal of receipts: every reading it received, on disk before it counts as received.

The monitor buffers readings for a few hundred milliseconds (longer while the database refuses writes) before it
writes them; a crash in that time used to lose them (measured before: kill -9 seven seconds into a locked stream at
100 readings/s lost 127 of 1,000). Now a reading is appended to the journal and synced before the monitor takes it
into its buffer, counts it as received, and reads the next message from that station's WebSocket (so a station
that sends faster than the disk syncs waits in TCP, not in our memory). Syncs are grouped: every reading that
arrived while one sync ran goes to disk with the next one (one fsync for many readings and stations).

The journal is a set of segment files `<spool>.journal.<n>`. The buffer holds exactly the readings of the segments
not yet taken; when the flusher takes the buffer it takes those segments with it (`take`), and removes them
once the batch is committed or in the spool (`done`), or gives them back with the batch when neither worked
(`give_back`). At start-up, segments left by a crash are moved into the spool (`leftovers`), which is replayed as
always: writes are idempotent, so a reading both in the database and in a segment is stored once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from t3000gql.domain.stations import ReadingInput
from t3000gql.ingest.spool import line_of, reading_of
from t3000gql.storage.journal import JournalFile

Taken = Callable[[list[ReadingInput]], None]


class Receipts:
    def __init__(self, base: Path, on_synced: Taken) -> None:
        """`on_synced(readings)` is called once they are on disk, before anyone else may `take`: the monitor
        puts them into its buffer there."""
        self.base = base
        self._on_synced = on_synced
        self._pattern = re.compile(re.escape(base.name) + r"\.(\d+)$")
        self._left = self._segments()
        self._next = max((n for n, _ in self._left), default=0) + 1
        self._current: JournalFile | None = None
        self._untaken: list[JournalFile] = []
        self._waiting: list[tuple[list[ReadingInput], asyncio.Future[None]]] = []
        self._syncer: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()
        """Held while a sync appends and hands over its readings, and while the flusher takes the buffer."""

    def _segments(self) -> list[tuple[int, Path]]:
        if not self.base.parent.is_dir():
            return []
        found = []
        for path in self.base.parent.iterdir():
            match = self._pattern.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def leftovers(self) -> list[tuple[Path, list[ReadingInput]]]:
        """Segments an earlier run left (it crashed with readings in its buffer), oldest first, with their
        readings (blocking: call it in a thread)."""
        found = []
        for _, path in self._left:
            readings: list[ReadingInput] = []
            for entries, _ in JournalFile(path).entries(10_000):
                readings.extend(r for r in map(reading_of, entries) if r is not None)
            found.append((path, readings))
        return found

    def forget_leftovers(self) -> None:
        for _, path in self._left:
            path.unlink(missing_ok=True)
        self._left = []

    async def record(self, readings: Sequence[ReadingInput]) -> None:
        """Returns once the readings are on disk and handed to `on_synced` (raises OSError when they cannot be
        written: the caller has not received them)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(readings), done))
        if self._syncer is None or self._syncer.done():
            self._syncer = asyncio.create_task(self._sync(), name="station receipts")
        await done

    async def _sync(self) -> None:
        while self._waiting:
            async with self.lock:
                group, self._waiting = self._waiting, []
                readings = [reading for part, _ in group for reading in part]
                if self._current is None:
                    self._current = JournalFile(self.base.with_name(f"{self.base.name}.{self._next}"))
                    self._next += 1
                try:
                    await asyncio.to_thread(self._current.append, map(line_of, readings))
                except OSError as exc:
                    for _, done in group:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                self._on_synced(readings)
            for _, done in group:
                if not done.done():
                    done.set_result(None)

    def take(self) -> list[JournalFile]:
        """The segments of everything synced so far (the flusher, holding `lock`, takes the buffer with them)."""
        if self._current is not None:
            self._untaken.append(self._current)
            self._current = None
        taken, self._untaken = self._untaken, []
        return taken

    def give_back(self, segments: list[JournalFile]) -> None:
        """The batch went back to the buffer: so do its segments."""
        self._untaken[:0] = segments

    @staticmethod
    def done(segments: list[JournalFile]) -> None:
        """The batch is committed or spooled: its segments go (blocking)."""
        for segment in segments:
            segment.remove()

    def size(self) -> int:
        files = [*self._untaken, *([self._current] if self._current else [])]
        return sum(file.size() for file in files)

    async def close(self) -> None:
        if self._syncer is not None:
            await asyncio.gather(self._syncer, return_exceptions=True)
