"""From stored records to drivers: how to reach a device, how to read a point, and one lock per device.

The collector and the current-value reader both reach devices through `DeviceAccess`, so they share the
drivers (and so the connections) and the per-device lock: a trend log run and an API read of the same
controller take turns instead of interleaving requests on one Modbus connection.

A driver is kept per device together with the `identity` of the record it was built from (how to reach the
device, its options, when the record was created); `changed_devices` compares that with the records as they are
now, which is how an edited, deleted or re-created device is noticed (see `Collection.devices_changed`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping

from t3000gql.collect.drivers import DeviceConnection, Driver, DriverManager, PointSpec, RegisterMap
from t3000gql.collect.drivers.base import PROTOCOLS, ProtocolName
from t3000gql.domain.points import is_digital_unit
from t3000gql.errors import ValidationError
from t3000gql.storage.records import Device, MonitoringPoint

READABLE_PROTOCOLS: frozenset[str] = frozenset(PROTOCOLS)
"""Protocols a driver reads. "none" (values come through the API) and "websocket" (power stations push
their readings) are not read: their current value is whatever was last written."""


def is_readable(device: Device) -> bool:
    return device.protocol in READABLE_PROTOCOLS


def connection_for(device: Device) -> DeviceConnection:
    """How to reach a device; ValidationError (naming the field to fix) when its record cannot say."""
    if device.protocol not in READABLE_PROTOCOLS:
        raise ValidationError(
            f"device {device.device_id} has protocol {device.protocol!r}: there is no driver to read it "
            f"(readable protocols: {', '.join(sorted(READABLE_PROTOCOLS))})",
            field="protocol",
            value=device.protocol,
        )
    protocol: ProtocolName = device.protocol  # type: ignore[assignment]  # checked just above
    if protocol == "simulated":
        # The unit id seeds the waveforms, so two simulated devices do not show the same numbers.
        return DeviceConnection("simulated", unit_id=(device.modbus_unit_id or device.device_id) % 256)
    if not device.ip_address:
        raise ValidationError(
            f"device {device.device_id} ({protocol}) has no ip_address to reach it at",
            field="ip_address",
            mentions=("ip_address",),
        )
    return DeviceConnection(
        protocol,
        host=device.ip_address,
        port=device.port,
        unit_id=device.modbus_unit_id if device.modbus_unit_id is not None else 1,
        bacnet_instance=device.bacnet_instance,
    )


def spec_for(point: MonitoringPoint) -> PointSpec:
    """A point as a driver reads it: digital when its unit is a digital range or its data type BOOLEAN; a
    generic Modbus register map when `options["register"]` holds one (else the T3 map applies)."""
    register = point.options.get("register") if isinstance(point.options, dict) else None
    try:
        register_map = RegisterMap.from_options(register) if register is not None else None
    except ValidationError as exc:
        raise ValidationError(
            f"point {point.ref} has a bad register map in options.register: {exc}",
            field="options",
            value=register,
        ) from exc
    return PointSpec(
        point.ref,
        digital=is_digital_unit(point.unit_code) or point.data_type == "BOOLEAN",
        register_map=register_map,
        revision=point.updated_at,
    )


DeviceIdentity = tuple[object, ...]


def identity_of(device: Device) -> DeviceIdentity:
    """What makes a device record the same device to talk to: its address, protocol and options, and its
    creation time (a device deleted and created again under the same id is another device)."""
    return (
        device.protocol,
        device.ip_address,
        device.port,
        device.modbus_unit_id,
        device.bacnet_instance,
        json.dumps(device.options, sort_keys=True, default=str),
        device.created_at,
    )


class DeviceAccess:
    """Drivers per device (rebuilt when the device's record changes) and a lock per device."""

    def __init__(self, manager: DriverManager) -> None:
        self.manager = manager
        self._drivers: dict[int, tuple[DeviceIdentity, Driver]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    def lock(self, device_id: int) -> asyncio.Lock:
        lock = self._locks.get(device_id)
        if lock is None:
            lock = self._locks[device_id] = asyncio.Lock()
        return lock

    async def driver_for(self, device: Device) -> Driver:
        identity = identity_of(device)
        known = self._drivers.get(device.device_id)
        if known is not None:
            if known[0] == identity:
                return known[1]
            await known[1].close()  # the record changed (a re-run demo, an edited device)
        driver = self.manager.open(connection_for(device))
        self._drivers[device.device_id] = (identity, driver)
        return driver

    def known_devices(self) -> list[int]:
        """Devices a driver was built for."""
        return list(self._drivers)

    def changed_devices(self, records: Mapping[int, Device | None]) -> list[int]:
        """Of the devices in `records` (None: deleted), those whose record is not the one their driver was
        built from."""
        changed = []
        for device_id, record in records.items():
            known = self._drivers.get(device_id)
            if known is not None and (record is None or identity_of(record) != known[0]):
                changed.append(device_id)
        return changed

    async def forget(self, device_ids: Iterable[int]) -> None:
        for device_id in device_ids:
            known = self._drivers.pop(device_id, None)
            if known is not None:
                await known[1].close()

    async def close(self) -> None:
        await self.forget(list(self._drivers))
        await self.manager.close()
