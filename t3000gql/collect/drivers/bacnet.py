"""BACnet/IP driver (BAC0 2026 on bacpypes3): presentValue of the object matching each point, by readMultiple.

INPUT n → analogInput n, OUTPUT n → analogOutput n, VARIABLE n → analogValue n; digital points use the binary
objects of the same kinds (active = 1.0, inactive = 0.0).

One BAC0 application (`BacnetApplication`) is shared by every BACnet device a driver manager talks to: a
BACnet/IP node is one UDP socket and one device object, and BAC0 keeps process-wide state (its task list, the
IP addresses in use), so one instance per process is what it is built for. It is started lazily inside the
running loop on the first request (BAC0 needs the loop, and sleeps ~1 s while starting).

BAC0 reports many failures by logging and returning None or an empty list rather than raising; every call is
checked here and turned into DeviceError / DeviceTimeout.

A readMultiple answer carries an error per object the device cannot read (bacpypes3 devices answer so): that
point fails alone. A device that refuses the whole request instead (some do for one unknown object) has the
batch split in halves until the points it refuses stand alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import socket
from collections.abc import Sequence
from typing import Any

import BAC0
from BAC0.core.io.IOExceptions import NoResponseFromController

from t3000gql.collect.drivers.bac0_compat import write_and_wait
from t3000gql.collect.drivers.base import Driver, PointSpec, ReadResult
from t3000gql.collect.drivers.retry import RetryPolicy, retrying
from t3000gql.domain.commands import CommandState
from t3000gql.domain.points import PointType
from t3000gql.errors import DeviceError, DeviceTimeout, ValidationError

log = logging.getLogger(__name__)

DEFAULT_PORT = 47808
DEFAULT_CLIENT_DEVICE_ID = 4194000  # our own BACnet device instance; configurable per application
WRITE_PRIORITY = 8  # "manual operator", what a person writing from a front end is (BACNET_WRITE_PRIORITY)
# (point type, digital) -> BAC0's request name of the object type, and how bacpypes3 prints it in results
OBJECT_TYPES: dict[tuple[PointType, bool], tuple[str, str]] = {
    (PointType.INPUT, False): ("analogInput", "analog-input"),
    (PointType.OUTPUT, False): ("analogOutput", "analog-output"),
    (PointType.VARIABLE, False): ("analogValue", "analog-value"),
    (PointType.INPUT, True): ("binaryInput", "binary-input"),
    (PointType.OUTPUT, True): ("binaryOutput", "binary-output"),
    (PointType.VARIABLE, True): ("binaryValue", "binary-value"),
}


class _NoAnswer(Exception):
    """An attempt got no answer in time; worth retrying."""


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that was free a moment ago (BAC0 cannot bind port 0: it treats 0 as "use 47808")."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def object_for(point: PointSpec) -> tuple[str, str]:
    """(request name, result key) of the object holding a point, e.g. ("analogInput", "analog-input")."""
    names = OBJECT_TYPES.get((point.ref.point_type, point.digital))
    if names is None:
        raise ValidationError(
            f"BACnet devices serve OUTPUT, INPUT and VARIABLE points, not {point.ref.point_type.name}",
            field="point_type",
            value=point.ref.point_type.name,
        )
    return names


class BacnetApplication:
    """Our BACnet/IP node: one BAC0 `Lite` instance, started on first use, shared by BACnet drivers.

    `local_address` is BAC0's "ip/mask:port". When it is not given, a device on loopback gets us a free port
    on 127.0.0.1 (tests, simulators); anything else lets BAC0 pick the host's interface, on port 47808.
    """

    def __init__(self, *, local_address: str | None = None, device_id: int = DEFAULT_CLIENT_DEVICE_ID) -> None:
        self.local_address = local_address
        self.device_id = device_id
        self._lite: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    async def lite(self, target_host: str) -> Any:
        """The running BAC0 instance (typed Any: BAC0 ships no type hints)."""
        async with self._lock:
            if self._lite is None:
                BAC0.log_level("error", log_this=False)
                address = self.local_address or _local_address_for(target_host)
                try:
                    lite = BAC0.start(ip=address, deviceId=self.device_id)
                    self._lite = await self._stack.enter_async_context(lite)
                except Exception as exc:  # BAC0's InitializationError, OSError from the socket...
                    raise DeviceError(f"cannot start our BACnet application on {address}: {exc!r}") from exc
                log.info("BACnet application %s started on %s", self.device_id, address or "the default interface")
            return self._lite

    async def close(self) -> None:
        async with self._lock:
            self._lite = None
            await self._stack.aclose()


def _local_address_for(target_host: str) -> str | None:
    try:
        loopback = ipaddress.ip_address(target_host).is_loopback
    except ValueError:
        loopback = target_host == "localhost"
    return f"127.0.0.1/8:{free_udp_port()}" if loopback else None


class BacnetDriver(Driver):
    """Reads presentValues of one BACnet device at `host:port` in readMultiple batches of `batch_size`."""

    def __init__(
        self,
        application: BacnetApplication,
        host: str,
        port: int,
        policy: RetryPolicy,
        *,
        batch_size: int,
        owns_application: bool = False,
    ) -> None:
        self.application = application
        self.host = host
        self.address = f"{host}:{port}"
        self.policy = policy
        self.batch_size = batch_size
        self.requests_sent = 0
        self._owns_application = owns_application

    async def read_points(self, points: Sequence[PointSpec]) -> ReadResult:
        """Raises DeviceError only when our own BACnet application cannot start (nothing was asked)."""
        result = ReadResult()
        named: list[tuple[PointSpec, str, str]] = []
        for point in points:
            try:
                named.append((point, *object_for(point)))
            except ValidationError as exc:  # a point type BACnet devices do not serve: it fails before any I/O
                result.errors[point.ref] = exc
        if not named:
            return result
        await self.application.lite(self.host)
        try:
            for first in range(0, len(named), self.batch_size):
                await self._read_batch(named[first : first + self.batch_size], result)
        except DeviceTimeout as exc:
            result.stop([point for point, _, _ in named], exc)
        return result

    async def _read_batch(self, batch: list[tuple[PointSpec, str, str]], result: ReadResult) -> None:
        objects = {f"{request}:{p.ref.point_number}": ["presentValue"] for p, request, _ in batch}
        try:
            answer = await self._read_multiple(objects)
        except DeviceTimeout:
            raise
        except DeviceError as exc:
            result.answered = True
            if len(batch) == 1:
                result.errors[batch[0][0].ref] = exc
                return
            half = len(batch) // 2  # the device refused the whole request: find the objects it refuses
            await self._read_batch(batch[:half], result)
            await self._read_batch(batch[half:], result)
            return
        result.answered = True
        for point, _, key in batch:
            try:
                result.values[point.ref] = self._value_of(answer, f"{key},{point.ref.point_number}", point.digital)
            except DeviceError as exc:
                result.errors[point.ref] = exc

    async def write_point(self, point: PointSpec, value: float, *, priority: int | None = None) -> None:
        request, _ = object_for(point)
        if not math.isfinite(value):
            raise ValidationError("must be a finite number", field="value", value=value)
        text = ("active" if value else "inactive") if point.digital else repr(float(value))
        await self._write_present_value(point, request, text, priority)

    async def release_point(self, point: PointSpec, *, priority: int | None = None) -> None:
        """Relinquishes our command: NULL at that priority, so the next one down (or relinquishDefault) rules."""
        request, _ = object_for(point)
        if point.ref.point_type == PointType.INPUT:
            raise ValidationError(
                f"point {point.ref} is a BACnet input: it has no priority array to release",
                field="point_type",
                value=point.ref.point_type.name,
            )
        await self._write_present_value(point, request, "null", priority)

    async def read_command_state(self, point: PointSpec) -> CommandState | None:
        """The 16 slots of the priority array and relinquishDefault; None for inputs (not commandable)."""
        request, key = object_for(point)
        if point.ref.point_type == PointType.INPUT:
            return None
        number = point.ref.point_number
        result = await self._read_multiple({f"{request}:{number}": ["priorityArray", "relinquishDefault"]})
        found = {str(prop): value for prop, value in result.get(f"{key},{number}", ())}
        slots = found.get("priority-array")
        if not isinstance(slots, list) or len(slots) != 16:
            raise DeviceError(f"BACnet device {self.address} has no priorityArray for {key},{number} ({slots!r})")
        default = found.get("relinquish-default")
        return CommandState(
            priority_array=tuple(_priority_value(slot, point.digital) for slot in slots),
            relinquish_default=None if default is None else _plain_value(default, point.digital),
        )

    async def _write_present_value(self, point: PointSpec, request: str, text: str, priority: int | None) -> None:
        # Inputs are not commandable (no priority array): their presentValue is written without a priority.
        level = "" if point.ref.point_type == PointType.INPUT else f" - {priority or WRITE_PRIORITY}"
        args = f"{self.address} {request} {point.ref.point_number} presentValue {text}{level}"
        lite = await self.application.lite(self.host)

        async def attempt() -> Any:
            self.requests_sent += 1
            try:
                return await asyncio.wait_for(write_and_wait(lite, args), self.policy.timeout)
            except (TimeoutError, NoResponseFromController) as exc:
                if "no-response" in str(exc) or isinstance(exc, TimeoutError):
                    raise _NoAnswer(repr(exc)) from exc
                raise DeviceError(f"{self.address} refused writing {args!r}: {exc}") from exc
            except Exception as exc:  # BAC0 raises bare ValueError, UnboundLocalError... on a refused write
                raise DeviceError(f"{self.address} refused writing {args!r}: {exc!r}") from exc

        try:
            await retrying(attempt, self.policy, retry_on=(_NoAnswer,))
        except _NoAnswer as exc:
            raise DeviceTimeout(f"{self.address} did not acknowledge writing {args!r}: {exc}") from exc

    async def close(self) -> None:
        if self._owns_application:
            await self.application.close()

    async def _read_multiple(self, objects: dict[str, list[str]]) -> dict[str, Any]:
        lite = await self.application.lite(self.host)
        request = {"address": self.address, "objects": objects}

        async def attempt() -> Any:
            self.requests_sent += 1
            try:
                return await asyncio.wait_for(lite.readMultiple("", request_dict=request), self.policy.timeout)
            # IndexError: BAC0 indexes the empty list of I-Am answers when the device is silent.
            except (TimeoutError, NoResponseFromController, IndexError) as exc:
                raise _NoAnswer(repr(exc)) from exc
            except Exception as exc:  # UnknownObjectError, SegmentationNotSupported, UnrecognizedService...
                raise DeviceError(
                    f"{self.address} refused readMultiple of {len(objects)} objects: {exc!r}"
                ) from exc

        try:
            result = await retrying(attempt, self.policy, retry_on=(_NoAnswer,))
        except _NoAnswer as exc:
            raise DeviceTimeout(
                f"BACnet device {self.address} did not answer readMultiple within {self.policy.timeout:g} s "
                f"({self.policy.retries + 1} attempts; last: {exc})"
            ) from exc
        if not isinstance(result, dict):
            raise DeviceError(f"BACnet device {self.address} returned no values for readMultiple ({result!r})")
        return result

    def _value_of(self, result: dict[str, Any], key: str, digital: bool) -> float:
        properties = dict(result.get(key, ()))
        value = next(iter(properties.values()), None) if properties else None
        if value is None or hasattr(value, "errorCode"):
            reason = f"{value.errorClass}/{value.errorCode}" if value is not None else "no value"
            raise DeviceError(f"BACnet device {self.address} has no presentValue for {key} ({reason})")
        if digital:
            return 1.0 if str(value) == "active" else 0.0
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise DeviceError(f"BACnet device {self.address}: presentValue of {key} is {value!r}") from exc


def _plain_value(value: Any, digital: bool) -> float:
    """A presentValue-like BACnet value as a float (binary: active 1.0, inactive 0.0)."""
    text = str(value)
    if digital or text in ("active", "inactive"):
        return 1.0 if text in ("active", "1") else 0.0
    return float(value)


def _priority_value(slot: Any, digital: bool) -> float | None:
    """One slot of a priority array (bacpypes3's PriorityValue, a choice): None when it is NULL."""
    contents = slot.dict_contents()
    if "null" in contents or not contents:
        return None
    return _plain_value(next(iter(contents.values())), digital)
