"""The GraphQL schema, composed from one class per area.

Mutation fields are nullable: a mutation that fails is null beside its error, and the others of the same
request still run and answer. Every mutation declares the role it needs (api/access.py); the schema is not built
when one does not.

To add an area (stations, subscriptions, collection, ...): write its module beside these with a `...Queries`,
`...Mutations` or `...Subscriptions` class, import it here and append the class to QUERIES, MUTATIONS or
SUBSCRIPTIONS. Then run `t3000gql export-schema > schema/schema.graphql` (a test compares the two).
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from t3000gql.api.access import check_every_mutation_declares_a_role
from t3000gql.api.audit_log import AuditQueries
from t3000gql.api.buckets import BucketQueries
from t3000gql.api.collection import CollectionMutations
from t3000gql.api.devices import DeviceMutations, DeviceQueries
from t3000gql.api.errors import ErrorCodes
from t3000gql.api.execution import SubscriptionSafeExecutionContext
from t3000gql.api.health import HealthQueries, HealthSubscriptions
from t3000gql.api.history import HistoryMutations, HistoryQueries
from t3000gql.api.limits import document_limits
from t3000gql.api.nodes import NodeQueries
from t3000gql.api.points import PointMutations, PointQueries
from t3000gql.api.quality import QualityQueries
from t3000gql.api.scalars import SCALARS
from t3000gql.api.stations import StationMutations, StationQueries, StationSubscriptions
from t3000gql.api.subscriptions import LiveSubscriptions
from t3000gql.api.tokens import TokenMutations, TokenQueries
from t3000gql.api.trend_logs import TrendLogMutations, TrendLogQueries

QUERIES: list[type] = [
    DeviceQueries,
    PointQueries,
    TrendLogQueries,
    HistoryQueries,
    BucketQueries,
    QualityQueries,
    StationQueries,
    NodeQueries,
    TokenQueries,
    AuditQueries,
    HealthQueries,
]
MUTATIONS: list[type] = [
    DeviceMutations,
    PointMutations,
    TrendLogMutations,
    HistoryMutations,
    CollectionMutations,
    StationMutations,
    TokenMutations,
]
SUBSCRIPTIONS: list[type] = [LiveSubscriptions, StationSubscriptions, HealthSubscriptions]


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Nothing here: `ErrorCodes` logs the errors that deserve it (internal ones, with their traceback)
        where it gives them their code; NOT_FOUND or BAD_USER_INPUT are answers, not server problems."""


def build_schema() -> Schema:
    check_every_mutation_declares_a_role(MUTATIONS)
    subscription: Any = merge_types("Subscription", tuple(SUBSCRIPTIONS)) if SUBSCRIPTIONS else None
    return Schema(
        query=merge_types("Query", tuple(QUERIES)),
        mutation=merge_types("Mutation", tuple(MUTATIONS)),
        subscription=subscription,
        extensions=[*document_limits(), ErrorCodes],
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=SubscriptionSafeExecutionContext,
    )


schema = build_schema()


def sdl() -> str:
    """The schema as SDL, as `t3000gql export-schema` prints it and schema/schema.graphql holds it."""
    return schema.as_str() + "\n"
