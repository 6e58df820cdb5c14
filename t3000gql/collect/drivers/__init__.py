"""Controller drivers: one small interface (`Driver`), Modbus (T3 map and generic maps), BACnet, simulated.

Only this package imports pymodbus and BAC0 (and the simulators in `t3000gql.collect.simulators`); everything
else sees `Driver`, `PointSpec`, `ReadResult`, `DeviceConnection` and our own `DeviceError` / `DeviceTimeout`.
"""

from __future__ import annotations

from t3000gql.collect.drivers.base import DeviceConnection, Driver, PointSpec, ReadResult, RegisterMap
from t3000gql.collect.drivers.manager import DriverManager, open_driver
from t3000gql.collect.drivers.retry import RetryPolicy

__all__ = [
    "DeviceConnection",
    "Driver",
    "DriverManager",
    "PointSpec",
    "ReadResult",
    "RegisterMap",
    "RetryPolicy",
    "open_driver",
]
