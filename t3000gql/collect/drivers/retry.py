"""Retrying a device request with short exponential backoff, the same way for every protocol."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from t3000gql.config import Settings

T = TypeVar("T")

DEFAULT_BACKOFF_BASE = 0.05
DEFAULT_BACKOFF_MAX = 2.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`timeout` seconds per attempt, `retries` more attempts after the first, backoff base·2^n between them.

    The backoff base is a parameter (not a constant) so tests of a dead device finish in milliseconds.
    """

    timeout: float
    retries: int
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_max: float = DEFAULT_BACKOFF_MAX

    @classmethod
    def from_settings(cls, settings: Settings, *, backoff_base: float = DEFAULT_BACKOFF_BASE) -> RetryPolicy:
        return cls(
            timeout=settings.t3000_interface_timeout,
            retries=settings.t3000_max_retries,
            backoff_base=backoff_base,
        )

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait before the next attempt after `failed_attempts` (1, 2, ...) failures."""
        return min(self.backoff_max, self.backoff_base * 2 ** (failed_attempts - 1))

    @property
    def worst_case(self) -> float:
        """The longest a request can take before its caller hears of the failure."""
        return self.timeout * (self.retries + 1) + sum(self.delay(n) for n in range(1, self.retries + 1))


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    retry_on: tuple[type[BaseException], ...],
) -> T:
    """Runs `attempt` until it succeeds or has failed `retries + 1` times; re-raises the last failure.

    Only the exceptions in `retry_on` are retried: an error the device answered with (a Modbus exception
    response, an unknown BACnet object) would come back the same, so it passes through at once.
    """
    failures = 0
    while True:
        try:
            return await attempt()
        except retry_on:
            failures += 1
            if failures > policy.retries:
                raise
        await asyncio.sleep(policy.delay(failures))
