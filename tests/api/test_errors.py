"""Error codes on results that do not come through HTTP: streamed results (what subscriptions send) get their
codes from the same extension."""

from __future__ import annotations

from t3000gql.api.context import Context
from t3000gql.api.schema import schema
from t3000gql.config import Settings
from t3000gql.services import Services
from tests.api.conftest import NOW


async def test_streamed_results_carry_codes(seeded: Settings) -> None:
    services = await Services.start(seeded, clock=lambda: NOW)
    try:
        stream = await schema.stream(
            "{ device(deviceId: 5) { deviceId } }", context_value=Context.create(services)
        )
        # What a transport sends is formatted as each result arrives, before the operation ends.
        sent = [(result.data, [error.formatted for error in result.errors or []]) async for result in stream]
    finally:
        await services.stop()
    ((data, errors),) = sent
    assert data == {"device": None}
    assert [error["extensions"] for error in errors] == [{"code": "NOT_FOUND"}]
