"""Lists completed by plans (api/list_plans.py) answer exactly what graphql-core's own completion answers.

Two servers over two identically seeded databases, one with API_LIST_PLANS on and one with it off, get the same
operations in the same order over HTTP: the schema's example operations, hand-written ones with aliases,
fragments, __typename, @include/@skip and errors inside list items, and queries generated from the schema. Their
JSON bodies must be equal, errors and their paths included. A small schema of its own covers what our data cannot
produce: items that are null, exceptions or awaitables, a null in a non-null field, a serializer refusing a value,
an attribute that raises, an object of the wrong type.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import graphql
import pytest
import strawberry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema

from t3000gql.api.execution import SubscriptionSafeExecutionContext
from t3000gql.api.list_plans import ListPlan
from t3000gql.api.schema import sdl
from t3000gql.compat.strawberry import StrawberryGraphQLCoreExecutionContext
from t3000gql.config import Settings
from tests.api.conftest import GraphQLClient, open_client, seed, seed_file

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "schema" / "examples").glob("*.graphql"))

NESTED = """
query Nested($withName: Boolean!, $skipUnit: Boolean!) {
  devices {
    __typename
    id
    deviceId
    name: deviceName
    ... on Device { deviceType protocol }
    ...DeviceBits
    points {
      __typename
      pointNumber
      number: pointNumber
      pointName @include(if: $withName)
      unitSymbol @skip(if: $skipUnit)
      unitSymbol
      ...PointBits
      current { __typename value v: value timestamp stale source }
      history(start: "2024-12-31T00:00:00Z", end: "2025-01-01T02:00:00Z") {
        totalPoints
        points { timestamp value t: timestamp __typename }
        columns { timestamps values }
      }
      backwards: history(start: "2025-01-02T00:00:00Z", end: "2025-01-01T00:00:00Z") { totalPoints }
    }
    trendLogs { trendLogName points { pointName ... on MonitoringPoint { pointType } } }
  }
}
fragment DeviceBits on Device { deviceName isActive createdAt }
fragment PointBits on MonitoringPoint { dataType isActive pointType id }
"""


class Pair:
    """One seeded site served twice: with list plans and without."""

    def __init__(self, planned: GraphQLClient, plain: GraphQLClient) -> None:
        self.planned = planned
        self.plain = plain

    def same(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        with_plans = self.planned.post(query, variables)
        without = self.plain.post(query, variables)
        assert _normal(with_plans) == _normal(without), query
        return with_plans


def _normal(body: dict[str, Any]) -> str:
    """The body as JSON (key order kept: it is part of the answer), its errors sorted: fields that wait run
    concurrently, so the order in which their errors are reported varies from one run to the next."""
    errors = sorted(json.dumps(error) for error in body.get("errors", []))
    return json.dumps({**body, "errors": errors})


@pytest.fixture
def pair(seeded: Settings, new_database_url: Any) -> Iterator[Pair]:
    plain_settings = dataclasses.replace(seeded, database_url=new_database_url("plain"), api_list_plans=False)
    seed_file(plain_settings, seed)
    with open_client(seeded) as planned, open_client(plain_settings) as plain:
        yield Pair(planned, plain)


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_examples_answer_the_same_with_and_without_plans(pair: Pair, example: Path) -> None:
    body = pair.same(example.read_text())
    assert "errors" not in body


@pytest.mark.parametrize(("with_name", "skip_unit"), [(True, False), (False, True)])
def test_aliases_fragments_directives_and_item_errors_answer_the_same(
    pair: Pair, with_name: bool, skip_unit: bool
) -> None:
    body = pair.same(NESTED, {"withName": with_name, "skipUnit": skip_unit})
    devices = body["data"]["devices"]
    points = [point for device in devices for point in device["points"]]
    assert points and all(point["__typename"] == "MonitoringPoint" for point in points)
    assert ("pointName" in points[0]) is with_name
    assert any(point["history"]["points"] for point in points)  # the plans ran on samples
    # one error per point for the backwards range, each at its own item's path
    paths = [error["path"] for error in body["errors"]]
    assert len(paths) == len(points)
    assert all(path[0] == "devices" and path[2] == "points" and path[4] == "backwards" for path in paths)


HISTORY_ARGUMENTS = """
query History($start: DateTime!, $end: DateTime!, $aggregate: Aggregate, $limit: Int) {
  devices {
    points {
      pointNumber
      plain: history(start: $start, end: $end) { totalPoints columns { timestamps values } }
      buckets: history(start: $start, end: $end, intervalSeconds: 3600, aggregate: $aggregate) {
        totalPoints points { timestamp value }
      }
      limited: history(start: $start, end: $end, limit: $limit) { totalPoints }
      backwards: history(start: $end, end: $start) { totalPoints }
      literal: history(start: "2024-12-31T00:00:00Z", end: "2025-01-01T02:00:00+01:00", aggregate: MAX,
                       intervalSeconds: 60) { totalPoints }
    }
  }
}
"""


@pytest.mark.parametrize(
    "variables",
    [
        {"start": "2024-12-31T00:00:00Z", "end": "2025-01-02T00:00:00Z", "aggregate": "AVG", "limit": 1},
        {"start": "2025-01-01T00:00:00+01:00", "end": "2025-01-01T02:00:00Z", "aggregate": None, "limit": None},
        {"start": "2024-12-31T00:00:00Z", "end": "2025-01-02T00:00:00Z", "aggregate": "COUNT", "limit": 0},
    ],
)
def test_resolver_arguments_converted_once_answer_the_same(pair: Pair, variables: dict[str, Any]) -> None:
    """Resolvers called directly, their arguments converted once per (field, node, variables): the same
    answers and errors per alias, from variables and literals, whatever the values."""
    body = pair.same(HISTORY_ARGUMENTS, variables)
    points = [point for device in body["data"]["devices"] for point in device["points"]]
    assert points and any(point["plain"] and point["plain"]["totalPoints"] for point in points)
    assert {error["path"][-1] for error in body["errors"]} >= {"backwards"}


def test_arguments_that_fail_to_convert_answer_the_same(pair: Pair) -> None:
    body = pair.same(
        'query ($n: Int) { devices { points { history(start: "2025-01-01T00:00:00Z", end: "not a time", '
        "limit: $n) { totalPoints } } } }",
        {"n": 3},
    )
    assert body["errors"]


TIMES = ["2024-12-31T00:00:00Z", "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", "2025-01-01T02:00:00+01:00"]
CUSTOM_SCALARS = {
    "DateTime": st.sampled_from(TIMES).map(lambda text: graphql.StringValueNode(value=text)),
    "JSON": st.just(graphql.ObjectValueNode(fields=())),
}


@given(
    query=from_schema(
        sdl(),
        fields=["devices", "device", "point", "monitoringPoints", "trendLogs", "series", "timeseries"],
        custom_scalars=CUSTOM_SCALARS,
    )
)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_queries_answer_the_same(pair: Pair, query: str) -> None:
    pair.same(query)


# --- what the site's data cannot produce ------------------------------------------------------------------------


@strawberry.type
class Item:
    number: int
    name: str | None
    label: str

    @strawberry.field
    def doubled(self) -> int:
        return self.number * 2


class Raising:
    """Passes for an Item but whose `label` raises."""

    number = 3
    name = "raising"

    @property
    def label(self) -> str:
        raise RuntimeError("label unreadable")


async def _later(item: Any) -> Any:
    await asyncio.sleep(0)
    return item


def _items() -> list[Any]:
    return [
        Item(number=1, name="one", label="a"),
        None,
        Item(number=2, name=None, label="b"),
        ValueError("item two failed"),
        Item(number=4, name="four", label=None),  # type: ignore[arg-type]  # null in a non-null field
        Item(number="x", name="bad int", label="c"),  # type: ignore[arg-type]  # Int refuses it
        strawberry.cast(Item, Raising()),
        _later(Item(number=5, name="later", label="d")),
        "not an item",
    ]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return _items()

    @strawberry.field
    def strict_items(self) -> list[Item]:
        return [item for item in _items() if item is not None]

    @strawberry.field
    def good_items(self) -> list[Item]:
        return [Item(number=n, name=None, label="x") for n in range(3)]


ODD_QUERIES = [
    "{ items { number name label } }",
    "{ items { __typename n: number number doubled label } }",
    "{ strictItems { number label } }",
    "{ goodItems { number ...F } } fragment F on Item { name n2: number label }",
    "{ goodItems { number doubled name @skip(if: true) label @include(if: true) } }",
]


class Recording(SubscriptionSafeExecutionContext):
    """Ours, remembering the plans it built."""

    built: list[ListPlan | None] = []

    def _new_plan(self, item_type: Any, field_details_list: Any, path: Any) -> ListPlan | None:
        plan = super()._new_plan(item_type, field_details_list, path)
        Recording.built.append(plan)
        return plan


def _answer(execution_context_class: type, query: str) -> str:
    schema = strawberry.Schema(query=Query, execution_context_class=execution_context_class)
    answered = asyncio.run(schema.execute(query))
    return json.dumps(
        {
            "data": answered.data,
            "errors": [{"message": e.message, "path": e.path} for e in answered.errors or []],
        }
    )


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_items_that_are_not_plain_answer_the_same(query: str) -> None:
    Recording.built.clear()
    planned = _answer(Recording, query)
    assert Recording.built and all(plan is not None for plan in Recording.built)  # the plan did run
    assert planned == _answer(StrawberryGraphQLCoreExecutionContext, query)


def test_a_plan_leaves_resolvers_to_graphql_core() -> None:
    Recording.built.clear()
    _answer(Recording, "{ goodItems { number doubled __typename label } }")
    (plan,) = Recording.built
    assert plan is not None
    assert [name for name, _ in plan.fast] == ["number", "__typename", "label"]
    assert list(plan.slow) == ["doubled"]
    assert plan.order == ("number", "doubled", "__typename", "label")
