"""The on-disk spool: readings the live monitor received while the database could not take writes.

An append-only file of JSON lines, one reading each, synced to disk before `append` returns, so a reading that
was received is either in the database or in the spool, also across a crash. Replay reads it in order, writes
through the station service (idempotent: a reading already stored counts as a duplicate), and removes the file
when every line is stored. A crash in the middle of a replay replays from the start the next time: nothing is
lost and, because writes are idempotent, nothing is stored twice.

Line format: {"stationId": 4000001, "timestamp": 1705314600000, "values": [w1, …, w6, kwh1, …, kwh4]}
(values in channel order, null where a channel has no value).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from t3000gql.domain.stations import CHANNEL_COUNT, ReadingInput
from t3000gql.storage.journal import JournalFile

log = logging.getLogger(__name__)


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.appended = 0
        """Readings appended by this process (for counters and tests)."""
        self._file = JournalFile(path)

    def exists(self) -> bool:
        return self._file.exists()

    def append(self, readings: Sequence[ReadingInput]) -> None:
        """Appends and syncs (blocking: call it in a thread from async code)."""
        self.appended += self._file.append(map(line_of, readings))

    def batches(self, size: int, start: int = 0) -> Iterator[tuple[list[ReadingInput], int]]:
        """Readings from byte `start` in batches of `size`, each with the byte offset after it. A line that
        cannot be read (torn by a crash before it was synced) is logged and skipped."""
        for entries, offset in self._file.entries(size, start):
            batch = []
            for entry in entries:
                reading = reading_of(entry)
                if reading is None:
                    log.warning("spool %s: skipped a line that is not a reading: %.200r", self.path, entry)
                else:
                    batch.append(reading)
            yield batch, offset

    def size(self) -> int:
        return self._file.size()

    def remove(self) -> None:
        self._file.remove()


def line_of(reading: ReadingInput) -> dict[str, Any]:
    return {"stationId": reading.station_id, "timestamp": reading.ts_ms, "values": list(reading.values)}


def reading_of(data: Any) -> ReadingInput | None:
    try:
        values = tuple(None if v is None else float(v) for v in data["values"])
        if len(values) != CHANNEL_COUNT:
            return None
        return ReadingInput(ts_ms=int(data["timestamp"]), values=values, station_id=int(data["stationId"]))
    except (KeyError, TypeError, ValueError):
        return None
