"""Commanding hardware: writing a point's value to its device, releasing that command, reading who commands it.

Every command obeys the point's rules before anything is sent (domain/commands.py: writable, active, within
its limits, 0 or 1 when digital), and is audited in two steps, so the audit trail and the device cannot
disagree: the intent is recorded (outcome `pending`) before the device is asked, then the outcome. A write the
device took is stored through the write path with source api-write, and its audit entry is finished in that same
transaction; a write the device refused or did not confirm is recorded as failed and nothing is stored, and
the error says whether the device may have taken it (`extensions.deviceWrite`: REFUSED or UNCONFIRMED).

BACnet writes go at a priority (BACNET_WRITE_PRIORITY unless the caller gives one) and a release writes NULL
there; a T3 point is switched to manual before its value is written and back to auto by a release.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from t3000gql.collect.access import DeviceAccess, is_readable, spec_for
from t3000gql.collect.current import CurrentReader
from t3000gql.collect.drivers import Driver, PointSpec
from t3000gql.collect.health import DeviceHealth
from t3000gql.domain.audit import SYSTEM, Actor
from t3000gql.domain.commands import CommandState, CommandTarget, check_command, check_commandable, check_priority
from t3000gql.domain.points import PointRef
from t3000gql.domain.samples import CurrentValue, Sample, check_value
from t3000gql.domain.timeutil import Clock
from t3000gql.errors import DeviceError, DeviceTimeout, ValidationError
from t3000gql.storage.audit import AuditNote
from t3000gql.storage.records import Device, MonitoringPoint
from t3000gql.storage.store import Store
from t3000gql.storage.write_path import Audit

log = logging.getLogger(__name__)

T = TypeVar("T")
Describe = Callable[[T], dict[str, Any]]

WRITE_SOURCE = "api-write"
WRITE_OPERATION = "write_point_value"
RELEASE_OPERATION = "release_point_value"


class WriteNotConfirmed(DeviceTimeout):
    """The device did not acknowledge a write in time: it may or may not have taken the value."""

    extensions = {"deviceWrite": "UNCONFIRMED"}


class WriteRefused(DeviceError):
    """The device answered the write with an error: the value was not written."""

    extensions = {"deviceWrite": "REFUSED"}


@dataclass(frozen=True, slots=True)
class _Target:
    point: MonitoringPoint
    device: Device
    spec: PointSpec
    priority: int | None
    """The BACnet priority of the command; None for other protocols."""


class Commander:
    def __init__(
        self,
        store: Store,
        access: DeviceAccess,
        health: DeviceHealth,
        reader: CurrentReader,
        *,
        clock: Clock,
        default_priority: int,
    ) -> None:
        self._store = store
        self._access = access
        self._health = health
        self._reader = reader
        self._clock = clock
        self.default_priority = check_priority(default_priority)

    async def write(
        self, ref: PointRef, value: float, *, priority: int | None = None, actor: Actor = SYSTEM
    ) -> CurrentValue:
        """Writes the value to the point's device (devices without a driver: only the store), then stores it."""
        value = check_value(value)
        target = await self._target(ref, priority)
        check_command(_rules(target), value)
        cached = self._store.cache.peek(target.point.id)
        detail = {} if target.priority is None else {"priority": target.priority}
        entry = await self._store.audit.begin(
            AuditNote(
                WRITE_OPERATION,
                actor,
                device_id=ref.device_id,
                point_type=int(ref.point_type),
                point_number=ref.point_number,
                old_value=None if cached is None else cached.value,
                new_value=value,
                source=WRITE_SOURCE,
                detail=detail or None,
            )
        )
        if is_readable(target.device):
            await self._send(
                entry, target, lambda driver: driver.write_point(target.spec, value, priority=priority)
            )
        now = self._clock()
        await self._store.writes.record(
            [Sample(ref, now, value)], WRITE_SOURCE, audit=Audit(WRITE_OPERATION, actor, pending_id=entry)
        )
        return CurrentValue(target.point.id, value, now, WRITE_SOURCE, stale=False)

    async def release(self, ref: PointRef, *, priority: int | None = None, actor: Actor = SYSTEM) -> CurrentValue:
        """Releases our command (BACnet: NULL at the priority; T3: back to auto), then reads the point back."""
        target = await self._target(ref, priority)
        check_commandable(_rules(target))
        if not is_readable(target.device):
            raise ValidationError(
                f"device {ref.device_id} has protocol {target.device.protocol!r}: no driver commands it, so "
                "there is nothing to release",
                field="protocol",
                value=target.device.protocol,
            )
        entry = await self._store.audit.begin(
            AuditNote(
                RELEASE_OPERATION,
                actor,
                device_id=ref.device_id,
                point_type=int(ref.point_type),
                point_number=ref.point_number,
                source=WRITE_SOURCE,
                detail=None if target.priority is None else {"priority": target.priority},
            )
        )
        await self._send(entry, target, lambda driver: driver.release_point(target.spec, priority=target.priority))
        await self._store.audit.finish(entry, "done")
        try:
            return await self._reader.refresh_point(ref)
        except DeviceError as exc:
            raise DeviceError(f"released, but reading the point back failed: {exc}") from exc

    async def audited(self, note: AuditNote, action: Callable[[], Awaitable[T]], describe: Describe[T]) -> T:
        """Runs an operator's request to a device (refreshPoint, collectNow) with its audit entry: the intent
        before, then done (with `describe(result)`) or failed with the error."""
        entry = await self._store.audit.begin(note)
        try:
            result = await action()
        except Exception as exc:
            await self._store.audit.failed(entry, exc)
            raise
        await self._store.audit.finish(entry, "done", describe(result))
        return result

    async def command_state(self, ref: PointRef) -> CommandState | None:
        """The point's priority array (BACnet) or auto/manual switch (T3), read from its device now; None for
        devices without either."""
        point = await self._store.points.require(ref)
        device = await self._store.devices.require(ref.device_id)
        if not is_readable(device) or not device.is_active:
            return None
        spec = spec_for(point)
        async with self._access.lock(device.device_id):
            driver = await self._access.driver_for(device)
            return await driver.read_command_state(spec)

    async def _target(self, ref: PointRef, priority: int | None) -> _Target:
        point = await self._store.points.require(ref)
        device = await self._store.devices.require(ref.device_id)
        if device.protocol == "bacnet":
            priority = check_priority(self.default_priority if priority is None else priority)
        elif priority is not None:
            raise ValidationError(
                f"device {ref.device_id} speaks {device.protocol!r}: priorities are BACnet's; leave it out",
                field="priority",
                value=priority,
            )
        return _Target(point, device, spec_for(point), priority)

    async def _send(self, entry: int, target: _Target, command: Callable[[Driver], Awaitable[None]]) -> None:
        """Sends one command under the device's lock; a failure finishes the audit entry as failed."""
        device_id = target.device.device_id
        generation = self._health.generation(device_id)
        try:
            async with self._access.lock(device_id):
                driver = await self._access.driver_for(target.device)
                try:
                    await command(driver)
                except DeviceTimeout as exc:  # silence: the device counts as offline
                    await self._health.failed(device_id, exc, generation=generation)
                    raise
                except DeviceError:  # an answer (a refusal): the device is online, only this command failed
                    await self._health.succeeded(device_id, generation=generation)
                    raise
            await self._health.succeeded(device_id, generation=generation)
        except DeviceTimeout as exc:
            await self._store.audit.failed(entry, exc, device_took="unknown")
            raise WriteNotConfirmed(
                f"{exc}; the device did not confirm the command: it may or may not have taken it (read the point "
                "back before sending it again)"
            ) from exc
        except DeviceError as exc:
            await self._store.audit.failed(entry, exc, device_took="no")
            raise WriteRefused(f"{exc}; the device refused the command: nothing was changed") from exc
        except Exception as exc:
            await self._store.audit.failed(entry, exc, device_took="no")
            raise


def _rules(target: _Target) -> CommandTarget:
    point = target.point
    return CommandTarget(
        point.ref,
        writable=point.writable,
        point_active=point.is_active,
        device_active=target.device.is_active,
        digital=target.spec.digital,
        min_value=point.min_value,
        max_value=point.max_value,
    )
