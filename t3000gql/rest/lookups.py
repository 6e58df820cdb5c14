"""Look-ups every route needs, through the same repositories (and their in-memory records) GraphQL's loaders use:
a point by its natural key, with a NOT_FOUND that says whether the device or the point is missing."""

from __future__ import annotations

from t3000gql.domain.points import PointRef
from t3000gql.errors import NotFoundError
from t3000gql.services import Services
from t3000gql.storage.records import MonitoringPoint


async def require_point(services: Services, ref: PointRef) -> MonitoringPoint:
    point = (await services.store.points.get_many([ref])).get(ref)
    if point is None:
        await services.store.devices.require(ref.device_id)
        raise NotFoundError(f"point {ref} does not exist")
    return point
