"""A T3-BB controller on Modbus TCP for tests and demos: pymodbus' SimDevice server holding the T3 map.

Several unit ids live in one process (one `SimDevice` each, one TCP port), as behind a gateway. Inputs
follow the simulated driver's waveforms and are refreshed by a background task; outputs and variables keep
what they are given. A value set with `set_value` or written by a client (FC06/FC16) is pinned: the
animation leaves it alone.

Built on `pymodbus.simulator` (SimData/SimDevice) and `pymodbus.server.ModbusTcpServer`, the non-deprecated
API of pymodbus 3.16. Registers change through the server's public `async_setValues`, requests are counted
in the server's `trace_pdu` hook, and `pause()` drops outgoing answers in its `trace_packet` hook: a paused
simulator keeps its sockets open and reads the requests, like a controller that hangs, and clients time out.

Faults of a device that answers, for tests of partial failures: `remove_registers` / `remove_point` make
registers missing (any client request touching one is answered with exception 2, illegal data address, as a
controller without that object would), and `refuse_writes` refuses client writes to chosen points (exception 2
by default, what pymodbus answers for its own read-only registers); `lose_unit` answers everything for a unit
with exception 11, as a gateway whose device behind it is silent. All are checked in the SimDevice `action`
hook, for client requests only: the simulator's own `set_value` / `registers` still reach every register.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Sequence
from types import TracebackType

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from t3000gql.collect.drivers import t3_registers
from t3000gql.collect.drivers.simulated import Clock, waveform_value
from t3000gql.domain.points import T3_POINT_COUNTS, PointRef, PointType
from t3000gql.lifecycle import cancel_and_wait

log = logging.getLogger(__name__)

# The T3-BB map (docs/t3000.md) ends at register 33489: all of it is defined, so every T3 register exists.
# (With one shared register table, reads past the defined registers were seen to wrap around; with separate
# register tables, pymodbus 3.16.1 answers exception 2 there, as tests/collect/test_modbus_driver.py checks.)
HOLDING_REGISTERS = 33500
INPUT_REGISTERS = 1000  # only for generic register maps with function "input"
FC_READ_HOLDING, FC_READ_INPUT, FC_WRITE_SINGLE, FC_WRITE_MULTIPLE = 3, 4, 6, 16
TABLE_OF = {
    FC_READ_HOLDING: "holding",
    FC_WRITE_SINGLE: "holding",
    FC_WRITE_MULTIPLE: "holding",
    FC_READ_INPUT: "input",
}
REG_MODBUS_ADDRESS, REG_PANEL_NUMBER, REG_TCP_PORT = 6, 36, 120
ANIMATED = (PointType.INPUT,)


class T3ModbusSimulator:
    """`async with T3ModbusSimulator(units=[1, 2], port=0) as sim:` then connect to `sim.host`, `sim.port`."""

    def __init__(
        self,
        units: Sequence[int] = (1,),
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        update_interval: float | None = 1.0,
        clock: Clock = time.time,
    ) -> None:
        self.units = tuple(units)
        self.host = host
        self.port = port
        self.seed = seed
        self.update_interval = update_interval
        self.clock = clock
        self.requests: Counter[int] = Counter()  # function code -> requests received
        self.paused = False
        self.dropped_answers = 0
        self._pinned: set[tuple[int, int]] = set()  # (unit, value register) the animation must not touch
        self._missing: set[tuple[int, str, int]] = set()  # (unit, "holding"/"input", register) it lacks
        self._write_refusals: dict[tuple[int, int], ExcCodes] = {}  # (unit, holding register) -> its answer
        self._lost_units: set[int] = set()
        self.refused = 0
        """Client requests answered with an exception because of `remove_*` or `refuse_writes`."""
        self._animating = False
        self._internal = False  # set while the simulator itself reads or writes its registers
        self._updated = asyncio.Event()
        self._server: ModbusTcpServer | None = None
        self._animation: asyncio.Task[None] | None = None

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    async def start(self) -> None:
        devices = [self._device(unit) for unit in self.units]
        self._server = ModbusTcpServer(
            devices,
            address=(self.host, self.port),
            trace_pdu=self._trace_pdu,
            trace_packet=self._trace_packet,
        )
        await self._server.serve_forever(background=True)
        listener = self._server.transport
        self.port = int(listener.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        for unit in self.units:
            await self.set_registers(unit, REG_TCP_PORT, [self.port], pin=False)
        if self.update_interval:
            self._animation = asyncio.create_task(self._animate(self.update_interval), name="t3-sim-animation")
        log.info("T3 Modbus simulator for units %s listening on %s:%s", self.units, self.host, self.port)

    async def stop(self) -> None:
        animation, self._animation = self._animation, None
        await cancel_and_wait(animation)
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def __aenter__(self) -> T3ModbusSimulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def pause(self) -> None:
        """Stop answering (requests are still read and counted); connections stay open."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def disconnect_clients(self) -> None:
        """Closes every client connection, as a controller that reboots would."""
        server = self._running()
        for connection in list(server.active_connections.values()):
            connection.close()

    def remove_registers(self, unit: int, address: int, count: int = 1, *, function: str = "holding") -> None:
        """From now on the device lacks these registers: requests touching one get exception 2."""
        self._missing.update((unit, function, register) for register in range(address, address + count))

    def restore_registers(self, unit: int, address: int, count: int = 1, *, function: str = "holding") -> None:
        self._missing.difference_update((unit, function, register) for register in range(address, address + count))

    def remove_point(self, unit: int, point_type: PointType, number: int) -> None:
        """The device lacks this T3 point (both registers of its value)."""
        self.remove_registers(
            unit, t3_registers.value_register(point_type, number), t3_registers.REGISTERS_PER_VALUE
        )

    def restore_point(self, unit: int, point_type: PointType, number: int) -> None:
        self.restore_registers(
            unit, t3_registers.value_register(point_type, number), t3_registers.REGISTERS_PER_VALUE
        )

    def lose_unit(self, unit: int) -> None:
        """Answer every request to `unit` with exception 11, as a gateway whose device behind it is silent."""
        self._lost_units.add(unit)

    def find_unit(self, unit: int) -> None:
        self._lost_units.discard(unit)

    def refuse_writes(
        self, unit: int, point_type: PointType, number: int, *, answer: ExcCodes = ExcCodes.ILLEGAL_ADDRESS
    ) -> None:
        """Client writes to this T3 point are answered with `answer` (and change nothing); reads still work."""
        address = t3_registers.value_register(point_type, number)
        for register in range(address, address + t3_registers.REGISTERS_PER_VALUE):
            self._write_refusals[(unit, register)] = answer

    async def set_value(self, unit: int, point_type: PointType, number: int, value: float) -> None:
        """Serves `value` (engineering units) for a point from now on, pinned against the animation."""
        address = t3_registers.value_register(point_type, number)
        await self.set_registers(unit, address, t3_registers.encode_value(value))

    async def value(self, unit: int, point_type: PointType, number: int) -> float:
        address = t3_registers.value_register(point_type, number)
        return t3_registers.decode_value(await self.registers(unit, address, 2))

    async def set_registers(
        self, unit: int, address: int, values: Sequence[int], *, function: str = "holding", pin: bool = True
    ) -> None:
        """Raw register values (0..65535); `function="input"` sets input registers (FC04's table)."""
        code = FC_WRITE_MULTIPLE if function == "holding" else FC_READ_INPUT
        # Both flags are read by _on_access, which pymodbus calls synchronously inside this await.
        self._animating, self._internal = not pin, True
        try:
            await self._running().async_setValues(unit, code, address, list(values))
        finally:
            self._animating = self._internal = False

    async def registers(self, unit: int, address: int, count: int, *, function: str = "holding") -> list[int]:
        code = FC_READ_HOLDING if function == "holding" else FC_READ_INPUT
        self._internal = True
        try:
            return [int(v) for v in await self._running().async_getValues(unit, code, address, count)]
        finally:
            self._internal = False

    async def update_once(self) -> None:
        """One animation step: every input that is not pinned takes its waveform value at `clock()`."""
        now = self.clock()
        for unit in self.units:
            for point_type in ANIMATED:
                for number in range(1, T3_POINT_COUNTS[point_type] + 1):
                    address = t3_registers.value_register(point_type, number)
                    if (unit, address) in self._pinned:
                        continue
                    value = waveform_value(self.seed, PointRef(unit, point_type, number), now)
                    await self.set_registers(unit, address, t3_registers.encode_value(value), pin=False)
        self._updated.set()

    async def next_update(self) -> None:
        """Returns after the next animation step: what a test waits on instead of sleeping."""
        self._updated.clear()
        await self._updated.wait()

    def _running(self) -> ModbusTcpServer:
        if self._server is None:
            raise RuntimeError("the simulator is not running: use `async with` or start()")
        return self._server

    async def _animate(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.update_once()

    def _device(self, unit: int) -> SimDevice:
        holding = [0] * HOLDING_REGISTERS
        holding[REG_MODBUS_ADDRESS] = unit
        holding[REG_PANEL_NUMBER] = unit
        now = self.clock()
        for point_type, count in T3_POINT_COUNTS.items():
            for number in range(1, count + 1):
                address = t3_registers.value_register(point_type, number)
                value = waveform_value(self.seed, PointRef(unit, point_type, number), now)
                holding[address : address + 2] = t3_registers.encode_value(value)
        # Separate tables (not pymodbus' shared mode), so FC04 reads input registers, not the holding ones.
        bits = [SimData(0, values=0, datatype=DataType.BITS)]
        return SimDevice(
            id=unit,
            simdata=(
                bits,
                [SimData(0, values=0, datatype=DataType.BITS)],
                [SimData(0, values=holding, datatype=DataType.REGISTERS)],
                [SimData(0, count=INPUT_REGISTERS, values=0, datatype=DataType.REGISTERS)],
            ),
            action=functools.partial(self._on_access, unit),
        )

    async def _on_access(
        self,
        unit: int,
        function_code: int,
        _start_address: int,
        address: int,
        count: int,
        _registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Answers client requests that touch a missing register, or write a refused one, with an exception;
        pins every T3 value a write touches (a client's or `set_value`'s), so the animation keeps it."""
        if not self._internal:
            if unit in self._lost_units:
                self.refused += 1
                return ExcCodes.GATEWAY_NO_RESPONSE
            table = TABLE_OF.get(function_code)
            touched = range(address, address + count)
            if any((unit, table, register) in self._missing for register in touched):
                self.refused += 1
                return ExcCodes.ILLEGAL_ADDRESS
            if set_values is not None and table == "holding":
                answers = [answer for r in touched if (answer := self._write_refusals.get((unit, r))) is not None]
                if answers:
                    self.refused += 1
                    return answers[0]
        if set_values is None or self._animating or function_code not in (FC_WRITE_SINGLE, FC_WRITE_MULTIPLE):
            return None
        for register in range(address - 1, address + count):
            self._pinned.add((unit, register))
        return None

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            self.requests[pdu.function_code] += 1
        return pdu

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending and self.paused:
            self.dropped_answers += 1
            return b""
        return data
