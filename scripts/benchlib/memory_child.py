"""The process the memory scenario measures structure sizes in (`python -m benchlib.memory_child breakdown URL`):
tracemalloc's size of each in-memory structure of the storage layer per point, each loaded alone beside a store
opened on the site (so one's objects are not counted in another's). Prints one JSON line."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any


async def breakdown(url: str) -> dict[str, float]:
    from t3000gql.config import Settings
    from t3000gql.storage.cache import RealtimeCache
    from t3000gql.storage.devices import DeviceRepository
    from t3000gql.storage.points import PointDirectory, PointRepository
    from t3000gql.storage.store import Store

    store = await Store.open(Settings.defaults(database_url=url, cache_duration_seconds=86400))
    try:
        ids = [row[0] for row in await store.db.fetch_all("SELECT id FROM monitoring_points ORDER BY id")]
        devices = await store.db.fetch_one("SELECT count(*) FROM devices")
        sizes: dict[str, float] = {"points": len(ids)}
        held: list[Any] = []

        async def measure(name: str, load: Callable[[], Awaitable[Any]], per: int) -> None:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            held.append(await load())
            gc.collect()
            sizes[name] = round((tracemalloc.get_traced_memory()[0] - before) / max(per, 1), 1)

        async def cache() -> RealtimeCache:
            fresh = RealtimeCache(store.clock, 86400)
            await fresh.load(store.db)
            return fresh

        async def directory() -> PointRepository:
            repository = PointRepository(store.db, store.clock)
            await repository.load_directory()
            return repository

        async def records() -> PointRepository:
            repository = PointRepository(store.db, store.clock)
            wanted = ids[: PointDirectory.RECORDS]
            for first in range(0, len(wanted), 1000):
                await repository.get_by_ids(wanted[first : first + 1000])
            return repository

        async def device_records() -> DeviceRepository:
            repository = DeviceRepository(store.db, store.clock)
            await repository.list()
            return repository

        tracemalloc.start()
        await measure("cache_bytes_per_point", cache, len(ids))
        await measure("directory_bytes_per_point", directory, len(ids))
        remembered = min(len(ids), PointDirectory.RECORDS)
        await measure("point_record_bytes_each", records, remembered)
        # remembering a record files its id in the directory too: that part is counted above already
        sizes["point_record_bytes_each"] = round(
            sizes["point_record_bytes_each"] - sizes["directory_bytes_per_point"], 1
        )
        await measure("device_record_bytes_each", device_records, int(devices[0]) if devices else 0)
        tracemalloc.stop()
        return sizes
    finally:
        await store.close()


def main(argv: list[str]) -> None:
    if argv[:1] == ["breakdown"] and len(argv) == 2:
        print(json.dumps(asyncio.run(breakdown(argv[1]))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
