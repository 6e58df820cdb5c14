"""Lower layers name fields in the domain's words (`station_id`); clients see the GraphQL argument names
(`stationId`), in `extensions.field` and in the message, renamed in one place (t3000gql.api.errors)."""

from __future__ import annotations

import pytest

from t3000gql.api.errors import argument_name
from t3000gql.domain.inputs import TrendLogInput
from t3000gql.errors import ValidationError
from t3000gql.storage.store import Store
from tests.api.conftest import GraphQLClient


@pytest.mark.parametrize(
    ("domain", "argument"),
    [
        ("device_name", "deviceName"),
        ("modbus_unit_id", "modbusUnitId"),
        ("port", "port"),
        ("channel_names.muxPower1", "channelNames.muxPower1"),
        ("activePower1", "activePower1"),
        ("intervalSeconds", "intervalSeconds"),
    ],
)
def test_argument_names_are_the_schemas_names_of_domain_fields(domain: str, argument: str) -> None:
    assert argument_name(domain) == argument


def test_a_message_renames_its_field_and_the_fields_it_mentions_only() -> None:
    error = ValidationError(
        "is not a known station (give station or station_id)",
        field="station_id",
        index=2,
        mentions=("station_id",),
    )
    assert str(error) == "item 2, field 'station_id': is not a known station (give station or station_id)"
    assert error.describe(argument_name) == (
        "item 2, field 'stationId': is not a known station (give station or stationId)"
    )


async def test_storage_errors_carry_domain_names(store: Store) -> None:
    with pytest.raises(ValidationError) as caught:
        await store.trend_logs.upsert(1, TrendLogInput(interval_seconds=0))
    assert caught.value.field == "interval_seconds"


def test_clients_see_argument_names(empty_client: GraphQLClient) -> None:
    none_given = empty_client.error("{ station { name } }")
    assert none_given["message"] == "field 'station': give exactly one of deviceId, name or uuid"
    unknown = empty_client.error(
        'mutation { recordPowerReadings(inputs: [{stationId: 5, timestamp: "2025-01-01T00:00:00Z", '
        "activePower1: 1}]) { count } }"
    )
    assert unknown["message"] == "item 0, field 'stationId': is not a known station (give station or stationId)"
    assert unknown["extensions"] == {"code": "BAD_USER_INPUT", "field": "stationId", "index": 0, "value": 5}
    channel = empty_client.error(
        'mutation { createStation(input: {name: "TV-1", channelNames: [{field: muxPower1, name: " "}]}) { name } }'
    )
    assert channel["extensions"] == {"code": "BAD_USER_INPUT", "field": "channelNames.muxPower1", "value": " "}
    assert channel["message"] == "field 'channelNames.muxPower1': must be a non-empty text"
    device = empty_client.error('mutation { upsertDevice(input: {deviceId: 9, deviceName: "x"}) { deviceId } }')
    assert device["message"] == "field 'deviceType': is required to create a device"
    assert device["extensions"] == {"code": "BAD_USER_INPUT", "field": "deviceType"}
    reversed_range = empty_client.error(
        '{ powerReadings(filter: {startDate: "2025-01-02T00:00:00Z", endDate: "2025-01-01T00:00:00Z"}) '
        "{ timestamp } }"
    )
    assert reversed_range["message"] == "field 'endDate': must be later than startDate"
    both = empty_client.error('{ powerReadings(filter: {stationId: 1, stationName: "x"}) { timestamp } }')
    assert both["message"] == "field 'filter': give stationId or stationName, not both"


def test_a_trend_log_of_another_device_is_named_by_its_argument(client: GraphQLClient) -> None:
    log_id = client.data("{ trendLogs(deviceId: 1001) { trendLogId } }")["trendLogs"][0]["trendLogId"]
    error = client.error(
        "mutation ($id: Int!) { upsertTrendLog(deviceId: 1002, input: {trendLogId: $id, maxPoints: 5}) "
        "{ trendLogId } }",
        {"id": log_id},
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "trendLogId", "value": log_id}
    assert error["message"] == "field 'trendLogId': belongs to device 1001, not to device 1002"
