"""Builds drivers from device connections and owns what they share.

`DriverManager` is what the server holds (opened in the lifespan, closed on shutdown): it keeps one Modbus
connection per (host, port) for every unit id behind it and one BACnet application for all BACnet devices.
`open_driver` builds a standalone driver that owns its own connection, for scripts and tests.

The protocol modules are imported on first use, so a server that only talks Modbus never loads BAC0 (whose
import reads `./.env` and starts logging to `~/.BAC0`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from t3000gql.collect.drivers.base import DeviceConnection, Driver
from t3000gql.collect.drivers.retry import DEFAULT_BACKOFF_BASE, RetryPolicy
from t3000gql.collect.drivers.simulated import Clock, SimulatedDriver
from t3000gql.config import Settings

if TYPE_CHECKING:
    from t3000gql.collect.drivers.bacnet import BacnetApplication
    from t3000gql.collect.drivers.modbus import ModbusLink

MODBUS_DEFAULT_PORT = 502
BACNET_DEFAULT_PORT = 47808


class DriverManager:
    """One per server process: hands out drivers that share connections, and closes them all at the end."""

    def __init__(
        self,
        settings: Settings,
        *,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        bacnet_local_address: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings, backoff_base=backoff_base)
        self.bacnet_local_address = bacnet_local_address
        self.clock = clock
        self.links: dict[tuple[str, int], ModbusLink] = {}
        self._bacnet: BacnetApplication | None = None

    def open(self, conn: DeviceConnection) -> Driver:
        """A driver for one device; closing it leaves the shared connection open for other devices."""
        if conn.protocol == "modbus":
            from t3000gql.collect.drivers.modbus import ModbusDriver, ModbusLink

            key = (conn.host, conn.port or MODBUS_DEFAULT_PORT)
            link = self.links.get(key)
            if link is None:
                link = self.links[key] = ModbusLink(*key, self.policy)
            return ModbusDriver(link, conn.unit_id, bulk_size=self.settings.t3000_bulk_request_size)
        if conn.protocol == "bacnet":
            from t3000gql.collect.drivers.bacnet import BacnetApplication, BacnetDriver

            if self._bacnet is None:
                self._bacnet = BacnetApplication(local_address=self.bacnet_local_address)
            return BacnetDriver(
                self._bacnet,
                conn.host,
                conn.port or BACNET_DEFAULT_PORT,
                self.policy,
                batch_size=self.settings.t3000_bulk_request_size,
            )
        return SimulatedDriver(seed=conn.unit_id, clock=self.clock)

    async def close(self) -> None:
        links, self.links = list(self.links.values()), {}
        for link in links:
            await link.close()
        if self._bacnet is not None:
            bacnet, self._bacnet = self._bacnet, None
            await bacnet.close()

    async def __aenter__(self) -> DriverManager:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def open_driver(
    conn: DeviceConnection,
    settings: Settings,
    *,
    backoff_base: float = DEFAULT_BACKOFF_BASE,
    clock: Clock = time.time,
) -> Driver:
    """A driver that owns its connection (closed with the driver); the server uses `DriverManager` instead."""
    policy = RetryPolicy.from_settings(settings, backoff_base=backoff_base)
    if conn.protocol == "modbus":
        from t3000gql.collect.drivers.modbus import ModbusDriver, ModbusLink

        link = ModbusLink(conn.host, conn.port or MODBUS_DEFAULT_PORT, policy)
        return ModbusDriver(link, conn.unit_id, bulk_size=settings.t3000_bulk_request_size, owns_link=True)
    if conn.protocol == "bacnet":
        from t3000gql.collect.drivers.bacnet import BacnetApplication, BacnetDriver

        return BacnetDriver(
            BacnetApplication(),
            conn.host,
            conn.port or BACNET_DEFAULT_PORT,
            policy,
            batch_size=settings.t3000_bulk_request_size,
            owns_application=True,
        )
    return SimulatedDriver(seed=conn.unit_id, clock=clock)
