"""Per-token rate limit (API_RATE_LIMIT_PER_MINUTE) and the counts /metrics shows by role.

A token bucket per token: it holds up to a minute's worth of requests and refills continuously, so a client
may burst and then keeps to the rate. Time comes from the server's clock (a seam tests move by hand). Requests
without a token (AUTH_REQUIRED=false) are counted but not limited; the limit is per process.
"""

from __future__ import annotations

from collections import Counter

from t3000gql.auth.roles import Identity
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import LimitExceeded

MINUTE_MS = 60_000


class RateLimitExceeded(LimitExceeded):
    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class RateLimiter:
    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[int, tuple[float, int]] = {}
        """token id -> (requests left, when that was computed)"""
        self.admitted: Counter[str] = Counter()
        """Requests and WebSocket operations admitted, by role label."""
        self.limited: Counter[str] = Counter()
        """Refused with RATE_LIMITED, by role label."""

    def admit(self, identity: Identity) -> None:
        """Counts one request of `identity`; raises RateLimitExceeded when its token has none left."""
        role = identity.role.label
        if identity.token_id is None or self.per_minute == 0:
            self.admitted[role] += 1
            return
        now = self._clock()
        left, since = self._buckets.get(identity.token_id, (float(self.per_minute), now))
        left = min(float(self.per_minute), left + (now - since) * self.per_minute / MINUTE_MS)
        if left < 1.0:
            self._buckets[identity.token_id] = (left, now)
            self.limited[role] += 1
            wait = max(1, round((1.0 - left) * MINUTE_MS / self.per_minute / 1000))
            raise RateLimitExceeded(
                f"{identity.describe()} sent more than {self.per_minute} requests a minute "
                f"(API_RATE_LIMIT_PER_MINUTE); retry in {wait} s",
                wait,
            )
        self._buckets[identity.token_id] = (left - 1.0, now)
        self.admitted[role] += 1

    def forget(self, token_id: int) -> None:
        self._buckets.pop(token_id, None)
