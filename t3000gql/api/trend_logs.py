"""Trend logs: list, look up, create or change (with their points), delete."""

from __future__ import annotations

import strawberry

from t3000gql.api.access import needs
from t3000gql.api.context import Info
from t3000gql.api.inputs import TrendLogInput
from t3000gql.api.types import TrendLog
from t3000gql.auth import Role


@strawberry.type
class TrendLogQueries:
    @strawberry.field(description="The trend logs of a device.")
    async def trend_logs(self, info: Info, device_id: int) -> list[TrendLog] | None:
        await info.context.require_device(device_id)
        return [TrendLog.from_record(log) for log in await info.context.loaders.trend_logs_of.load(device_id)]

    @strawberry.field
    async def trend_log(self, info: Info, trend_log_id: int) -> TrendLog | None:
        return TrendLog.from_record(await info.context.registry.trend_log(trend_log_id))


@strawberry.type
class TrendLogMutations:
    @strawberry.mutation(
        description="Creates a trend log (input without trendLogId; trendLogName needed) or changes one; points given "
        "by type and number replace its points. Needs the admin role; audited.",
        extensions=needs(Role.ADMIN),
    )
    async def upsert_trend_log(self, info: Info, device_id: int, input: TrendLogInput) -> TrendLog | None:
        return TrendLog.from_record(
            await info.context.registry.upsert_trend_log(device_id, input.to_domain(device_id), info.context.actor)
        )

    @strawberry.mutation(
        description="Deletes a trend log (its samples stay). False when there was none. Needs the admin role; "
        "audited.",
        extensions=needs(Role.ADMIN),
    )
    async def delete_trend_log(self, info: Info, trend_log_id: int) -> bool | None:
        return await info.context.registry.delete_trend_log(trend_log_id, info.context.actor)
