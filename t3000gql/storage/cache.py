"""The realtime cache: an in-memory map in front of the `realtime_data_cache` table.

The write path updates both in its transaction (the table) and right after commit (the map), so a restart
finds the last values again. A value is fresh while its sample time is younger than CACHE_DURATION_SECONDS;
measuring from the sample's time (not from when it was cached) means an imported old value never passes for a
current one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from t3000gql.domain.samples import StoredSample
from t3000gql.domain.timeutil import Clock
from t3000gql.storage.database import Database


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
        self._entries: dict[int, CachedValue] = {}
        self.hits = 0
        self.misses = 0

    async def load(self, db: Database) -> None:
        rows = await db.fetch_all("SELECT point_id, value, ts, source FROM realtime_data_cache")
        self._entries = {row[0]: CachedValue(row[0], row[1], row[2], row[3]) for row in rows}

    def is_fresh(self, entry: CachedValue) -> bool:
        return self._clock() - entry.ts_ms < self.ttl_ms

    def lookup(self, point_id: int) -> CacheLookup:
        """A read on behalf of a caller: counted as a hit when fresh, as a miss otherwise."""
        entry = self._entries.get(point_id)
        fresh = entry is not None and self.is_fresh(entry)
        if fresh:
            self.hits += 1
        else:
            self.misses += 1
        return CacheLookup(entry, fresh)

    def peek(self, point_id: int) -> CachedValue | None:
        """The cached value without counting (for snapshots and internal use)."""
        return self._entries.get(point_id)

    def entries(self) -> list[CachedValue]:
        """Every cached value (a copy, not counted): what a subscription's first snapshot is made of."""
        return list(self._entries.values())

    def apply(self, changes: Iterable[StoredSample]) -> None:
        """Takes committed samples; an older sample never replaces a newer cached one."""
        entries = self._entries
        for sample in changes:
            current = entries.get(sample.point_id)
            if current is None or sample.ts_ms >= current.ts_ms:
                entries[sample.point_id] = CachedValue(sample.point_id, sample.value, sample.ts_ms, sample.source)

    def forget(self, point_ids: Iterable[int]) -> None:
        for point_id in point_ids:
            self._entries.pop(point_id, None)

    async def cleanup(self, db: Database) -> int:
        """Drops entries whose point is gone (deleted elsewhere); returns how many. Stale values stay: they are
        still the last known value and are served marked stale."""
        rows = await db.fetch_all("SELECT point_id FROM realtime_data_cache")
        alive = {row[0] for row in rows}
        gone = [pid for pid in self._entries if pid not in alive]
        self.forget(gone)
        return len(gone)

    def stats(self, point_ids: Iterable[int] | None = None) -> CacheStats:
        if point_ids is None:
            entries: Iterable[CachedValue] = self._entries.values()
        else:
            entries = [e for pid in point_ids if (e := self._entries.get(pid)) is not None]
        now = self._clock()
        total = fresh = 0
        for entry in entries:
            total += 1
            if now - entry.ts_ms < self.ttl_ms:
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
