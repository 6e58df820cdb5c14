"""What one request may cost: document size and shape (checked before execution), list arguments, history
samples, concurrency and time.

The document limits are strawberry extensions. Every list argument has a cap (`LIST_CAPS`, checked with
`check_count` before anything is converted or written; docs/api.md lists them). All history fields of one
request share one budget of API_MAX_HISTORY_SAMPLES samples (`HistoryBudget`), however they are nested.
Concurrency and time are enforced around each HTTP request by `RequestGate`: API_MAX_CONCURRENT_REQUESTS at
once, the excess refused at once (RATE_LIMITED, never queued), and API_REQUEST_TIMEOUT_SECONDS each (TIMEOUT).
WebSocket connections live long and are not counted there (api/websocket.py caps them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence, Sized
from typing import TypeVar

from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from t3000gql.errors import LimitExceeded, RequestTimeout, ValidationError
from t3000gql.storage.availability import writes_due_by

MAX_QUERY_DEPTH = 12
"""Deep enough for series → point → device → trendLogs → points → history → columns."""
MAX_ALIASES = 100
MAX_TOKENS = 20_000
"""A document this long is refused while parsing; send big batches as variables, which are not tokens."""
DOCUMENT_CACHE_SIZE = 256

MAX_WRITE_SAMPLES = 100_000
"""storeTimeSeries samples in one request (send more as several requests)."""
MAX_DEVICE_VALUES = 10_000
"""updateDeviceData values in one request."""
MAX_UPSERT_POINTS = 1_000
"""upsertMonitoringPoints points in one request."""
LIST_CAPS = {
    "storeTimeSeries(samples)": MAX_WRITE_SAMPLES,
    "updateDeviceData(values)": MAX_DEVICE_VALUES,
    "upsertMonitoringPoints(points)": MAX_UPSERT_POINTS,
}
"""The caps that live here; series(points) (api/history.py), pointValues(points) (api/subscriptions.py),
recordPowerReadings(inputs) (api/stations.py) and a trend log's points (domain/inputs.py) keep theirs beside
their rules. docs/api.md lists them all."""

T = TypeVar("T")


def check_count(items: Sized, cap: int, field: str) -> None:
    """A ValidationError naming the argument when a list holds more than its cap."""
    if len(items) > cap:
        raise ValidationError(
            f"holds {len(items)} items, more than the {cap} one request may send (send several requests)",
            field=field,
            value=len(items),
        )


class HistoryBudget:
    """Samples (or buckets) one request may still read, across every history field it asks for."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.spent = 0

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.spent)

    def spend(self, count: int) -> bool:
        """Takes `count` samples from the budget; False (and nothing taken) when fewer are left."""
        if count > self.total - self.spent:
            return False
        self.spent += count
        return True

    def renew(self) -> None:
        self.spent = 0


ExtensionFactory = Callable[[], SchemaExtension]


def _shared_rules(*extensions: AddValidationRules) -> ExtensionFactory:
    """A factory of per-request extensions that reuse one set of rule classes. The limiters build a new rule
    class per instance, and ValidationCache keys on the rules: fresh classes per request would never hit it."""
    rules = [rule for extension in extensions for rule in extension.validation_rules]
    return lambda: AddValidationRules(rules)


class _ParserCache(ParserCache):
    """ParserCache that leaves a document it cannot parse to strawberry, which parses it again and turns the
    syntax error into a result. Raised from the extension, the error would escape the operation before
    `ErrorCodes` could give it a code."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        except GraphQLError:
            pass
        yield


def document_limits() -> Sequence[ExtensionFactory]:
    """Parse and validation limits and caches, in the order they must run."""
    return (
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: _ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        _shared_rules(
            QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH), MaxAliasesLimiter(max_alias_count=MAX_ALIASES)
        ),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
    )


class RequestGate:
    """Admits at most `limit` requests at once, each for at most `timeout_seconds`; counts what it did."""

    def __init__(self, limit: int, timeout_seconds: float) -> None:
        self.limit = limit
        self.timeout_seconds = timeout_seconds
        self.in_flight = 0
        self.admitted = 0
        self.refused = 0
        self.timed_out = 0

    async def run(self, handler: Callable[[], Awaitable[T]]) -> T:
        if self.in_flight >= self.limit:
            self.refused += 1
            raise LimitExceeded(
                f"the server is answering {self.limit} requests already (API_MAX_CONCURRENT_REQUESTS); "
                "retry in a moment"
            )
        self.in_flight += 1
        self.admitted += 1
        deadline = asyncio.timeout(self.timeout_seconds)
        try:
            # Writes of this request stop waiting for the database before the deadline: DATABASE_UNAVAILABLE
            # reaches the caller in time, not a TIMEOUT (storage/availability.py).
            with writes_due_by(time.monotonic() + self.timeout_seconds, self.timeout_seconds):
                async with deadline:
                    return await handler()
        except TimeoutError:
            if not deadline.expired():
                raise
            self.timed_out += 1
            raise RequestTimeout(
                f"the request took longer than {self.timeout_seconds:g} s (API_REQUEST_TIMEOUT_SECONDS) and was "
                "stopped; ask for less: a shorter range, a larger intervalSeconds or a limit"
            ) from None
        finally:
            self.in_flight -= 1
