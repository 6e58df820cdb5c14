"""A BACnet/IP device for tests and demos: a BAC0 application on its own UDP port holding the objects of a T3.

analogInput/analogOutput/analogValue 1..n and binaryInput/binaryOutput/binaryValue 1..m, created with
BAC0's local object helpers (`BAC0.core.devices.local.factory`). Outputs and values are commandable (clients
write them at a priority), inputs are not, as on a real controller.

Commands keep a real priority array: `priority_array` reads the 16 slots and `relinquish_default` the value
that rules when all are empty, so tests see what a write at a priority and a release (NULL there) did.

Faults of a device that answers, for tests of partial failures: `remove_object` takes an object away (reads of it
get the device's unknown-object error, for that object alone when others are read with it) and `refuse_writes`
makes writes to an object fail with write-access-denied, as a controller's protected objects do.

BAC0 cannot bind port 0 (it reads 0 as "use 47808"), so a free port is picked by binding a probe socket first;
there is a short window in which another process could take it. On loopback every BACnet node needs its own
port, and Who-Is broadcasts find nothing: clients address the device by unicast `127.0.0.1:port`.
"""

from __future__ import annotations

import contextlib
import logging
from types import TracebackType
from typing import Any

import BAC0
from BAC0.core.devices.local.factory import (
    ObjectFactory,
    analog_input,
    analog_output,
    analog_value,
    binary_input,
    binary_output,
    binary_value,
)
from bacpypes3.basetypes import BinaryPV, PriorityValue
from bacpypes3.errors import PropertyError

from t3000gql.collect.drivers.bacnet import free_udp_port
from t3000gql.domain.points import PointType

log = logging.getLogger(__name__)

_PREFIX = {PointType.INPUT: "IN", PointType.OUTPUT: "OUT", PointType.VARIABLE: "VAR"}


class BacnetSimulator:
    """`async with BacnetSimulator(device_id=1001) as sim:` then read `sim.address` ("127.0.0.1:port")."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        device_id: int = 1001,
        analog: dict[PointType, int] | None = None,
        binary: dict[PointType, int] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.device_id = device_id
        self.analog = (
            analog if analog is not None else {PointType.INPUT: 8, PointType.OUTPUT: 8, PointType.VARIABLE: 8}
        )
        self.binary = (
            binary if binary is not None else {PointType.INPUT: 4, PointType.OUTPUT: 4, PointType.VARIABLE: 4}
        )
        self._objects: dict[tuple[PointType, int, bool], Any] = {}
        self._refusing: set[tuple[PointType, int, bool]] = set()
        self._application: Any = None
        self._stack = contextlib.AsyncExitStack()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        BAC0.log_level("error", log_this=False)
        if self.port is None:
            self.port = free_udp_port(self.host)
        lite = await self._stack.enter_async_context(
            BAC0.start(ip=f"{self.host}/8:{self.port}", deviceId=self.device_id, localObjName="t3-sim")
        )
        # ObjectFactory collects objects in class-level state: clear it before and after so two simulators in
        # one process (created one after the other) do not share objects.
        ObjectFactory.clear_objects()
        self._application = lite.this_application.app
        try:
            created = self._create_objects()
            for obj in created.values():
                self._application.add_object(obj)
        finally:
            ObjectFactory.clear_objects()
        self._guard_writes()
        log.info("BACnet simulator device %s on %s with %s objects", self.device_id, self.address, len(created))

    async def stop(self) -> None:
        await self._stack.aclose()

    async def __aenter__(self) -> BacnetSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def set_value(self, point_type: PointType, number: int, value: float, *, digital: bool = False) -> None:
        """The device's own value from now on: commands in the priority array are relinquished."""
        obj = self._objects[(point_type, number, digital)]
        present: Any = BinaryPV("active" if value else "inactive") if digital else float(value)
        if hasattr(obj, "priorityArray"):
            for index in range(16):
                obj.priorityArray[index] = PriorityValue(null=())
            obj.relinquishDefault = present
            obj.recalculating()
        else:
            obj.presentValue = present

    def value(self, point_type: PointType, number: int, *, digital: bool = False) -> float:
        present = self._objects[(point_type, number, digital)].presentValue
        return (1.0 if str(present) == "active" else 0.0) if digital else float(present)

    def priority_array(
        self, point_type: PointType, number: int, *, digital: bool = False
    ) -> list[float | None] | None:
        """The object's 16 command slots as the device holds them (index 0 is priority 1; None an empty slot),
        with presentValue following the highest filled one, else relinquishDefault (bacpypes3's commandable
        objects); None for an object that is not commandable (inputs)."""
        obj = self._objects[(point_type, number, digital)]
        slots = getattr(obj, "priorityArray", None)
        if slots is None:
            return None
        found: list[float | None] = []
        for slot in slots:
            contents = slot.dict_contents()
            if "null" in contents or not contents:
                found.append(None)
                continue
            raw = next(iter(contents.values()))
            found.append((1.0 if str(raw) in ("active", "1") else 0.0) if digital else float(raw))
        return found

    def relinquish_default(self, point_type: PointType, number: int, *, digital: bool = False) -> float:
        present = self._objects[(point_type, number, digital)].relinquishDefault
        return (1.0 if str(present) == "active" else 0.0) if digital else float(present)

    def remove_object(self, point_type: PointType, number: int, *, digital: bool = False) -> None:
        """The device no longer has this object: reads and writes of it get unknown-object."""
        self._application.delete_object(self._objects[(point_type, number, digital)])

    def restore_object(self, point_type: PointType, number: int, *, digital: bool = False) -> None:
        self._application.add_object(self._objects[(point_type, number, digital)])

    def refuse_writes(self, point_type: PointType, number: int, *, digital: bool = False) -> None:
        """Writes to this object are answered with property/write-access-denied (and change nothing)."""
        self._refusing.add((point_type, number, digital))

    def _guard_writes(self) -> None:
        # bacpypes3 dispatches a WriteProperty request to the application's `do_WritePropertyRequest` (looked up
        # by name per request): wrapping it refuses chosen objects the way the library refuses read-only ones.
        app = self._application
        handle = app.do_WritePropertyRequest

        async def guarded(apdu: Any) -> None:
            obj = app.get_object_id(apdu.objectIdentifier)
            refused = {id(self._objects[key]) for key in self._refusing}
            if obj is not None and id(obj) in refused:
                raise PropertyError("writeAccessDenied")
            await handle(apdu)

        app.do_WritePropertyRequest = guarded

    def _create_objects(self) -> dict[str, Any]:
        analog_makers = {
            PointType.INPUT: analog_input,
            PointType.OUTPUT: analog_output,
            PointType.VARIABLE: analog_value,
        }
        binary_makers = {
            PointType.INPUT: binary_input,
            PointType.OUTPUT: binary_output,
            PointType.VARIABLE: binary_value,
        }
        names: dict[str, tuple[PointType, int, bool]] = {}
        for point_type, count in self.analog.items():
            for number in range(1, count + 1):
                name = f"{_PREFIX[point_type]}{number}"
                analog_makers[point_type](
                    instance=number,
                    name=name,
                    presentValue=0.0,
                    properties={"units": "noUnits"},
                    # bacpypes3's analog output is commandable already; BAC0 fails to wrap it a second time.
                    is_commandable=point_type == PointType.VARIABLE,
                )
                names[name] = (point_type, number, False)
        for point_type, count in self.binary.items():
            for number in range(1, count + 1):
                name = f"B{_PREFIX[point_type]}{number}"
                binary_makers[point_type](
                    instance=number,
                    name=name,
                    presentValue="inactive",
                    is_commandable=point_type == PointType.VARIABLE,
                )
                names[name] = (point_type, number, True)
        created = dict(ObjectFactory.objects)
        self._objects = {names[name]: obj for name, obj in created.items()}
        return created
