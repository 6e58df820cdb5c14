"""How long the database takes: the time a reader connection is held for one read, and the time of one write
transaction (from BEGIN, lock wait included, to COMMIT), on both databases.

Plain counters, cheap enough for every statement (two `perf_counter` calls and an add): /health derives its
average query time from them over a window, and an observer (the /metrics histogram, set by the health service)
hears each one.
"""

from __future__ import annotations

from collections.abc import Callable

READ = "read"
WRITE = "write"

Observer = Callable[[str, float], None]
"""Called with READ or WRITE and the seconds it took."""


class SqlTimings:
    __slots__ = ("observer", "read_seconds", "reads", "write_seconds", "writes")

    def __init__(self) -> None:
        self.reads = 0
        self.read_seconds = 0.0
        self.writes = 0
        self.write_seconds = 0.0
        self.observer: Observer | None = None

    def record(self, kind: str, seconds: float) -> None:
        if kind == READ:
            self.reads += 1
            self.read_seconds += seconds
        else:
            self.writes += 1
            self.write_seconds += seconds
        if self.observer is not None:
            self.observer(kind, seconds)

    @property
    def count(self) -> int:
        return self.reads + self.writes

    @property
    def seconds(self) -> float:
        return self.read_seconds + self.write_seconds
