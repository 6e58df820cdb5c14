"""Modbus TCP driver (pymodbus 3.16): the T3-BB register map and generic per-point register maps.

Points are grouped into blocks of contiguous registers of one function (at most 125 registers and
T3000_BULK_REQUEST_SIZE points), so the 256 values of a T3 take 7 requests instead of 256. One TCP connection
(`ModbusLink`) serves every unit id behind a (host, port) - a gateway, or a T3 with sub-devices - with a
lock, because in practice a Modbus TCP server answers one request at a time per connection.

pymodbus' own retry and reconnect machinery is switched off (`retries=0`, `reconnect_delay=0`): we retry with
our policy and open a fresh connection after any failure, which also discards late answers to timed-out
requests instead of matching them to the next request.

An exception response is an answer: the device is online and the error belongs to the points of that request.
Two exceptions are the exception: 10 and 11 come from a gateway that could not reach the device behind it, so
they count as no answer (retried, then DeviceTimeout). A block refused with exception 2 (illegal data address)
is split in halves until the points whose registers the device lacks are found; that finding is kept (and
those points are left out of later requests, answered with the same error) until the point changes
(`PointSpec.revision`) or the device does (a new driver).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from t3000gql.collect.drivers import t3_registers
from t3000gql.collect.drivers.base import (
    Driver,
    PointSpec,
    ReadResult,
    RegisterFunction,
    RegisterMap,
)
from t3000gql.collect.drivers.retry import RetryPolicy, retrying
from t3000gql.domain.commands import CommandState
from t3000gql.domain.points import PointRef
from t3000gql.errors import DeviceError, DeviceTimeout, ValidationError

log = logging.getLogger(__name__)

MAX_REGISTERS_PER_READ = 125  # the Modbus limit of FC03/FC04
FUNCTION_CODES: dict[RegisterFunction, int] = {"holding": 3, "input": 4}
FUNCTION_NAMES = {3: "read holding registers", 4: "read input registers", 16: "write multiple registers"}
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}
ILLEGAL_DATA_ADDRESS = 2
GATEWAY_NO_ANSWER = frozenset({10, 11})
"""Exceptions a gateway answers for the device behind it when that device did not answer."""


class _NoAnswer(Exception):
    """One attempt got no usable answer (timeout, refused or lost connection); worth retrying."""


class ModbusRefusal(DeviceError):
    """The device answered a request with a Modbus exception (`exception_code`, None if it gave none)."""

    def __init__(self, message: str, exception_code: int | None) -> None:
        super().__init__(message)
        self.exception_code = exception_code


def _exception_name(code: int | None) -> str:
    return EXCEPTION_NAMES.get(code, "unknown exception") if code is not None else "error"


class ModbusLink:
    """One Modbus TCP connection to (host, port), shared by all unit ids on it; reconnects after failures."""

    def __init__(self, host: str, port: int, policy: RetryPolicy) -> None:
        self.host = host
        self.port = port
        self.policy = policy
        self.requests_sent = 0  # requests put on the wire, retries included: what tests and metrics count
        self.connects = 0
        self._client: AsyncModbusTcpClient | None = None
        self._lost = asyncio.Event()  # set when the current connection closes
        self._lock = asyncio.Lock()

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    async def read_registers(
        self, unit_id: int, function: RegisterFunction, address: int, count: int
    ) -> list[int]:
        code = FUNCTION_CODES[function]

        def send(client: AsyncModbusTcpClient) -> Awaitable[ModbusPDU]:
            if function == "holding":
                return client.read_holding_registers(address, count=count, device_id=unit_id)
            return client.read_input_registers(address, count=count, device_id=unit_id)

        response = await self._request(unit_id, code, address, count, send)
        registers = list(response.registers)
        if len(registers) < count:
            raise DeviceError(
                f"unit {unit_id} at {self} answered {len(registers)} registers to a read of {count} "
                f"at address {address}"
            )
        return registers[:count]

    async def write_registers(self, unit_id: int, address: int, values: Sequence[int]) -> None:
        def send(client: AsyncModbusTcpClient) -> Awaitable[ModbusPDU]:
            return client.write_registers(address, list(values), device_id=unit_id)

        await self._request(unit_id, 16, address, len(values), send)

    async def close(self) -> None:
        async with self._lock:
            self._disconnect()

    async def _request(
        self,
        unit_id: int,
        code: int,
        address: int,
        count: int,
        send: Callable[[AsyncModbusTcpClient], Awaitable[ModbusPDU]],
    ) -> ModbusPDU:
        async def attempt() -> ModbusPDU:
            async with self._lock:
                client = await self._connected()
                self.requests_sent += 1
                try:
                    response = await self._answer(send(client))
                except (TimeoutError, ModbusException, OSError) as exc:
                    self._disconnect()
                    raise _NoAnswer(f"{type(exc).__name__}: {exc}") from exc
            gateway_code = _exception_code(response)
            if response.isError() and gateway_code in GATEWAY_NO_ANSWER:
                raise _NoAnswer(f"Modbus exception {gateway_code} ({_exception_name(gateway_code)})")
            return response

        what = f"{FUNCTION_NAMES[code]} (function {code}) at address {address}, count {count}"
        try:
            response = await retrying(attempt, self.policy, retry_on=(_NoAnswer,))
        except _NoAnswer as exc:
            raise DeviceTimeout(
                f"unit {unit_id} at {self} did not answer {what} within {self.policy.timeout:g} s "
                f"({self.policy.retries + 1} attempts; last: {exc})"
            ) from exc
        if response.isError():
            exception_code = _exception_code(response)
            raise ModbusRefusal(
                f"unit {unit_id} at {self} refused {what}: Modbus exception {exception_code} "
                f"({_exception_name(exception_code)})",
                exception_code,
            )
        return response

    async def _answer(self, request: Awaitable[ModbusPDU]) -> ModbusPDU:
        """The response, or TimeoutError; ConnectionError at once when the device closes the connection.

        pymodbus leaves a request waiting for its full timeout when the connection drops under it (a
        controller rebooting); watching the connection through its `trace_connect` hook makes that immediate.
        """
        answer = asyncio.ensure_future(request)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait(
                {answer, lost}, timeout=self.policy.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost.cancel()
            answer.cancel()
            await asyncio.gather(answer, lost, return_exceptions=True)
        if answer in done:
            return answer.result()
        if lost in done:
            raise ConnectionError("the device closed the connection")
        raise TimeoutError(f"no answer within {self.policy.timeout:g} s")

    async def _connected(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._disconnect()
        lost = self._lost = asyncio.Event()
        client = AsyncModbusTcpClient(
            self.host,
            port=self.port,
            timeout=self.policy.timeout,
            retries=0,
            reconnect_delay=0,
            trace_connect=lambda connected: None if connected else lost.set(),
        )
        try:
            connected = await asyncio.wait_for(client.connect(), self.policy.timeout)
        except (TimeoutError, OSError) as exc:
            client.close()
            raise _NoAnswer(f"cannot connect: {exc!r}") from exc
        if not connected:
            client.close()
            raise _NoAnswer("cannot connect (refused or unreachable)")
        self.connects += 1
        self._client = client
        return client

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _exception_code(response: ModbusPDU) -> int | None:
    code = getattr(response, "exception_code", None)
    return code if isinstance(code, int) else None


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: `count` registers of one function from `start`, and the points they hold."""

    function: RegisterFunction
    start: int
    count: int
    members: tuple[tuple[PointSpec, RegisterMap], ...]


def register_map_for(point: PointSpec) -> RegisterMap:
    """The point's own map, else the T3-BB map of its type and number."""
    if point.register_map is not None:
        return point.register_map
    return t3_registers.register_map(point.ref.point_type, point.ref.point_number)


def plan_reads(
    points: Sequence[PointSpec],
    *,
    max_registers: int = MAX_REGISTERS_PER_READ,
    max_points: int = 100,
) -> list[ReadBlock]:
    """Groups points into as few requests as the limits allow; only contiguous or overlapping registers join.

    Gaps are not bridged: a register between two points may not exist on a generic device, and reading it
    would fail the whole block with "illegal data address".
    """
    return plan_blocks([(point, register_map_for(point)) for point in points], max_registers, max_points)


def plan_blocks(
    mapped: Sequence[tuple[PointSpec, RegisterMap]], max_registers: int, max_points: int
) -> list[ReadBlock]:
    """`plan_reads` of points whose register maps are known already."""
    blocks: list[ReadBlock] = []
    for function in FUNCTION_CODES:
        ordered = sorted(
            (item for item in mapped if item[1].function == function), key=lambda item: item[1].register
        )
        members: list[tuple[PointSpec, RegisterMap]] = []
        start = end = 0
        for point, rmap in ordered:
            rmap_end = rmap.register + rmap.count
            joins = (
                members
                and rmap.register <= end
                and max(end, rmap_end) - start <= max_registers
                and len(members) < max_points
            )
            if not joins:
                if members:
                    blocks.append(ReadBlock(function, start, end - start, tuple(members)))
                members, start, end = [], rmap.register, rmap_end
            members.append((point, rmap))
            end = max(end, rmap_end)
        if members:
            blocks.append(ReadBlock(function, start, end - start, tuple(members)))
    return blocks


class ModbusDriver(Driver):
    """The driver of one unit id on a link; several drivers may share one link."""

    def __init__(self, link: ModbusLink, unit_id: int, *, bulk_size: int, owns_link: bool = False) -> None:
        self.link = link
        self.unit_id = unit_id
        self.bulk_size = bulk_size
        self._owns_link = owns_link
        self._lacking: dict[PointRef, tuple[PointSpec, ModbusRefusal]] = {}
        """Points whose registers the device lacks (it answered exception 2 to them alone), as they were then."""

    def lacking(self) -> dict[PointRef, ModbusRefusal]:
        """Points this driver no longer asks for, because the device answered that it lacks their registers."""
        return {ref: error for ref, (_, error) in self._lacking.items()}

    async def read_points(self, points: Sequence[PointSpec]) -> ReadResult:
        result = ReadResult()
        asked: list[tuple[PointSpec, RegisterMap]] = []
        lacking = self._lacking
        for point in points:
            if lacking:
                known = lacking.get(point.ref)
                if known is not None and known[0] == point:
                    result.errors[point.ref] = known[1]  # found before: not asked again
                    continue
                lacking.pop(point.ref, None)  # the point changed since: ask again
            try:
                asked.append((point, register_map_for(point)))
            except ValidationError as exc:  # not a point a T3 has: that point fails, before any I/O
                result.errors[point.ref] = exc
        requests = self.link.requests_sent
        try:
            for block in plan_blocks(asked, MAX_REGISTERS_PER_READ, self.bulk_size):
                await self._read_block(block, result)
        except DeviceTimeout as exc:
            result.stop([point for point, _ in asked], exc)
        log.debug(
            "read %s of %s points from unit %s at %s in %s requests",
            len(result.values),
            len(points),
            self.unit_id,
            self.link,
            self.link.requests_sent - requests,
        )
        return result

    async def _read_block(self, block: ReadBlock, result: ReadResult) -> None:
        """Reads one block into `result`; a block refused with "illegal data address" is split in halves
        (each read as its own blocks) until the points the device lacks stand alone."""
        members = [point for point, _ in block.members]
        try:
            registers = await self.link.read_registers(self.unit_id, block.function, block.start, block.count)
        except DeviceTimeout:
            raise
        except DeviceError as exc:
            result.answered = True
            if not isinstance(exc, ModbusRefusal) or exc.exception_code != ILLEGAL_DATA_ADDRESS:
                for point in members:  # the whole request was refused, not one register in it
                    result.errors[point.ref] = exc
                return
            if len(members) == 1:
                self._lacking[members[0].ref] = (members[0], exc)
                result.errors[members[0].ref] = exc
                log.info(
                    "unit %s at %s lacks the registers of %s: %s", self.unit_id, self.link, members[0].ref, exc
                )
                return
            half = len(members) // 2
            for part in (members[:half], members[half:]):
                for sub_block in plan_reads(part, max_points=self.bulk_size):
                    await self._read_block(sub_block, result)
            return
        result.answered = True
        for point, rmap in block.members:
            offset = rmap.register - block.start
            value = rmap.decode(registers[offset : offset + rmap.count])
            result.values[point.ref] = (1.0 if value else 0.0) if point.digital else value

    async def write_point(self, point: PointSpec, value: float, *, priority: int | None = None) -> None:
        """A T3 point in auto is switched to manual first, so its program does not overwrite the value (and back
        to auto when the device refuses the value); a point with a register map of its own gets just the value."""
        rmap = register_map_for(point)
        if rmap.function != "holding":
            raise ValidationError(
                "input registers are read-only; only holding registers can be written",
                field="function",
                value=rmap.function,
            )
        if point.digital:
            value = 1.0 if value else 0.0
        registers = rmap.encode(value)  # a value the type cannot hold fails before anything is sent
        if point.register_map is not None:
            await self.link.write_registers(self.unit_id, rmap.register, registers)
            return
        switch = t3_registers.auto_manual_register(point.ref.point_type, point.ref.point_number)
        [state] = await self.link.read_registers(self.unit_id, "holding", switch, 1)
        if state != t3_registers.MANUAL:
            await self.link.write_registers(self.unit_id, switch, [t3_registers.MANUAL])
        try:
            await self.link.write_registers(self.unit_id, rmap.register, registers)
        except DeviceError:
            if state != t3_registers.MANUAL:
                with contextlib.suppress(DeviceError):  # the value's refusal is what the caller must hear
                    await self.link.write_registers(self.unit_id, switch, [state])
            raise

    async def release_point(self, point: PointSpec, *, priority: int | None = None) -> None:
        """A T3 point goes back to auto: its program sets the value again."""
        if point.register_map is not None:
            await super().release_point(point, priority=priority)
        switch = t3_registers.auto_manual_register(point.ref.point_type, point.ref.point_number)
        await self.link.write_registers(self.unit_id, switch, [t3_registers.AUTO])

    async def read_command_state(self, point: PointSpec) -> CommandState | None:
        if point.register_map is not None:
            return None
        switch = t3_registers.auto_manual_register(point.ref.point_type, point.ref.point_number)
        [state] = await self.link.read_registers(self.unit_id, "holding", switch, 1)
        return CommandState(manual=state == t3_registers.MANUAL)

    async def close(self) -> None:
        if self._owns_link:
            await self.link.close()
