"""Configuration (seed 000's "configuration management"): a device's trend logs and monitoring points, and a
trend log created or changed. A change goes through the registry service, as GraphQL's upsertTrendLog does: it
writes, reschedules the collector and publishes the change."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from starlette.requests import Request
from starlette.responses import Response

from t3000gql.domain.inputs import UNSET, TrendLogInput
from t3000gql.errors import ValidationError
from t3000gql.rest import envelope, wire
from t3000gql.rest.access import Admin, Viewer, actor_of
from t3000gql.rest.device_data import DATABASE, DeviceId
from t3000gql.rest.models import ApiResponse, MonitoringPoint, TrendLog, TrendLogIn
from t3000gql.rest.routing import WITH_BODY, errors, router

routes = router()


@routes.get(
    "/trend-logs/{device_id}",
    response_model=ApiResponse[list[TrendLog]],
    responses=errors(404),
    summary="A device's trend logs (what it samples and how often)",
)
async def get_trend_logs(device_id: DeviceId, services: Viewer) -> Response:
    await services.store.devices.require(device_id)
    logs = (await services.store.trend_logs.list_for_devices([device_id]))[device_id]
    return envelope.ok([wire.trend_log(log) for log in logs], DATABASE, services.clock())


@routes.post(
    "/trend-logs/{device_id}",
    response_model=ApiResponse[TrendLog],
    responses=errors(404, *WITH_BODY),
    summary="Creates a trend log (no id) or changes one (id); answers it as stored",
)
async def update_trend_log(
    device_id: DeviceId, trend_log: Annotated[TrendLogIn, Body()], services: Admin, request: Request
) -> Response:
    if trend_log.device_id is not None and trend_log.device_id != device_id:
        raise ValidationError(
            f"must be the device of the URL, {device_id}", field="device_id", value=trend_log.device_id
        )
    given = TrendLogInput(
        id=trend_log.id,
        device_id=device_id,
        trend_log_name=UNSET if trend_log.trend_log_name is None else trend_log.trend_log_name,
        interval_seconds=UNSET if trend_log.interval_seconds is None else trend_log.interval_seconds,
        max_points=UNSET if trend_log.max_points is None else trend_log.max_points,
        is_active=UNSET if trend_log.is_active is None else bool(trend_log.is_active),
    )
    try:
        stored = await services.registry.upsert_trend_log(device_id, given, actor_of(request))
    except ValidationError as exc:
        if exc.field != "trend_log_id":
            raise
        raise ValidationError(exc.reason, field="id", index=exc.index, value=exc.value) from exc  # the seed's name
    return envelope.ok(wire.trend_log(stored), DATABASE, services.clock())


@routes.get(
    "/monitoring-points/{device_id}",
    response_model=ApiResponse[list[MonitoringPoint]],
    responses=errors(404),
    summary="A device's monitoring points, by type and number",
)
async def get_monitoring_points(device_id: DeviceId, services: Viewer) -> Response:
    await services.store.devices.require(device_id)
    points = await services.store.points.list_for_device(device_id)
    return envelope.ok([wire.monitoring_point(point) for point in points], DATABASE, services.clock())
