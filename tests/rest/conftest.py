"""Fixtures for the REST tests: the real app over the seeded site of tests/api (behind Starlette's TestClient,
lifespan running, clock at NOW), and a client that holds every answer to the models the OpenAPI document is
generated from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from t3000gql.config import Settings
from t3000gql.rest.models import ApiResponse, ErrorResponse
from tests.api.conftest import GraphQLClient, live_server, open_client, seed, seed_file
from tests.conftest import ANY_YEAR_SKEW_SECONDS

__all__ = ["live_server"]  # tests/api's fixture, over this folder's `seeded`


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    response: httpx.Response

    @property
    def data(self) -> Any:
        return self.body["data"]


@dataclass
class RestClient:
    """Sends REST requests to the app and checks each answer: JSON, seed 000's envelope, success matching the
    status, and the shape the document gives (`model` for a success, ErrorResponse or `stale` for a failure)."""

    graphql: GraphQLClient

    @property
    def http(self) -> Any:
        return self.graphql.http

    @property
    def services(self) -> Any:
        return self.graphql.services

    def request(self, method: str, path: str, model: Any = None, *, stale: Any = None, **kwargs: Any) -> Answer:
        response = self.http.request(method, path, **kwargs)
        assert response.headers["content-type"] == "application/json", response.text
        body = response.json()
        assert body["success"] is (response.status_code == 200), body
        if response.status_code == 200:
            if model is not None:
                ApiResponse[model].model_validate(body)  # type: ignore[valid-type]
        elif stale is not None and response.status_code in (502, 504):
            ApiResponse[stale].model_validate(body)  # type: ignore[valid-type]
        else:
            ErrorResponse.model_validate(body)
        return Answer(response.status_code, body, response)

    def get(self, path: str, model: Any = None, **kwargs: Any) -> Answer:
        return self.request("GET", path, model, **kwargs)

    def post(self, path: str, json: Any, model: Any = None, **kwargs: Any) -> Answer:
        return self.request("POST", path, model, json=json, **kwargs)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # As tests/api's: the clock stands at NOW while samples of later months are stored.
    return Settings.defaults(
        database_url=database_url,
        partition_cleanup_enabled=False,
        max_clock_skew_seconds=ANY_YEAR_SKEW_SECONDS,
    )


@pytest.fixture
def seeded(settings: Settings) -> Settings:
    seed_file(settings, seed)
    return settings


@pytest.fixture
def rest(seeded: Settings) -> Iterator[RestClient]:
    """The app over tests/api's seeded site (device 1001 with four points and a trend log, history of two days
    around the new year 2025, the clock at 2025-01-02T00:00:30Z)."""
    with open_client(seeded) as client:
        yield RestClient(client)
