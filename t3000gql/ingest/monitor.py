"""The live station monitor (seed 004's MonitoringIntegration): one WebSocket client per station with a URL,
one shared buffer, one flusher that writes batches through the station service, and the spool.

Every reading is first synced to the journal of receipts (ingest/receipts.py), so that one in the buffer
survives a crash too; then it is buffered and written every STATION_FLUSH_READINGS readings or
STATION_FLUSH_INTERVAL_MS after the oldest waiting one arrived. When the database cannot take a write (locked, read-only, disk full), the batch
goes to the spool file and so does everything after it, to keep the order; every STATION_RETRY_INTERVAL_MS the
flusher replays the spool, and removes it once every line is stored, each replayed batch committed durably
(`durable=True`). A batch that fails for another reason than an outage is written reading by reading, and
those that still fail go to the dead-letter file (`<spool>.dead`) with the reason; the rest go on. A spool (and
journal segments) left by an earlier run is replayed at start-up. Only the flusher writes, so batches are stored
in the order they were received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from t3000gql.config import Settings
from t3000gql.domain.stations import ReadingInput
from t3000gql.errors import DatabaseUnavailable, StorageError, ValidationError
from t3000gql.ingest.logformat import LineParser
from t3000gql.ingest.receipts import Receipts
from t3000gql.ingest.spool import Spool, line_of
from t3000gql.ingest.station_client import STOPPED, StationClient, StationLink
from t3000gql.ingest.stations import StationService
from t3000gql.lifecycle import Lifecycle, LifecycleHook, cancel_and_wait
from t3000gql.storage.database import DRIVER_ERRORS, is_unavailable
from t3000gql.storage.journal import DeadLetters, JournalFile
from t3000gql.storage.stations import Station

log = logging.getLogger(__name__)
SOURCE = "websocket"


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """The STATION_* settings in the units the monitor works in (defaults: t3000gql/config.py)."""

    flush_readings: int
    flush_interval_s: float
    reconnect_min_s: float
    reconnect_max_s: float
    retry_interval_s: float
    spool_path: Path
    timezone: str

    @classmethod
    def from_settings(cls, settings: Settings, database_path: str) -> MonitorConfig:
        return cls(
            flush_readings=settings.station_flush_readings,
            flush_interval_s=settings.station_flush_interval_ms / 1000,
            reconnect_min_s=settings.station_reconnect_min_ms / 1000,
            reconnect_max_s=settings.station_reconnect_max_ms / 1000,
            retry_interval_s=settings.station_retry_interval_ms / 1000,
            spool_path=Path(settings.station_spool_path or f"{database_path}.station-spool"),
            timezone=settings.timezone,
        )


@dataclass(slots=True)
class MonitorStats:
    received: int = 0
    written: int = 0
    """Readings that stored a new or changed value."""
    duplicates: int = 0
    rejected: int = 0
    spooled: int = 0
    replayed: int = 0
    dead_letters: int = 0
    """Readings that could not be written for another reason than an outage (in `<spool>.dead`)."""
    database_available: bool = True
    last_error: str | None = None


def _database_error(exc: BaseException) -> bool:
    return isinstance(exc, (StorageError, *DRIVER_ERRORS))


def _outage(exc: BaseException) -> bool:
    """The database cannot take writes now (try again later), as opposed to this batch cannot be written."""
    return isinstance(exc, DatabaseUnavailable) or (isinstance(exc, DRIVER_ERRORS) and is_unavailable(exc))


class StationMonitor:
    def __init__(self, service: StationService, config: MonitorConfig) -> None:
        self.service = service
        self.config = config
        self.spool = Spool(config.spool_path)
        self.receipts = Receipts(config.spool_path.with_name(config.spool_path.name + ".journal"), self._synced)
        self.dead = DeadLetters(config.spool_path.with_name(config.spool_path.name + ".dead"))
        self.stats = MonitorStats()
        self._clock = service.store.clock
        self._parser = LineParser(config.timezone)
        self._buffer: list[ReadingInput] = []
        self._first_at: float | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._spooling = False
        self._retry_at = 0.0
        self._replayed_to = 0
        self._flusher: asyncio.Task[None] | None = None
        self._started = Lifecycle()
        self._clients: dict[int, tuple[StationClient, asyncio.Task[None]]] = {}
        self._links: dict[int, StationLink] = {}
        self._refresh: asyncio.Task[None] | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------

    async def start(self, hook: LifecycleHook | None = None) -> None:
        """Replays a spool left by an earlier run (first thing the flusher does), then connects to stations.
        When connecting fails, the clients started so far are stopped and the flusher writes what came in."""
        async with Lifecycle("station monitor", hook) as life:
            await self._spool_leftovers()
            if self.spool.exists():
                log.info("station monitor: replaying %s bytes of spooled readings", self.spool.size())
                self._spooling = True
            await life.start("flusher", self._start_flusher, lambda _: self._stop_flusher())
            life.stop_with("stations", self._stop_clients)
            await self.refresh()
            self._started = life.pop_all()

    async def stop(self) -> None:
        """Disconnects, then writes (or spools) what is still buffered: nothing received is lost at shutdown."""
        await self._started.aclose()

    async def _spool_leftovers(self) -> None:
        """Readings an earlier run had received but not yet stored (its journal segments) go to the end of the
        spool, which is replayed first thing."""
        leftovers = await asyncio.to_thread(self.receipts.leftovers)
        if not leftovers:
            return
        readings = [reading for _, part in leftovers for reading in part]
        log.info("station monitor: %s readings received before a crash go to the spool", len(readings))
        await asyncio.to_thread(self.spool.append, readings)
        await asyncio.to_thread(self.receipts.forget_leftovers)

    async def _start_flusher(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name="station flusher")

    async def _stop_flusher(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._flusher is not None:
            await self._flusher
            self._flusher = None
        await self.receipts.close()

    async def _stop_clients(self) -> None:
        await cancel_and_wait(self._refresh)
        for device_id in list(self._clients):
            await self._stop_client(device_id)

    def request_refresh(self) -> None:
        """Station-change listener: picks up new, changed and deleted stations soon (not inside the caller)."""
        if self._stopping:
            return
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.get_running_loop().create_task(self.refresh(), name="station refresh")

    async def refresh(self) -> None:
        """Starts a client for each station with a WebSocket URL, stops those whose station or URL is gone."""
        stations = {s.device_id: s for s in await self.service.list_stations() if s.websocket_url}
        for device_id, (client, _task) in list(self._clients.items()):
            wanted = stations.get(device_id)
            if wanted is None or wanted.websocket_url != client.station.websocket_url:
                await self._stop_client(device_id)
        for device_id, station in stations.items():
            if device_id not in self._clients:
                self._start_client(station)

    def _start_client(self, station: Station) -> None:
        assert station.websocket_url is not None
        link = StationLink(station.device_id, station.name, station.websocket_url, since_ms=self._clock())
        self._links[station.device_id] = link
        client = StationClient(
            station,
            link,
            self.receive,
            parser=self._parser,
            clock=self._clock,
            reconnect_min_s=self.config.reconnect_min_s,
            reconnect_max_s=self.config.reconnect_max_s,
        )
        task = asyncio.create_task(client.run(), name=f"station {station.name}")
        self._clients[station.device_id] = (client, task)

    async def _stop_client(self, device_id: int) -> None:
        client, task = self._clients.pop(device_id)
        await cancel_and_wait(task)
        client.link.enter(STOPPED, self._clock())

    def links(self) -> list[StationLink]:
        return sorted(self._links.values(), key=lambda link: link.name)

    def link(self, device_id: int) -> StationLink | None:
        return self._links.get(device_id)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # --- buffering and writing --------------------------------------------------------------------------------

    async def receive(self, readings: list[ReadingInput]) -> None:
        """Takes received readings: returns once they are on disk (the journal of receipts) and in the buffer.
        A slow database never slows the WebSocket readers; a slow disk does, as it must."""
        try:
            await self.receipts.record(readings)
        except OSError as exc:
            # The journal's disk is full or gone: keep them in memory (what a crash now would lose is logged).
            log.error(
                "station monitor: cannot journal %s readings (%s); buffered in memory only", len(readings), exc
            )
            self._synced(readings)

    def _synced(self, readings: list[ReadingInput]) -> None:
        self.stats.received += len(readings)
        if not self._buffer:
            self._first_at = time.monotonic()
            self._wake.set()  # the flusher starts its interval timer
        self._buffer.extend(readings)
        if len(self._buffer) >= self.config.flush_readings:
            self._wake.set()

    def journal_bytes(self) -> int:
        """Bytes of received readings not yet stored or spooled (the journal of receipts)."""
        return self.receipts.size()

    async def _flush_loop(self) -> None:
        while True:
            self._wake.clear()
            if self._stopping:
                await self._flush(final=True)
                return
            timeout = self._next_deadline()
            if timeout is None or timeout > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
            try:
                await self._flush(final=False)
            except Exception:
                log.exception("station monitor: flush failed; the readings stay buffered")

    def _next_deadline(self) -> float | None:
        now = time.monotonic()
        deadlines = []
        if self._buffer and self._first_at is not None:
            if len(self._buffer) >= self.config.flush_readings:
                return 0
            deadlines.append(self._first_at + self.config.flush_interval_s - now)
        if self._spooling:
            deadlines.append(self._retry_at - now)
        return max(0.0, min(deadlines)) if deadlines else None

    async def _flush(self, *, final: bool) -> None:
        now = time.monotonic()
        if self._spooling and not final and now >= self._retry_at:
            await self._replay()
        due = self._buffer and (
            final
            or len(self._buffer) >= self.config.flush_readings
            or (self._first_at is not None and now >= self._first_at + self.config.flush_interval_s)
        )
        if not due:
            return
        async with self.receipts.lock:  # the buffer is exactly what the journal segments not yet taken hold
            batch, self._buffer, self._first_at = self._buffer, [], None
            segments = self.receipts.take()
        if self._spooling:
            await self._to_spool(batch, segments)
            return
        try:
            await self._write(batch)
        except Exception as exc:
            if not _outage(exc):
                await self._write_each(batch)  # this batch is at fault, not the database
                await asyncio.to_thread(self.receipts.done, segments)
                return
            # The database refuses: the batch goes to the spool, and is written when a retry works.
            self._database_down(exc)
            await self._to_spool(batch, segments)
            return
        await asyncio.to_thread(self.receipts.done, segments)

    async def flush_now(self) -> None:
        """Writes (or spools) everything buffered now; for tests and shutdown paths."""
        if self._buffer:
            self._first_at = 0.0
        await self._flush(final=False)

    async def _to_spool(self, batch: list[ReadingInput], segments: list[JournalFile]) -> None:
        try:
            await asyncio.to_thread(self.spool.append, batch)
        except OSError as exc:
            # The spool's disk is full or gone too: keep the batch in memory and try again at the next flush.
            log.error("station monitor: cannot append to the spool %s: %s", self.spool.path, exc)
            async with self.receipts.lock:
                self._buffer[:0] = batch
                self.receipts.give_back(segments)
            self._first_at = time.monotonic()
            return
        self.stats.spooled += len(batch)
        await asyncio.to_thread(self.receipts.done, segments)

    def _database_down(self, exc: BaseException) -> None:
        if not _database_error(exc):
            log.error("station monitor: writing failed unexpectedly; spooling", exc_info=exc)
        elif self.stats.database_available:
            log.warning(
                "station monitor: the database cannot take writes (%s); spooling to %s", exc, self.spool.path
            )
        self.stats.database_available = False
        self.stats.last_error = str(exc)
        self._spooling = True
        self._retry_at = time.monotonic() + self.config.retry_interval_s

    async def _replay(self) -> None:
        """Writes the spool from where this process got to; removes it when all of it is stored."""
        batches: Iterator[tuple[list[ReadingInput], int]] = self.spool.batches(
            self.config.flush_readings, self._replayed_to
        )
        while True:
            item = await asyncio.to_thread(next, batches, None)
            if item is None:
                break
            batch, end = item
            try:
                if batch:
                    # durable: the spool is removed once its last batch is written, never before it is on disk
                    await self._write(batch, durable=True)
            except Exception as exc:
                if _outage(exc):
                    self._database_down(exc)
                    return
                if not await self._write_each(batch, durable=True):
                    return
            self.stats.replayed += len(batch)
            self._replayed_to = end
        await asyncio.to_thread(self.spool.remove)
        self._replayed_to = 0
        self._spooling = False
        self.stats.database_available = True
        log.info("station monitor: the database is back; spooled readings replayed")

    async def _write_each(self, batch: list[ReadingInput], *, durable: bool = False) -> bool:
        """A batch that failed for another reason than an outage, reading by reading: those that fail again go
        to the dead-letter file with the reason, the rest are stored. False when the database refused meanwhile
        (the caller stops and retries later)."""
        for reading in batch:
            try:
                await self._write([reading], durable=durable)
            except Exception as exc:
                if _outage(exc):
                    self._database_down(exc)
                    return False
                await self._dead_letter([reading], f"{type(exc).__name__}: {exc}")
        return True

    async def _dead_letter(self, readings: list[ReadingInput], reason: str) -> None:
        now = self._clock()
        for reading in readings:
            await asyncio.to_thread(self.dead.put, line_of(reading), reason, now)
        self.stats.dead_letters += len(readings)

    async def _write(self, batch: list[ReadingInput], *, durable: bool = False) -> None:
        prepared, errors = await self.service.prepare(batch, skip_invalid=True)
        for error in errors:
            self._rejected(batch[error.index or 0], str(error))
        try:
            outcome = await self.service.write(prepared, SOURCE, durable=durable)
        except ValidationError:
            # The write path refused a point: a station deleted since the station list was read. Read the list
            # again and prepare again, which rejects that station's readings; bad data is never spooled.
            self.service.forget_stations()
            prepared, errors = await self.service.prepare(batch, skip_invalid=True)
            for error in errors:
                self._rejected(batch[error.index or 0], str(error))
            try:
                outcome = await self.service.write(prepared, SOURCE, durable=durable)
            except ValidationError as exc:
                log.error("station monitor: the write path refused a batch of %s readings: %s", len(batch), exc)
                self.stats.rejected += len(prepared)
                await self._dead_letter([batch[item.at] for item in prepared], str(exc))
                return
        self.stats.written += outcome.imported
        self.stats.duplicates += outcome.duplicates
        for flag in outcome.flagged:
            log.warning(
                "station %s at %s: %s went backwards (%s after %s); stored with quality UNCERTAIN",
                flag.station,
                flag.ts_ms,
                flag.field,
                flag.value,
                flag.previous,
            )

    def _rejected(self, reading: ReadingInput, reason: str) -> None:
        self.stats.rejected += 1
        link = self._links.get(reading.station_id) if reading.station_id is not None else None
        if link is not None:
            link.rejected += 1
            link.last_error = f"rejected a reading: {reason}"
        log.debug("station monitor rejected a reading: %s", reason)
