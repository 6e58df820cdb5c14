"""Starting and stopping the server's parts: a `Lifecycle` (an `AsyncExitStack` whose parts have names) per
owner, and `cancel_and_wait`, the one way to stop a background task.

Every owner (Services, the store, the live bus, collection, the station monitor) starts its parts in order on a
`Lifecycle` and registers how to stop each one as soon as it runs. When a start fails half-way, the stack stops
exactly the parts that started, in reverse, and the error goes on to the caller; a clean stop runs the same stack.
So no owner writes a cleanup chain by hand, and none can forget a part or stop one it never started.

Each part is reported to an optional `LifecycleHook` as it starts and stops, named `owner.part` (an owner passes
its hook down to the owners it starts). Start-up logs and tests listen there; a hook that raises at `starting`
is how a test makes any one step fail (tests/test_lifecycle.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Literal, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Event = Literal["starting", "started", "stopping", "stopped"]
LifecycleHook = Callable[[str, Event], None]
"""Called with (part, event) as each part starts and stops; a hook that raises at "starting" stops that part
from starting (and so fails the start-up there)."""


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancels the tasks (None is skipped) and returns once every one of them has ended.

    If the caller is cancelled while it waits, that cancellation goes on to the caller (unlike the hand-written
    `with suppress(CancelledError): await task`, which swallows the caller's own cancellation too). An error a
    task ended with is not raised: a stopped task's error is usually the reason it was stopped (a closed socket,
    a lost broker), and the long-running loops here log their own failures as they happen; it is logged at DEBUG.
    """
    running = [task for task in tasks if task is not None]
    if not running:
        return
    for task in running:
        task.cancel()
    await asyncio.wait(running)
    for task in running:
        if not task.cancelled() and (error := task.exception()) is not None:
            name = task.get_name() if isinstance(task, asyncio.Task) else repr(task)
            log.debug("%s ended with an error while being stopped", name, exc_info=error)


class Lifecycle:
    """Parts started in order and stopped in reverse, on one `contextlib.AsyncExitStack`.

    Use it as `async with Lifecycle("owner", hook) as life: ...start parts...; self._running = life.pop_all()`:
    an error inside the block stops what had started, and on success `pop_all` hands the running parts to the
    owner, whose `stop()` is `await self._running.aclose()`.
    """

    def __init__(self, owner: str = "", hook: LifecycleHook | None = None) -> None:
        self.owner = owner
        self.hook = hook
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Lifecycle:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._stack.__aexit__(exc_type, exc, tb)

    def name(self, part: str) -> str:
        return f"{self.owner}.{part}" if self.owner else part

    async def start(
        self, part: str, start: Callable[[], Awaitable[T]], stop: Callable[[T], Awaitable[object]]
    ) -> T:
        """Awaits `start()`; from then on `stop(value)` (value: what `start()` returned) stops the part.
        A `start` that fails cleans up after itself: only a part that started is stopped."""
        name = self.name(part)
        self._report(name, "starting")
        value = await start()
        self._stack.push_async_callback(self._stop, name, stop, value)
        self._report(name, "started")
        return value

    def task(self, part: str, run: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Task[None]:
        """A background task (`run()` is called only once the hook let the part start), cancelled and awaited
        when the lifecycle stops."""
        name = self.name(part)
        self._report(name, "starting")
        task = asyncio.create_task(run(), name=name)
        self._stack.push_async_callback(self._stop, name, _cancel_one, task)
        self._report(name, "started")
        return task

    def stop_with(self, part: str, stop: Callable[[], Awaitable[object]]) -> None:
        """Registers `stop` for a part that starts bit by bit afterwards (clients connected one by one): if the
        start fails half-way, `stop` still undoes whatever of it had started."""
        name = self.name(part)
        self._report(name, "starting")
        self._stack.push_async_callback(self._stop, name, _call, stop)
        self._report(name, "started")

    def pop_all(self) -> Lifecycle:
        """The running parts, moved to a new Lifecycle that the owner keeps (this one is left empty)."""
        running = Lifecycle(self.owner, self.hook)
        running._stack = self._stack.pop_all()
        return running

    async def aclose(self) -> None:
        """Stops every running part in reverse order; each is stopped even when an earlier stop raised (the
        last error is raised once all have run)."""
        await self._stack.aclose()

    async def _stop(self, name: str, stop: Callable[[Any], Awaitable[object]], value: Any) -> None:
        self._report(name, "stopping")
        try:
            await stop(value)
        finally:
            self._report(name, "stopped")

    def _report(self, name: str, event: Event) -> None:
        log.debug("%s %s", name, event)
        if self.hook is not None:
            self.hook(name, event)


async def _cancel_one(task: asyncio.Task[None]) -> None:
    await cancel_and_wait(task)


async def _call(stop: Callable[[], Awaitable[object]]) -> None:
    await stop()
