"""API requests as the HTTP edge saw them: how many, how long, how many failed, by operation type.

The GraphQL view (api/view.py) and the REST routes report each request once, when its response is ready. Plain
counters (read over a window by `window.py`) and one histogram for /metrics.
"""

from __future__ import annotations

from t3000gql.health.histograms import LabelledHistogram

OPERATIONS = ("query", "mutation", "subscription", "rest", "invalid")
"""`invalid`: a GraphQL request refused before it ran (syntax, validation, a limit)."""


class RequestStats:
    __slots__ = ("errors", "histogram", "requests", "seconds")

    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        """Requests answered with an error: an HTTP status of 400 or above, or GraphQL errors in the result."""
        self.seconds = 0.0
        self.histogram = LabelledHistogram(
            "t3000gql_api_request_seconds",
            "Time to answer an API request (GraphQL by operation type, REST as rest)",
            "operation",
            OPERATIONS,
        )

    def record(self, operation: str, seconds: float, *, error: bool) -> None:
        self.requests += 1
        self.seconds += seconds
        if error:
            self.errors += 1
        self.histogram.observe(operation, seconds)
