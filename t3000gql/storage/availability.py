"""How long a write may wait for the database: the write breaker and the deadline of the request behind it.

Two things bound the wait of one write (`Database.writer()` asks `wait_ms`):

- **The breaker.** A write that failed because the database refused it (locked past DATABASE_BUSY_TIMEOUT_MS,
  read-only, disk full, unreachable) opens it. While it is open the database is *known* to refuse writes, so
  every write only probes: it tries to take the write lock without waiting (SQLite: busy_timeout 0; PostgreSQL:
  a lock_timeout of 1 ms) and fails at once with DatabaseUnavailable when it cannot, instead of each waiting out
  the busy timeout in a queue (measured before: with 6 writers during a 20 s lock, refusals took 5 to 15 s). A
  write that commits closes it: the first write after the outage succeeds, nobody waits for a timer. A write
  that finds another write (the probe) in progress while the breaker is open fails at once too. Reads never
  look at it.
- **The deadline** of the API request the write serves (`write_deadline`, set by the request gate around each
  request, api/limits.py): the write gives up a little before it, with DatabaseUnavailable, so an API caller
  gets DATABASE_UNAVAILABLE within API_REQUEST_TIMEOUT_SECONDS rather than a timeout or a hang. The deadline
  bounds only the *wait* for the lock (the in-process queue and the database's lock): once a transaction holds
  the lock it runs to its commit or rollback, so a deadline never leaves half a write behind.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

write_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("write_deadline", default=None)
"""`time.monotonic()` by which the request a write serves must be answered; None outside API requests."""

DEADLINE_MARGIN_S = 0.25
"""A write gives up this long (at most a quarter of its request's time) before the deadline, so the refusal still
reaches the caller in time: SQLite's busy handler sleeps in steps of up to 100 ms and its answer crosses a thread,
so a tenth of a 1.5 s request (0.15 s) was overrun on a busy machine (TIMEOUT instead of DATABASE_UNAVAILABLE)."""

PROBE_WAIT_MS = 1
"""How long a write waits for the lock while the breaker is open (PostgreSQL's lock_timeout 0 means forever)."""


@contextlib.contextmanager
def writes_due_by(deadline: float, total_s: float) -> Iterator[None]:
    """Writes inside the block give up waiting for the database before `deadline` (monotonic seconds); the
    margin is a quarter of `total_s` (the request's whole time), at most DEADLINE_MARGIN_S."""
    token = write_deadline.set(deadline - min(DEADLINE_MARGIN_S, total_s / 4))
    try:
        yield
    finally:
        write_deadline.reset(token)


@dataclass(slots=True)
class BreakerState:
    """What /health shows of the breaker."""

    open: bool
    opened_at_ms: int | None
    last_error: str | None
    opened: int
    """Times it opened since start."""
    refused_fast: int
    """Writes refused without waiting for the busy timeout while it was open."""


class WriteBreaker:
    """Open while the database is known to refuse writes; see the module docstring."""

    def __init__(self, busy_timeout_ms: int) -> None:
        self.busy_timeout_ms = busy_timeout_ms
        self._opened_at: float | None = None
        self._opened_at_ms: int | None = None
        self._last_error: str | None = None
        self._opened = 0
        self._refused_fast = 0

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def wait_ms(self) -> int:
        """How long the next write may wait for the write lock: a probe's 0 while open, else the busy timeout,
        shortened to the request's deadline (0 when it has passed: the caller refuses at once)."""
        if self.is_open:
            return 0
        deadline = write_deadline.get()
        if deadline is None:
            return self.busy_timeout_ms
        left_ms = int((deadline - time.monotonic()) * 1000)
        return max(0, min(self.busy_timeout_ms, left_ms))

    def remaining_s(self) -> float | None:
        """Seconds left until the request's deadline (None without one): how long the in-process queue of
        writers may be waited for."""
        deadline = write_deadline.get()
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def failed(self, error: BaseException, *, waited_ms: int) -> None:
        """A write was refused after waiting `waited_ms` for the lock. It opens the breaker unless it only gave
        up early for its request's deadline (another process's long write is not an outage); a refusal that
        had nothing to do with waiting (read-only, disk full, unreachable) opens it whatever it waited."""
        self._last_error = str(error)
        if self.is_open:
            return
        if waited_ms < self.busy_timeout_ms and _is_lock_wait(error):
            return
        self._opened_at = time.monotonic()
        self._opened_at_ms = int(time.time() * 1000)
        self._opened += 1
        log.warning("the database refuses writes (%s): writes fail fast until one commits again", error)

    def refused(self) -> None:
        self._refused_fast += 1

    def succeeded(self) -> None:
        if self._opened_at is not None:
            log.warning("the database takes writes again (after %.1f s)", time.monotonic() - self._opened_at)
        self._opened_at = None
        self._opened_at_ms = None

    def refusal(self) -> str:
        """Why a write is refused at once while the breaker is open."""
        return (
            "the database refuses writes now (since it last failed: "
            f"{self._last_error}); nothing was written, retry later"
        )

    def state(self) -> BreakerState:
        return BreakerState(
            open=self.is_open,
            opened_at_ms=self._opened_at_ms,
            last_error=self._last_error,
            opened=self._opened,
            refused_fast=self._refused_fast,
        )


def _is_lock_wait(error: BaseException) -> bool:
    """A refusal that waiting longer might have avoided: a lock held by another writer."""
    text = str(error).lower()
    return "locked" in text or "busy" in text or "lock timeout" in text or "could not obtain lock" in text
