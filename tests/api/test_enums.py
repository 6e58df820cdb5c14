"""Closed sets as GraphQL enums (t3000gql/api/enums.py): each enum holds exactly the strings the domain allows,
inputs take the enum and storage keeps its strings, and a stored name the enum does not know reads as OTHER."""

from __future__ import annotations

from typing import Any

import pytest

from t3000gql.api.enums import ChannelField, DataSource, DeviceProtocol, PointDataType
from t3000gql.api.points import API_SOURCE
from t3000gql.collect.collector import SOURCE as COLLECTOR_SOURCE
from t3000gql.collect.commands import WRITE_SOURCE
from t3000gql.collect.current import READ_SOURCE
from t3000gql.domain.inputs import DATA_TYPES, PROTOCOLS
from t3000gql.domain.points import PointRef, PointType
from t3000gql.domain.samples import Sample
from t3000gql.domain.stations import CHANNEL_FIELDS
from t3000gql.ingest.importer import SOURCE as IMPORT_SOURCE
from t3000gql.ingest.monitor import SOURCE as MONITOR_SOURCE
from tests.api.conftest import NOW, GraphQLClient

RECORD = """mutation ($source: DataSource!) {
  recordPowerReading(input: {station: "S1", timestamp: "2025-01-01T00:00:00Z", activePower1: 5}, source: $source) {
    count
  }
}"""


def test_each_enum_holds_exactly_what_the_domain_allows() -> None:
    assert {p.value for p in DeviceProtocol} == set(PROTOCOLS)
    assert {t.value for t in PointDataType} == set(DATA_TYPES)
    assert [f.value for f in ChannelField] == list(CHANNEL_FIELDS)
    assert [f.name for f in ChannelField] == list(CHANNEL_FIELDS)


def test_every_source_the_server_writes_has_its_member(client: GraphQLClient) -> None:
    written = {API_SOURCE, COLLECTOR_SOURCE, READ_SOURCE, WRITE_SOURCE, IMPORT_SOURCE, MONITOR_SOURCE, "manual"}

    async def seeded_sources() -> set[str]:
        rows = await client.services.store.db.fetch_all("SELECT source FROM data_sources WHERE id <= 7")
        return {row[0] for row in rows}

    seeded = client.run(seeded_sources)
    assert len(seeded) == 7
    for name in written | seeded:
        assert DataSource.of(name) is not DataSource.OTHER, name
        assert DataSource.of(name).stored() == name


def test_protocol_and_data_type_go_in_as_enums_and_are_stored_as_before(empty_client: GraphQLClient) -> None:
    data = empty_client.data(
        """mutation {
          upsertDevice(input: {deviceId: 5, deviceName: "B", deviceType: "T3-BB", protocol: BACNET}) { protocol }
          upsertMonitoringPoints(deviceId: 5, points: [{pointType: INPUT, pointNumber: 1, dataType: INTEGER}]) {
            points { dataType }
          }
        }"""
    )
    assert data == {
        "upsertDevice": {"protocol": "BACNET"},
        "upsertMonitoringPoints": {"points": [{"dataType": "INTEGER"}]},
    }
    store = empty_client.services.store
    device = empty_client.run(store.devices.get, 5)
    point = empty_client.run(store.points.get, PointRef(5, PointType.INPUT, 1))
    assert (device.protocol, point.data_type) == ("bacnet", "INTEGER")


@pytest.mark.parametrize(
    ("operation", "variables", "code", "says"),
    [
        (
            'mutation { upsertDevice(input: {deviceId: 5, deviceName: "B", deviceType: "T", protocol: "bacnet"}) '
            "{ deviceId } }",
            {},
            "GRAPHQL_VALIDATION_FAILED",
            "Did you mean the enum value 'BACNET'?",
        ),
        (
            "mutation ($p: DeviceProtocol) { upsertDevice(input: "
            '{deviceId: 5, deviceName: "B", deviceType: "T", protocol: $p}) { deviceId } }',
            {"p": "bacnet"},
            "BAD_USER_INPUT",
            "Value 'bacnet' does not exist in 'DeviceProtocol' enum. Did you mean the enum value 'BACNET'?",
        ),
        (
            "mutation { upsertMonitoringPoints(deviceId: 1001, points: "
            '[{pointType: INPUT, pointNumber: 9, dataType: "REAL"}]) { inserted } }',
            {},
            "GRAPHQL_VALIDATION_FAILED",
            "Did you mean the enum value 'REAL'?",
        ),
    ],
)
def test_a_string_where_an_enum_is_expected_is_refused_and_says_which_value(
    client: GraphQLClient, operation: str, variables: dict[str, Any], code: str, says: str
) -> None:
    error = client.error(operation, variables)
    assert error["extensions"]["code"] == code and says in error["message"], error
    assert "data" not in error["body"]  # a request error: nothing ran, nothing was written


def test_a_source_name_the_enum_does_not_know_reads_as_other(client: GraphQLClient) -> None:
    supply = PointRef(1001, PointType.INPUT, 1)
    client.run(client.services.store.writes.record, [Sample(supply, NOW, 30.0)], "field-tablet")
    data = client.data("{ point(deviceId: 1001, pointType: INPUT, pointNumber: 1) { current { value source } } }")
    assert data["point"]["current"] == {"value": 30.0, "source": "OTHER"}


def test_readings_take_their_source_as_an_enum_and_refuse_other(empty_client: GraphQLClient) -> None:
    empty_client.data('mutation { createStation(input: {name: "S1"}) { name } }')
    error = empty_client.error(RECORD, {"source": "OTHER"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "source"}
    assert error["body"]["data"] == {"recordPowerReading": None}
    assert empty_client.data("{ powerReadingCount }") == {"powerReadingCount": 0}

    assert empty_client.data(RECORD, {"source": "LOG_MIGRATION"}) == {"recordPowerReading": {"count": 1}}
    readings = empty_client.data("{ powerReadings { source } }")["powerReadings"]
    assert readings == [{"source": "LOG_MIGRATION"}]

    async def stored_source() -> str:
        row = await empty_client.services.store.db.fetch_one(
            "SELECT s.source FROM power_readings AS r JOIN data_sources AS s ON s.id = r.source_id"
        )
        return str(row[0])

    assert empty_client.run(stored_source) == "log_migration"


def test_station_channels_name_their_field_and_unit_as_enums(empty_client: GraphQLClient) -> None:
    data = empty_client.data(
        'mutation { createStation(input: {name: "S1", channelNames: [{field: muxPower2, name: "MCOT HD"}]}) '
        "{ channels { field name unit } } }"
    )
    channels = data["createStation"]["channels"]
    assert channels[0] == {"field": "activePower1", "name": "activePower1", "unit": "W"}
    assert channels[7] == {"field": "muxPower2", "name": "MCOT HD", "unit": "kWh"}
    assert [c["field"] for c in channels] == list(CHANNEL_FIELDS)
