from __future__ import annotations

from t3000gql.domain.inputs import DeviceInput, PointInput
from t3000gql.domain.points import PointRef, PointType
from t3000gql.storage.database import Database
from t3000gql.storage.store import Store

_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
}


async def table_names(db: Database) -> set[str]:
    """The tables the database holds, asked of its own catalog."""
    return {row[0] for row in await db.fetch_all(_TABLES[db.backend])}


DEVICE = 1001


async def add_device(store: Store, device_id: int = DEVICE, points: int = 4) -> list[PointRef]:
    await store.devices.upsert(DeviceInput(device_id, device_name=f"panel {device_id}", device_type="T3-BB"))
    created, _, _ = await store.points.upsert(
        device_id, [PointInput(PointType.INPUT, n, unit_code=1) for n in range(1, points + 1)]
    )
    return [p.ref for p in created]


async def point_id(store: Store, ref: PointRef) -> int:
    return (await store.points.resolve([ref]))[ref]
