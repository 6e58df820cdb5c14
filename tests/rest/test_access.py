"""The REST routes under the same access control as GraphQL: the bearer token (401), each route's role (403,
nothing done), the per-token rate limit (429), the audit trail naming the caller, all in seed 000's envelope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from t3000gql.auth import Role
from t3000gql.config import Settings
from tests.api.conftest import NOW, bearer, issue_token, open_client
from tests.rest.conftest import RestClient

NOW_S = NOW // 1000
BATCH = [{"device_id": 1001, "point_type": 1, "point_number": 1, "value": 42.0, "timestamp": NOW_S}]


@pytest.fixture
def tokens(seeded: Settings) -> dict[Role, str]:
    return {role: issue_token(seeded, role.label, role) for role in Role}


@pytest.fixture
def secure_rest(tokens: dict[Role, str], seeded: Settings) -> Iterator[RestClient]:
    with open_client(replace(seeded, auth_required="true", api_rate_limit_per_minute=5)) as client:
        yield RestClient(client)


def test_a_route_without_a_token_or_with_a_bad_one_is_401_in_the_envelope(secure_rest: RestClient) -> None:
    for headers in ({}, bearer("t3k_wrong")):
        answer = secure_rest.get("/api/device/1001/data", headers=headers)
        assert (answer.status, answer.body["code"]) == (401, "UNAUTHENTICATED")
        assert answer.response.headers["www-authenticate"].startswith("Bearer")


def test_each_route_needs_its_role(secure_rest: RestClient, tokens: dict[Role, str]) -> None:
    reads = secure_rest.get("/api/device/1001/data", headers=bearer(tokens[Role.VIEWER]))
    assert reads.status == 200
    refused = secure_rest.post("/api/timeseries/batch", BATCH, headers=bearer(tokens[Role.VIEWER]))
    assert (refused.status, refused.body["code"]) == (403, "FORBIDDEN")
    assert "POST /api/timeseries/batch needs the ingest role" in refused.body["error"]
    stored = secure_rest.post("/api/timeseries/batch", BATCH, headers=bearer(tokens[Role.INGEST]))
    assert stored.status == 200
    trend_log = {"trend_log_name": "new log", "interval_seconds": 60}
    as_operator = secure_rest.post("/api/trend-logs/1001", trend_log, headers=bearer(tokens[Role.OPERATOR]))
    assert (as_operator.status, as_operator.body["code"]) == (403, "FORBIDDEN")
    as_admin = secure_rest.post("/api/trend-logs/1001", trend_log, headers=bearer(tokens[Role.ADMIN]))
    assert as_admin.status == 200
    logs = secure_rest.get("/api/trend-logs/1001", headers=bearer(tokens[Role.VIEWER])).data
    assert [log["trend_log_name"] for log in logs].count("new log") == 1  # the operator's attempt made nothing
    entries = secure_rest.graphql.post(
        "{ auditLog { entries { user operation } } }", headers=bearer(tokens[Role.ADMIN])
    )["data"]["auditLog"]["entries"]
    assert [(e["user"], e["operation"]) for e in entries[:2]] == [
        ("admin", "create_trend_log"),
        ("ingest", "store_time_series"),
    ]


def test_a_token_past_its_rate_limit_is_429_with_retry_after(
    secure_rest: RestClient, tokens: dict[Role, str]
) -> None:
    answers = [secure_rest.get("/api/device/1001/data", headers=bearer(tokens[Role.VIEWER])) for _ in range(6)]
    assert [a.status for a in answers] == [200] * 5 + [429]
    assert answers[-1].body["code"] == "RATE_LIMITED"
    assert int(answers[-1].response.headers["retry-after"]) >= 1
