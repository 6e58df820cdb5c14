"""Device reachability as the collector and the reader see it: failures, the skip window, online/offline.

A failed attempt (the driver has already retried each request T3000_MAX_RETRIES times) marks the device
offline and skips it until COLLECTOR_ERROR_RETRY_SECONDS have passed; the next success marks it online again.
The database keeps `online` and `last_seen`; listeners (the live bus's `deviceStatus`, wired by `Services`)
hear only changes of `online`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from t3000gql.domain.timeutil import Clock
from t3000gql.errors import NotFoundError
from t3000gql.storage.devices import DeviceRepository

log = logging.getLogger(__name__)

LAST_SEEN_RESOLUTION_MS = 10_000
"""`last_seen` of a device that stays online is written at most this often (not on every run of every trend
log), so 1 s trend logs do not add a database transaction per run for it."""

StatusListener = Callable[[int, bool, int], None]
"""Called as `listener(device_id, online, at_ms)` after a device's `online` changed in the database."""


@dataclass
class DeviceState:
    failures: int = 0
    """Failed attempts in a row (each one already retried by the driver)."""
    skip_until_ms: int | None = None
    last_error: str | None = None
    last_error_code: str | None = None


class DeviceHealth:
    def __init__(self, devices: DeviceRepository, clock: Clock, retry_seconds: int) -> None:
        self._devices = devices
        self._clock = clock
        self.retry_ms = retry_seconds * 1000
        self._states: dict[int, DeviceState] = {}
        self._listeners: list[StatusListener] = []
        self._online_written: dict[int, int] = {}

    def add_listener(self, listener: StatusListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: StatusListener) -> None:
        self._listeners.remove(listener)

    def state(self, device_id: int) -> DeviceState:
        return self._states.get(device_id) or DeviceState()

    def skipped_until(self, device_id: int) -> int | None:
        """The end of the device's skip window (epoch ms) while it lasts, else None."""
        state = self._states.get(device_id)
        if state is None or state.skip_until_ms is None:
            return None
        return state.skip_until_ms if self._clock() < state.skip_until_ms else None

    async def succeeded(self, device_id: int) -> None:
        self._states.pop(device_id, None)
        written = self._online_written.get(device_id)
        if written is not None and self._clock() - written < LAST_SEEN_RESOLUTION_MS:
            return  # known online, last_seen recent enough: spare the writer a transaction per run
        await self._record(device_id, online=True)

    async def failed(self, device_id: int, error: Exception) -> None:
        state = self._states.setdefault(device_id, DeviceState())
        state.failures += 1
        state.skip_until_ms = self._clock() + self.retry_ms
        state.last_error = str(error)
        state.last_error_code = getattr(error, "code", "INTERNAL")
        log.warning(
            "device %s failed (%s in a row): %s; skipped for %s s",
            device_id,
            state.failures,
            error,
            self.retry_ms // 1000,
        )
        self._online_written.pop(device_id, None)
        await self._record(device_id, online=False)

    async def _record(self, device_id: int, *, online: bool) -> None:
        at_ms = self._clock()
        try:
            changed = await self._devices.set_status(device_id, online=online, seen_at=at_ms)
        except NotFoundError:
            return  # deleted while it was being read
        if online:
            self._online_written[device_id] = at_ms
        if not changed:
            return
        log.info("device %s is %s", device_id, "online" if online else "offline")
        for listener in self._listeners:
            try:
                listener(device_id, online, at_ms)
            except Exception:
                log.exception("a device status listener failed")

    def offline_devices(self) -> dict[int, DeviceState]:
        return {device_id: state for device_id, state in self._states.items() if state.failures}
