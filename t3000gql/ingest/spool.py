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
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson

from t3000gql.domain.stations import CHANNEL_COUNT, ReadingInput

log = logging.getLogger(__name__)


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.appended = 0
        """Readings appended by this process (for counters and tests)."""
        self._tail_checked = False

    def exists(self) -> bool:
        return self.path.exists()

    def append(self, readings: Sequence[ReadingInput]) -> None:
        """Appends and syncs (blocking: call it in a thread from async code)."""
        if not readings:
            return
        data = b"".join(
            orjson.dumps({"stationId": r.station_id, "timestamp": r.ts_ms, "values": list(r.values)}) + b"\n"
            for r in readings
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            if not self._tail_checked:
                # A crash mid-append can leave a torn last line; end it so the next line starts clean.
                if f.tell() > 0:
                    with self.path.open("rb") as tail:
                        tail.seek(-1, os.SEEK_END)
                        if tail.read(1) != b"\n":
                            f.write(b"\n")
                self._tail_checked = True
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self.appended += len(readings)

    def batches(self, size: int, start: int = 0) -> Iterator[tuple[list[ReadingInput], int]]:
        """Readings from byte `start` in batches of `size`, each with the byte offset after it. A line that
        cannot be read (torn by a crash before it was synced) is logged and skipped."""
        if not self.path.exists():
            return
        batch: list[ReadingInput] = []
        offset = start
        with self.path.open("rb") as f:
            f.seek(start)
            for raw in f:
                offset += len(raw)
                reading = _reading(raw)
                if reading is None:
                    log.warning("spool %s: skipped an unreadable line at byte %s", self.path, offset - len(raw))
                else:
                    batch.append(reading)
                if len(batch) >= size:
                    yield batch, offset
                    batch = []
        if batch:
            yield batch, offset
        elif offset > start:
            yield [], offset

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self._tail_checked = False


def _reading(raw: bytes) -> ReadingInput | None:
    if not raw.endswith(b"\n"):
        return None
    try:
        data = orjson.loads(raw)
        values = tuple(None if v is None else float(v) for v in data["values"])
        if len(values) != CHANNEL_COUNT:
            return None
        return ReadingInput(ts_ms=int(data["timestamp"]), values=values, station_id=int(data["stationId"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
