"""The realtime cache: an in-memory map in front of the `realtime_data_cache` table.

The write path updates both in its transaction (the table) and right after commit (the map), so a restart
finds the last values again. A value is fresh while its sample time is younger than CACHE_DURATION_SECONDS;
measuring from the sample's time (not from when it was cached) means an imported old value never passes for a
current one.

The map is held as columns, not objects: three typed arrays indexed by point id (value, sample time, source
number) cost 20 bytes a point, where a dict of `CachedValue` records cost ~340 (a site of 100,000 points held
34 MB for it). Point ids are the table's integer keys, handed out densely by SQLite, so an array indexed by them
has few holes; an id far beyond the ids seen so far (which SQLite does not hand out, but a database may hold)
is kept in a small dict instead of stretching the arrays. `CachedValue` records are built when asked for.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from t3000gql.domain.samples import StoredSample
from t3000gql.domain.timeutil import Clock
from t3000gql.storage.database import Database

_ABSENT = -(2**63)
"""Sample time of an array slot without a value (sample times are never negative)."""
_DENSE_SLACK = 1 << 16
"""An id at most this far beyond twice the ids covered so far stretches the arrays; a farther one goes to the
dict (so one odd id cannot cost more than a few times what the points present cost anyway)."""
_LOAD_ROWS = 1_000
"""Rows read at a time at start: the whole table at once would hold every row as Python objects at the peak."""


@dataclass(frozen=True, slots=True)
class CachedValue:
    point_id: int
    value: float
    ts_ms: int
    source: str


@dataclass(frozen=True, slots=True)
class CacheLookup:
    entry: CachedValue | None
    fresh: bool


@dataclass(frozen=True, slots=True)
class CacheStats:
    total_points: int
    fresh_points: int
    stale_points: int
    cache_hit_rate: float
    """Share of lookups answered with a fresh value since start; 0.0 before the first lookup."""
    hits: int
    misses: int


class RealtimeCache:
    def __init__(self, clock: Clock, ttl_seconds: int) -> None:
        self._clock = clock
        self.ttl_ms = ttl_seconds * 1000
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        """Values dropped from the map since start (their point was deleted here or elsewhere)."""
        self._clear()

    def _clear(self) -> None:
        self._values = array("d")
        self._stamps = array("q")
        self._sources = array("I")
        """Index into `_source_names` (a value's source is one of a few names: api, collector, ...)."""
        self._source_names: list[str] = []
        self._source_numbers: dict[str, int] = {}
        self._far: dict[int, CachedValue] = {}
        """Values of ids beyond the arrays' reach (see `_DENSE_SLACK`)."""

    async def load(self, db: Database) -> None:
        self._clear()
        async for rows in db.iterate("SELECT point_id, value, ts, source FROM realtime_data_cache", _LOAD_ROWS):
            for point_id, value, ts, source in rows:
                self._put(point_id, value, ts, source)

    def _source_number(self, source: str) -> int:
        number = self._source_numbers.get(source)
        if number is None:
            number = self._source_numbers[source] = len(self._source_names)
            self._source_names.append(source)
        return number

    def _reaches(self, point_id: int) -> bool:
        """True when `point_id` has (or may be given) a slot in the arrays."""
        covered = len(self._stamps)
        if point_id < covered:
            return point_id >= 0
        if point_id > 2 * covered + _DENSE_SLACK:
            return False
        grow = max(point_id + 1, covered + covered // 4) - covered
        self._values.extend(array("d", [0.0]) * grow)
        self._stamps.extend(array("q", [_ABSENT]) * grow)
        self._sources.extend(array("I", [0]) * grow)
        return True

    def _put(self, point_id: int, value: float, ts_ms: int, source: str) -> None:
        if self._reaches(point_id):
            self._values[point_id] = value
            self._stamps[point_id] = ts_ms
            self._sources[point_id] = self._source_number(source)
        else:
            self._far[point_id] = CachedValue(point_id, value, ts_ms, source)

    def is_fresh(self, entry: CachedValue) -> bool:
        return self._clock() - entry.ts_ms < self.ttl_ms

    def lookup(self, point_id: int) -> CacheLookup:
        """A read on behalf of a caller: counted as a hit when fresh, as a miss otherwise."""
        entry = self.peek(point_id)
        fresh = entry is not None and self.is_fresh(entry)
        if fresh:
            self.hits += 1
        else:
            self.misses += 1
        return CacheLookup(entry, fresh)

    def peek(self, point_id: int) -> CachedValue | None:
        """The cached value without counting (for snapshots and internal use)."""
        if 0 <= point_id < len(self._stamps):
            ts = self._stamps[point_id]
            if ts == _ABSENT:
                return None
            return CachedValue(point_id, self._values[point_id], ts, self._source_names[self._sources[point_id]])
        return self._far.get(point_id)

    def _present(self) -> Iterator[int]:
        """Ids with a value in the arrays, in id order."""
        absent = _ABSENT
        return (point_id for point_id, ts in enumerate(self._stamps) if ts != absent)

    def entries(self) -> list[CachedValue]:
        """Every cached value (a copy, not counted): what a subscription's first snapshot is made of."""
        values, stamps, sources, names = self._values, self._stamps, self._sources, self._source_names
        found = [CachedValue(i, values[i], stamps[i], names[sources[i]]) for i in self._present()]
        found.extend(self._far.values())
        return found

    def apply(self, changes: Iterable[StoredSample]) -> None:
        """Takes committed samples; an older sample never replaces a newer cached one."""
        stamps = self._stamps
        for sample in changes:
            point_id, ts = sample.point_id, sample.ts_ms
            if 0 <= point_id < len(stamps) or self._reaches(point_id):
                stamps = self._stamps  # `_reaches` may have grown the arrays
                if ts >= stamps[point_id]:  # an empty slot holds the smallest time there is
                    self._values[point_id] = sample.value
                    stamps[point_id] = ts
                    self._sources[point_id] = self._source_number(sample.source)
            else:
                current = self._far.get(point_id)
                if current is None or ts >= current.ts_ms:
                    self._far[point_id] = CachedValue(point_id, sample.value, ts, sample.source)

    def forget(self, point_ids: Iterable[int]) -> None:
        stamps = self._stamps
        dropped = 0
        for point_id in point_ids:
            if 0 <= point_id < len(stamps):
                if stamps[point_id] != _ABSENT:
                    stamps[point_id] = _ABSENT
                    dropped += 1
            elif self._far.pop(point_id, None) is not None:
                dropped += 1
        self.evictions += dropped

    def size_bytes(self) -> int:
        """Memory the map holds now, as Python reports it (`sys.getsizeof`: the arrays' buffers, the dict of far
        ids and its records, the source names), not an estimate per point."""
        size = sum(sys.getsizeof(part) for part in (self._values, self._stamps, self._sources, self._far))
        size += sum(sys.getsizeof(entry) for entry in self._far.values())
        size += sys.getsizeof(self._source_names) + sum(sys.getsizeof(name) for name in self._source_names)
        return size

    async def cleanup(self, db: Database) -> int:
        """Drops entries whose point is gone (deleted elsewhere); returns how many. Stale values stay: they are
        still the last known value and are served marked stale."""
        rows = await db.fetch_all("SELECT point_id FROM realtime_data_cache")
        alive = {row[0] for row in rows}
        gone = [pid for pid in (*self._present(), *self._far) if pid not in alive]
        self.forget(gone)
        return len(gone)

    def stats(self, point_ids: Iterable[int] | None = None) -> CacheStats:
        now = self._clock()
        total = fresh = 0
        if point_ids is None:
            cutoff = now - self.ttl_ms  # fresh: now - ts < ttl, i.e. ts > cutoff
            for ts in self._stamps:
                if ts != _ABSENT:
                    total += 1
                    if ts > cutoff:
                        fresh += 1
            stamps: Iterable[int] = (entry.ts_ms for entry in self._far.values())
        else:
            stamps = (entry.ts_ms for pid in point_ids if (entry := self.peek(pid)) is not None)
        for ts in stamps:
            total += 1
            if now - ts < self.ttl_ms:
                fresh += 1
        lookups = self.hits + self.misses
        return CacheStats(
            total_points=total,
            fresh_points=fresh,
            stale_points=total - fresh,
            cache_hit_rate=self.hits / lookups if lookups else 0.0,
            hits=self.hits,
            misses=self.misses,
        )
