"""One station's live WebSocket connection (seed 004's StationMonitor): connect, receive readings, hand each
to the monitor's buffer, and reconnect with exponential backoff when the link drops. The loop is the plain
`while True: try: async with connect(...) … except …: sleep(backoff)` that anyone can read.

Messages (text or binary frames, UTF-8 JSON; docs/stations.md is the reference):
    {"type": "reading", "timestamp": "2024-01-15T10:30:00.000Z", "activePower1": 1523.4, …, "muxPower4": 99.1}
    [ {…reading…}, {…reading…} ]                         several readings in one frame
    {"type": "status", …}                                 any other type is ignored
"station" may be given; when it is, it must be this connection's station. Channel values may also be nested
under "readings", as in the JSON log lines.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
import websockets
from websockets.asyncio.client import connect

from t3000gql.domain.stations import ReadingInput
from t3000gql.domain.timeutil import Clock
from t3000gql.ingest.logformat import LineError, LineParser
from t3000gql.storage.stations import Station

log = logging.getLogger(__name__)

CONNECTING, CONNECTED, BACKOFF, STOPPED = "CONNECTING", "CONNECTED", "BACKOFF", "STOPPED"


@dataclass(slots=True)
class StationLink:
    """What the API shows about one station's connection. Mutable: the client updates it as things happen."""

    device_id: int
    name: str
    url: str
    state: str = CONNECTING
    since_ms: int = 0
    """When `state` last changed."""
    last_error: str | None = None
    failures: int = 0
    """Failed attempts since the last successful connect (what the backoff grows with)."""
    connects: int = 0
    received: int = 0
    rejected: int = 0
    """Messages or readings that were not readings we can store (bad JSON, values out of range, …)."""
    last_reading_ms: int | None = None
    retry_at_ms: int | None = None

    def enter(self, state: str, now_ms: int) -> None:
        self.state = state
        self.since_ms = now_ms


class StationClient:
    def __init__(
        self,
        station: Station,
        link: StationLink,
        deliver: Callable[[list[ReadingInput]], Awaitable[None]],
        *,
        parser: LineParser,
        clock: Clock,
        reconnect_min_s: float,
        reconnect_max_s: float,
    ) -> None:
        self.station = station
        self.link = link
        self._deliver = deliver
        self._parser = parser
        self._clock = clock
        self._min = reconnect_min_s
        self._max = reconnect_max_s

    async def run(self) -> None:
        delay = self._min
        link = self.link
        while True:
            link.enter(CONNECTING, self._clock())
            try:
                async with connect(link.url, proxy=None, open_timeout=10, max_size=4 * 1024 * 1024) as ws:
                    link.enter(CONNECTED, self._clock())
                    link.connects += 1
                    link.failures = 0
                    link.retry_at_ms = None
                    delay = self._min
                    async for message in ws:
                        readings = self._receive(message)
                        if readings:
                            # the next message is read once these are on disk (ingest/receipts.py)
                            await self._deliver(readings)
                error = "the station closed the connection"
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                error = f"{type(exc).__name__}: {exc}"
            link.failures += 1
            link.last_error = error
            # Jitter keeps a site's stations from reconnecting in lock-step after the network comes back.
            wait = delay * random.uniform(0.8, 1.0)
            link.retry_at_ms = self._clock() + int(wait * 1000)
            link.enter(BACKOFF, self._clock())
            log.info("station %s: %s; reconnecting in %.1f s", link.name, error, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, self._max)

    def _receive(self, message: str | bytes) -> list[ReadingInput]:
        """The readings of one message (those it rejects are counted on the link)."""
        link = self.link
        readings: list[ReadingInput] = []
        try:
            data = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            self._reject(f"not JSON ({exc})")
            return readings
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item, dict):
                self._reject("a message item is not a JSON object")
                continue
            if item.get("type", "reading") != "reading":
                continue
            try:
                entry = self._parser.reading_object(item, station=self.station.name)
            except LineError as exc:
                self._reject(str(exc))
                continue
            if entry.station != self.station.name:
                self._reject(f"names station {entry.station!r} on the connection of {self.station.name!r}")
                continue
            link.received += 1
            link.last_reading_ms = self._clock()
            readings.append(ReadingInput(entry.ts_ms, entry.values, station_id=self.station.device_id))
        return readings

    def _reject(self, reason: str) -> None:
        self.link.rejected += 1
        self.link.last_error = f"rejected a message: {reason}"
        log.debug("station %s rejected a message: %s", self.link.name, reason)
