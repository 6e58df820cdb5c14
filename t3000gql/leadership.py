"""Leadership: of all the processes sharing one database, exactly one collects and runs the periodic jobs.

Several processes (`serve --workers N`, or servers on several hosts) serve the API alike, but polling every
controller twice, or running retention twice at once, would be wrong. So the processes elect a leader through
the database (a lock: `storage/leader_lock.py`), and everything periodic asks this service before it runs:

- a long-running duty (the collection schedule, the station monitor) is registered with `duty(...)`: it starts
  when this process becomes the leader and stops when it stops being it;
- a job that runs now and then (retention) checks `is_leader` before each run.

Every process tries the lock at start-up, then every third of LEADER_TIMEOUT_SECONDS: a follower takes over
once the leader is gone (the lock dies with its holder), and a leader checks that it still holds the lock (a
PostgreSQL connection that broke lost it) and steps down at once if not. A clean stop hands over at once: the
leader stops its duties, then releases the lock for the next poll of another process. docs/scaling.md tells
the whole story, failure modes included.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from t3000gql.domain.timeutil import Clock, system_clock, to_datetime
from t3000gql.lifecycle import Lifecycle, LifecycleHook
from t3000gql.storage.leader_lock import LeaderInfo, LeaderLock

log = logging.getLogger(__name__)

DutyStart = Callable[[LifecycleHook | None], Awaitable[object]]
DutyStop = Callable[[], Awaitable[object]]
ChangeListener = Callable[[bool], None]


@dataclass(frozen=True, slots=True)
class Duty:
    name: str
    start: DutyStart
    stop: DutyStop


class Leadership:
    """Start it with `await leadership.start(hook)` after registering the duties; stop it with `stop()`.

    `start` makes one attempt at once: the only process on a database is the leader (its duties started) by the
    time `start` returns, and a duty that fails then fails the start-up, as any other part would. Later
    attempts run in the background; a duty failing then is logged and the process steps down (another may
    do better), trying again at its next poll.
    """

    def __init__(self, lock: LeaderLock, *, timeout_seconds: float, clock: Clock = system_clock) -> None:
        self._lock = lock
        self.poll_seconds = timeout_seconds / 3
        self._clock = clock
        self._duties: list[Duty] = []
        self._listeners: list[ChangeListener] = []
        self._term: Lifecycle | None = None
        self._me: LeaderInfo | None = None
        self._leader: LeaderInfo | None = None
        self._hook: LifecycleHook | None = None
        self._running = Lifecycle()
        self._changing = asyncio.Lock()
        self.terms = 0
        """How often this process became the leader."""

    def duty(self, name: str, start: DutyStart, stop: DutyStop) -> None:
        """Runs `await start(hook)` when this process becomes the leader and `await stop()` when it stops being
        it (duties start in the order given and stop in reverse). Register before `start`."""
        self._duties.append(Duty(name, start, stop))

    def on_change(self, listener: ChangeListener) -> None:
        """`listener(is_leader)` after this process became the leader (its duties running) or stopped being it."""
        self._listeners.append(listener)

    @property
    def is_leader(self) -> bool:
        return self._term is not None

    @property
    def leader(self) -> LeaderInfo | None:
        """Who leads, as this process last saw it (itself when it leads); None when nobody does just now."""
        return self._me if self._term is not None else self._leader

    # --- lifecycle --------------------------------------------------------------------------------------------

    async def start(self, hook: LifecycleHook | None = None) -> None:
        self._hook = hook
        async with Lifecycle("leadership", hook) as life:
            await life.start("lock", self._lock.open, lambda _: self._end())
            await self._attempt(first=True)
            life.task("watch", self._watch)
            self._running = life.pop_all()

    async def stop(self) -> None:
        """Stops the duties (if leading), then releases the lock: another process takes over at its next poll."""
        await self._running.aclose()

    async def _end(self) -> None:
        async with self._changing:
            await self._step_down("stopping")
        await self._lock.close()

    # --- the watch --------------------------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self._attempt(first=False)
            except Exception:
                log.exception("leadership: an attempt failed; the next comes in %.1f s", self.poll_seconds)

    async def _attempt(self, *, first: bool) -> None:
        async with self._changing:
            if self._term is not None:
                if not await self._lock.still_held():
                    log.warning("leadership: the lock was lost; this process stops leading")
                    await self._step_down("lost the lock")
                return
            me = LeaderInfo.of_this_process(self._clock())
            if not await self._lock.try_acquire(me):
                self._leader = await self._lock.holder()
                return
            self._me = me
            try:
                self._term = await self._start_duties()
            except Exception:
                await self._lock.release()
                if first:
                    raise
                log.exception("leadership: a duty failed to start; this process stays a follower for now")
                return
            self.terms += 1
            log.info("leadership: this process (pid %s on %s) leads now", me.pid, me.host)
            self._tell(True)

    async def _start_duties(self) -> Lifecycle:
        hook = self._hook
        inner: LifecycleHook | None = (
            None if hook is None else (lambda part, event: hook(f"leadership.{part}", event))
        )
        async with Lifecycle("leadership", hook) as life:
            for duty in self._duties:
                await life.start(duty.name, _starter(duty.start, inner), _stopper(duty.stop))
            return life.pop_all()

    async def _step_down(self, why: str) -> None:
        term, self._term = self._term, None
        if term is None:
            return
        try:
            await term.aclose()
        finally:
            await self._lock.release()
            self._leader = None
            log.info("leadership: this process stopped leading (%s)", why)
            self._tell(False)

    def _tell(self, leading: bool) -> None:
        for listener in self._listeners:
            try:
                listener(leading)
            except Exception:
                log.exception("a leadership listener failed")

    # --- what /health shows -----------------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        leader = self.leader
        return {
            "isLeader": self.is_leader,
            "leader": None
            if leader is None
            else {
                "pid": leader.pid,
                "host": leader.host,
                "since": to_datetime(leader.since_ms).isoformat(),
            },
            "terms": self.terms,
            "pollSeconds": round(self.poll_seconds, 3),
        }


def _starter(start: DutyStart, hook: LifecycleHook | None) -> Callable[[], Awaitable[object]]:
    async def run() -> object:
        return await start(hook)

    return run


def _stopper(stop: DutyStop) -> Callable[[object], Awaitable[object]]:
    async def run(_: object) -> object:
        return await stop()

    return run
