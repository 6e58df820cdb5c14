"""Device reachability and point faults as the collector and the reader see them.

Two kinds of failure, kept apart because a field engineer treats them apart:

- A device that does not answer (timeout, connection refused, no route: `DeviceTimeout`, after the driver's
  retries) is offline. It is skipped until COLLECTOR_ERROR_RETRY_SECONDS have passed, then tried again; the next
  answer brings it back online.
- A device that answers is online, even when the answer is an error. An error it gave for one point (a register
  or object it lacks, a request it refused) is that point's fault: tracked per point (since when, how many reads
  in a row, the device's reason) until the point reads again. Its other points are not affected.

The database keeps `online` and `last_seen`; listeners (the live bus's `deviceStatus`, wired by `Services`) are
called as `listener(device_id, online, at_ms, fault=..., failing=...)` when `online` changes or the set of
failing points does.

`reset(device_id)` forgets all of it at once (the device was edited, deleted or re-created), so the next read
goes to the device. Reads already in flight carry the generation they started in (`generation()`), and their
outcome is dropped if the device was reset meanwhile: an answer from the old address cannot mark the corrected
device offline again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from t3000gql.collect.drivers.base import ReadResult
from t3000gql.domain.faults import Fault, PointFault
from t3000gql.domain.points import PointRef
from t3000gql.domain.timeutil import Clock, to_datetime
from t3000gql.errors import DatabaseUnavailable, DeviceOffline, DeviceTimeout, NotFoundError, T3000Error
from t3000gql.storage.devices import DeviceRepository

log = logging.getLogger(__name__)

LAST_SEEN_RESOLUTION_MS = 10_000
"""`last_seen` of a device that stays online is written at most this often (not on every run of every trend
log), so 1 s trend logs do not add a database transaction per run for it."""


class StatusListener(Protocol):
    """Called after a device's `online` changed in the database, or the set of its failing points changed."""

    def __call__(
        self,
        device_id: int,
        online: bool,
        at_ms: int,
        *,
        fault: Fault | None = None,
        failing: tuple[PointFault, ...] = (),
    ) -> None: ...


@dataclass
class PointState:
    code: str
    reason: str
    since_ms: int
    failures: int = 1
    """Reads in a row that failed for this point."""


@dataclass
class DeviceState:
    failures: int = 0
    """Attempts in a row the device did not answer (each one already retried by the driver)."""
    since_ms: int | None = None
    """The first of those attempts."""
    skip_until_ms: int | None = None
    last_error: str | None = None
    last_error_code: str | None = None
    points: dict[PointRef, PointState] = field(default_factory=dict)
    """Points whose last read failed while the device answered."""


class DeviceHealth:
    def __init__(self, devices: DeviceRepository, clock: Clock, retry_seconds: int) -> None:
        self._devices = devices
        self._clock = clock
        self.retry_ms = retry_seconds * 1000
        self._states: dict[int, DeviceState] = {}
        self._listeners: list[StatusListener] = []
        self._online_written: dict[int, int] = {}
        self._generations: dict[int, int] = {}
        self._announce: set[int] = set()
        """Devices reset since their last status: the next one is published even if nothing seems to change."""

    def add_listener(self, listener: StatusListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: StatusListener) -> None:
        self._listeners.remove(listener)

    # --- what readers ask -------------------------------------------------------------------------------------

    def state(self, device_id: int) -> DeviceState:
        return self._states.get(device_id) or DeviceState()

    def generation(self, device_id: int) -> int:
        """Changes on every `reset`: a read passes the value it started with to `succeeded` / `failed`."""
        return self._generations.get(device_id, 0)

    def skipped_until(self, device_id: int) -> int | None:
        """The end of the device's skip window (epoch ms) while it lasts, else None."""
        state = self._states.get(device_id)
        if state is None or state.skip_until_ms is None:
            return None
        return state.skip_until_ms if self._clock() < state.skip_until_ms else None

    def offline_error(self, device_id: int) -> DeviceOffline | None:
        """The error for a read of a device inside its skip window (nothing is sent to it), else None."""
        retry_at = self.skipped_until(device_id)
        if retry_at is None:
            return None
        state = self._states[device_id]
        return DeviceOffline(
            f"device {device_id} is offline: it did not answer (last error: {state.last_error}); it is tried "
            f"again at {to_datetime(retry_at).isoformat()} (in {(retry_at - self._clock()) / 1000:.0f} s)",
            retry_at_ms=retry_at,
        )

    def fault_of(self, device_id: int, point: PointRef, error: T3000Error) -> Fault:
        """`error` of a point as a `Fault`, with the start of the failure this health knows of (else now)."""
        now = self._clock()
        state = self._states.get(device_id)
        retry_at = error.retry_at_ms if isinstance(error, DeviceOffline) else None
        since: int | None = None
        if state is not None:
            if isinstance(error, DeviceTimeout | DeviceOffline):
                since = state.since_ms
            elif (known := state.points.get(point)) is not None and known.code == error.code:
                since = known.since_ms
        return Fault(error.code, str(error), since if since is not None else now, retry_at)

    def point_faults(self, device_id: int) -> tuple[PointFault, ...]:
        state = self._states.get(device_id)
        if state is None:
            return ()
        return tuple(
            PointFault(ref, Fault(known.code, known.reason, known.since_ms))
            for ref, known in sorted(state.points.items())
        )

    def device_fault(self, device_id: int) -> Fault | None:
        """Why the device is offline (None while it answers)."""
        state = self._states.get(device_id)
        if state is None or not state.failures or state.since_ms is None:
            return None
        return Fault(
            state.last_error_code or "DEVICE_TIMEOUT", state.last_error or "", state.since_ms, state.skip_until_ms
        )

    # --- what reads report ------------------------------------------------------------------------------------

    async def record_read(self, device_id: int, result: ReadResult, *, generation: int | None = None) -> None:
        """The outcome of a bulk read: no answer (offline), an answer (online, with its failing points), or -
        nothing having been sent, every point failing from what the driver already knew - one more failure for
        each of those points."""
        if result.no_answer is not None:
            await self.failed(device_id, result.no_answer, generation=generation)
        elif result.answered:
            await self.succeeded(device_id, read=result.values, failed=result.errors, generation=generation)
        elif result.errors and (generation is None or generation == self.generation(device_id)):
            state = self._states.setdefault(device_id, DeviceState())
            now = self._clock()
            for ref, error in result.errors.items():
                known = state.points.get(ref)
                if known is None or known.code != error.code:
                    state.points[ref] = PointState(error.code, str(error), now)
                else:
                    known.failures += 1

    async def succeeded(
        self,
        device_id: int,
        *,
        read: Iterable[PointRef] = (),
        failed: Mapping[PointRef, T3000Error] | None = None,
        generation: int | None = None,
    ) -> None:
        """The device answered: it is online. `read` are the points it gave values for, `failed` those it
        answered with an error for (each becomes, or stays, a failing point)."""
        if generation is not None and generation != self.generation(device_id):
            return  # the device was reset while this read was in flight: its outcome is about the old device
        now = self._clock()
        state = self._states.get(device_id)
        points_changed = False
        if state is not None:
            state.failures, state.since_ms, state.skip_until_ms = 0, None, None
            state.last_error = state.last_error_code = None
            for ref in read:
                if state.points.pop(ref, None) is not None:
                    points_changed = True
        if failed:
            state = self._states.setdefault(device_id, DeviceState())
            for ref, error in failed.items():
                known = state.points.get(ref)
                if known is None or known.code != error.code:
                    state.points[ref] = PointState(error.code, str(error), now)
                    points_changed = True
                else:
                    known.failures += 1
                    known.reason = str(error)
            log.info("device %s answered with errors for %s points: %s", device_id, len(failed), _first(failed))
        if state is not None and not state.points:
            del self._states[device_id]
        announce = device_id in self._announce
        self._announce.discard(device_id)
        written = self._online_written.get(device_id)
        online_changed = False
        if written is None or now - written >= LAST_SEEN_RESOLUTION_MS:
            recorded = await self._record(device_id, online=True, at_ms=now)
            if recorded is None:
                return  # deleted while it was being read
            online_changed = recorded
        if online_changed or points_changed or announce:
            self._publish(device_id, online=True, at_ms=now)

    async def failed(self, device_id: int, error: Exception, *, generation: int | None = None) -> None:
        """The device did not answer (a DeviceTimeout): offline, skipped for COLLECTOR_ERROR_RETRY_SECONDS."""
        if generation is not None and generation != self.generation(device_id):
            return
        now = self._clock()
        state = self._states.setdefault(device_id, DeviceState())
        state.failures += 1
        if state.since_ms is None:
            state.since_ms = now
        state.skip_until_ms = now + self.retry_ms
        state.last_error = str(error)
        state.last_error_code = getattr(error, "code", "INTERNAL")
        log.warning(
            "device %s did not answer (%s in a row): %s; skipped for %s s",
            device_id,
            state.failures,
            error,
            self.retry_ms // 1000,
        )
        self._online_written.pop(device_id, None)
        announce = device_id in self._announce
        self._announce.discard(device_id)
        if await self._record(device_id, online=False, at_ms=now) or announce:
            self._publish(device_id, online=False, at_ms=now)

    def reset(self, device_id: int) -> None:
        """Forgets what is known of the device: it is no longer skipped, its points are no longer failing, and
        reads in flight report into the void. Call when a device was edited, deleted or re-created."""
        had = self._states.pop(device_id, None)
        self._online_written.pop(device_id, None)
        self._generations[device_id] = self.generation(device_id) + 1
        self._announce.add(device_id)
        if had is not None:
            log.info("device %s changed: its health is reset, the next read goes to it", device_id)

    # --- reporting --------------------------------------------------------------------------------------------

    def known_devices(self) -> list[int]:
        """Devices with something to report: offline, or with failing points."""
        return sorted(self._states)

    def offline_devices(self) -> dict[int, DeviceState]:
        return {device_id: state for device_id, state in self._states.items() if state.failures}

    def report(self, is_point: Callable[[PointRef], bool] | None = None) -> dict[str, Any]:
        """`/health`'s view: each device that is offline or has failing points; `is_point(ref)` (optional)
        leaves out points deleted since they failed."""
        devices: dict[str, Any] = {}
        for device_id, state in sorted(self._states.items()):
            points = [
                {
                    "pointType": ref.point_type.name,
                    "pointNumber": ref.point_number,
                    "code": known.code,
                    "reason": known.reason,
                    "since": _iso(known.since_ms),
                    "failures": known.failures,
                }
                for ref, known in sorted(state.points.items())
                if is_point is None or is_point(ref)
            ]
            if not points and not state.failures:
                continue
            devices[str(device_id)] = {
                "online": not state.failures,
                "failures": state.failures,
                "since": _iso(state.since_ms),
                "lastError": state.last_error,
                "code": state.last_error_code,
                "retryAt": _iso(self.skipped_until(device_id)),
                "failingPoints": points,
            }
        return devices

    # --- inside -----------------------------------------------------------------------------------------------

    async def _record(self, device_id: int, *, online: bool, at_ms: int) -> bool | None:
        """Writes `online` (and `last_seen`); True when it changed, None when the device no longer exists."""
        try:
            changed = await self._devices.set_status(device_id, online=online, seen_at=at_ms)
        except NotFoundError:
            return None
        except DatabaseUnavailable as exc:
            # The device's status waits for a later read; its values (the collector's backlog) do not wait.
            log.info("device %s: its status could not be stored now (%s)", device_id, exc)
            return False
        if online:
            self._online_written[device_id] = at_ms
        if changed:
            log.info("device %s is %s", device_id, "online" if online else "offline")
        return changed

    def _publish(self, device_id: int, *, online: bool, at_ms: int) -> None:
        fault = None if online else self.device_fault(device_id)
        failing = self.point_faults(device_id)
        for listener in self._listeners:
            try:
                listener(device_id, online, at_ms, fault=fault, failing=failing)
            except Exception:
                log.exception("a device status listener failed")


def _first(failed: Mapping[PointRef, T3000Error]) -> str:
    ref, error = next(iter(failed.items()))
    return f"{ref}: {error}" + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")


def _iso(ts_ms: int | None) -> str | None:
    return None if ts_ms is None else to_datetime(ts_ms).isoformat(timespec="milliseconds")
