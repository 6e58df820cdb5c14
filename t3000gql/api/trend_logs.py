"""Trend logs: list, look up, create or change (with their points), delete."""

from __future__ import annotations

import strawberry

from t3000gql.api.context import Info
from t3000gql.api.inputs import TrendLogInput
from t3000gql.api.types import TrendLog
from t3000gql.errors import NotFoundError


@strawberry.type
class TrendLogQueries:
    @strawberry.field(description="The trend logs of a device.")
    async def trend_logs(self, info: Info, device_id: int) -> list[TrendLog] | None:
        await info.context.require_device(device_id)
        return [TrendLog.from_record(log) for log in await info.context.loaders.trend_logs_of.load(device_id)]

    @strawberry.field
    async def trend_log(self, info: Info, trend_log_id: int) -> TrendLog | None:
        log = await info.context.store.trend_logs.get(trend_log_id)
        if log is None:
            raise NotFoundError(f"trend log {trend_log_id} does not exist")
        return TrendLog.from_record(log)


@strawberry.type
class TrendLogMutations:
    @strawberry.mutation(
        description="Creates a trend log (input without trendLogId; trendLogName needed) or changes one; points given "
        "by type and number replace its points."
    )
    async def upsert_trend_log(self, info: Info, device_id: int, input: TrendLogInput) -> TrendLog | None:
        log = await info.context.store.trend_logs.upsert(device_id, input.to_domain(device_id))
        await info.context.services.trend_log_changed(log.id)  # its schedule follows at the next tick
        return TrendLog.from_record(log)

    @strawberry.mutation(description="Deletes a trend log (its samples stay). False when there was none.")
    async def delete_trend_log(self, info: Info, trend_log_id: int) -> bool | None:
        deleted = await info.context.store.trend_logs.delete(trend_log_id)
        await info.context.services.trend_log_changed(trend_log_id)
        return deleted
