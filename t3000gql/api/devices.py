"""Devices: list, look up, create or change, delete."""

from __future__ import annotations

import strawberry

from t3000gql.api.access import needs
from t3000gql.api.context import Info
from t3000gql.api.inputs import DeviceInput
from t3000gql.api.types import Device
from t3000gql.auth import Role


@strawberry.type
class DeviceQueries:
    @strawberry.field(description="Devices by device id, optionally only active ones or one type.")
    async def devices(
        self, info: Info, is_active: bool | None = None, device_type: str | None = None
    ) -> list[Device]:
        listed = await info.context.registry.devices(is_active=is_active, device_type=device_type)
        return [Device.from_record(device) for device in listed]

    @strawberry.field
    async def device(self, info: Info, device_id: int) -> Device | None:
        return Device.from_record(await info.context.require_device(device_id))


@strawberry.type
class DeviceMutations:
    @strawberry.mutation(
        description="Creates the device (deviceName and deviceType needed) or changes it; this is what points "
        "the server at an address (ipAddress, port). Needs the admin role; audited with the fields changed.",
        extensions=needs(Role.ADMIN),
    )
    async def upsert_device(self, info: Info, input: DeviceInput) -> Device | None:
        return Device.from_record(await info.context.registry.upsert_device(input.to_domain(), info.context.actor))

    @strawberry.mutation(
        description="Deletes the device with its points, trend logs, cached values and history. "
        "False when there was no such device. Needs the admin role; audited with how many samples went.",
        extensions=needs(Role.ADMIN),
    )
    async def delete_device(self, info: Info, device_id: int) -> bool | None:
        return await info.context.registry.delete_device(device_id, info.context.actor)
