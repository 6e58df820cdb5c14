"""`node(id:)`: any object with an identity by its global id (api/ids.py), as Relay asks of a server and as
clients use to refetch one object without knowing the query that first returned it.

An id that is not one of ours, or names a type without ids, or has a key of the wrong shape is BAD_USER_INPUT
naming what is wrong; a well-formed id of an object that does not exist is NOT_FOUND, as for `device(deviceId:)`.
Either way `node` is null beside the error. Lookups go through the request's DataLoaders where there is one, so
several `node` fields in one request cost one batch per type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from strawberry import relay

from t3000gql.api import ids
from t3000gql.api.context import Context, Info
from t3000gql.api.station_types import PowerReading, Station
from t3000gql.api.types import Device, MonitoringPoint, TrendLog
from t3000gql.errors import NotFoundError, ValidationError

Finder = Callable[[Context, ids.GlobalId], Awaitable[relay.Node]]


async def _device(context: Context, gid: ids.GlobalId) -> Device:
    return Device.from_record(await context.require_device(ids.parse_int_key(gid, "deviceId")))


async def _point(context: Context, gid: ids.GlobalId) -> MonitoringPoint:
    return MonitoringPoint.from_record(await context.require_point(ids.parse_point_key(gid)))


async def _trend_log(context: Context, gid: ids.GlobalId) -> TrendLog:
    return TrendLog.from_record(await context.store.trend_logs.require(ids.parse_int_key(gid, "trendLogId")))


async def _station(context: Context, gid: ids.GlobalId) -> Station:
    device_id = ids.parse_int_key(gid, "deviceId")
    return Station.from_record(await context.services.stations.require_station(device_id=device_id))


async def _reading(context: Context, gid: ids.GlobalId) -> PowerReading:
    device_id, ts_ms = ids.parse_reading_key(gid)
    station = await context.services.stations.require_station(device_id=device_id)
    found = await context.services.readings.at(station, [ts_ms])
    if not found:
        raise NotFoundError(f"station {station.name!r} has no reading at {ts_ms} (epoch ms)")
    return PowerReading.from_reading(found[0])


FINDERS: dict[str, Finder] = {
    "Device": _device,
    "MonitoringPoint": _point,
    "TrendLog": _trend_log,
    "Station": _station,
    "PowerReading": _reading,
}
"""Every type that implements Node, by its GraphQL name (a test checks this against the schema)."""


async def find_node(context: Context, given: str) -> relay.Node:
    gid = ids.decode(given)
    finder = FINDERS.get(gid.type_name)
    if finder is None:
        raise ValidationError(
            f"names type {gid.type_name!r}, which has no ids; ids are of {', '.join(FINDERS)}",
            field="id",
            value=given,
        )
    return await finder(context, gid)


@strawberry.type
class NodeQueries:
    @strawberry.field(
        description="Any object with an id (Device, MonitoringPoint, TrendLog, Station, PowerReading) by that "
        "id. A malformed id is BAD_USER_INPUT, an unknown one NOT_FOUND; node is null then."
    )
    async def node(self, info: Info, id: strawberry.ID) -> relay.Node | None:
        return await find_node(info.context, id)
