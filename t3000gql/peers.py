"""Keeping this process in step with the other processes sharing its database (docs/scaling.md).

Each process keeps records in memory (devices, the point directory, stations, the partition set, the collection
schedule). A change made through one process is told to the others over the live bus as a `RegistryNote` on
the registry channel: the registry service's own `RegistryChange`s on the way out (`note_of`), and years of
history dropped by retention. On the way in, the notes of other processes are applied one after another, in the
order they came, by a task of their own (the bus hands them over without waiting).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import cast, get_args

from t3000gql.config import Settings
from t3000gql.errors import LiveBusError
from t3000gql.live import LiveBus, RegistryNote
from t3000gql.registry import ChangeKind, RegistryChange

log = logging.getLogger(__name__)

MAX_WAITING = 10_000
"""Notes waiting to be applied; past this (a flood while this process was stalled) they are replaced by one
note of kind "everything", which reloads what all of them would have."""
PARTITIONS = "partitions"
"""The kind of note that says which years of history another process dropped (`ids`: the years)."""
TOKENS = "tokens"
"""The kind of note that says another process created or revoked an API token: reload them now."""

_KINDS: tuple[str, ...] = get_args(ChangeKind)


def note_of(change: RegistryChange) -> RegistryNote:
    ids = () if change.trend_log_id is None else (change.trend_log_id,)
    return RegistryNote(change.kind, change.device_ids, change.deleted, ids)


def change_of(note: RegistryNote) -> RegistryChange | None:
    """The registry change a note tells of; None for a note that is not one (partitions, unknown kinds)."""
    if note.kind not in _KINDS:
        return None
    trend_log_id = note.ids[0] if note.kind == "trend_log" and note.ids else None
    return RegistryChange(cast(ChangeKind, note.kind), note.device_ids, note.deleted, trend_log_id)


class Peers:
    """`take(notes)` is the live bus's `on_remote_notes`; `run(apply)` (a task) applies them in order."""

    def __init__(self) -> None:
        self._waiting: deque[RegistryNote] = deque()
        self._wake = asyncio.Event()

    def take(self, notes: Sequence[RegistryNote]) -> None:
        self._waiting.extend(notes)
        if len(self._waiting) > MAX_WAITING:
            self._waiting.clear()
            self._waiting.append(RegistryNote("everything"))
        self._wake.set()

    async def run(self, apply: Callable[[RegistryNote], Awaitable[None]]) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                note = self._waiting.popleft()
                try:
                    await apply(note)
                except Exception:
                    log.exception("applying a change of another process (%s) failed", note)


async def announce_dropped_years(settings: Settings, years: Sequence[int]) -> None:
    """Tells the servers on the live bus which years of history a command dropped (`t3000gql retention`)."""
    if years:
        await announce(settings, [RegistryNote(PARTITIONS, deleted=True, ids=tuple(years))])


async def announce_token_change(settings: Settings) -> None:
    """Tells the servers on the live bus that a command created or revoked a token (`t3000gql token`)."""
    await announce(settings, [RegistryNote(TOKENS)])


async def announce(settings: Settings, notes: Sequence[RegistryNote]) -> None:
    """Tells the servers sharing the live bus about changes a command made beside them (`t3000gql retention`,
    `t3000gql token`); with memory:// there is nobody to tell. A bus that cannot be reached is logged, not raised:
    the command did its work, and servers find out by themselves in time (the partition set's periodic reload,
    the tokens' change counter)."""
    if settings.broadcast_url.startswith("memory:") or not notes:
        return
    bus = LiveBus(settings.broadcast_url, prefix=settings.broadcast_channel_prefix)
    try:
        await bus.start()
    except LiveBusError as exc:
        log.warning("could not tell the servers on the live bus: %s", exc)
        return
    for note in notes:
        bus.publish_registry(note)
    await bus.stop()  # publishes what is pending first
