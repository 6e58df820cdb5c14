"""Where protocol stacks may be imported, and that the simulator scripts run by hand."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from t3000gql.collect.drivers import DeviceConnection, PointSpec, open_driver
from t3000gql.config import Settings
from t3000gql.domain.points import PointRef, PointType

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "t3000gql"
ALLOWED = (PACKAGE / "collect" / "drivers", PACKAGE / "collect" / "simulators")
PROTOCOL_IMPORT = re.compile(r"^\s*(from|import)\s+(pymodbus|BAC0|bacpypes3)\b", re.MULTILINE)


def test_only_drivers_and_simulators_import_protocol_stacks() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if not any(path.is_relative_to(allowed) for allowed in ALLOWED)
        and PROTOCOL_IMPORT.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_importing_the_driver_package_loads_no_protocol_stack() -> None:
    code = (
        "import sys, t3000gql.collect.drivers, t3000gql.collect.simulators; "
        "print(sorted(m for m in ('pymodbus', 'BAC0', 'bacpypes3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("script", ["t3_modbus_sim.py", "bacnet_sim.py"])
def test_simulator_scripts_have_help(script: str) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "--port" in out.stdout and "--host" in out.stdout


async def test_t3_modbus_script_serves_on_the_port_it_prints() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts" / "t3_modbus_sim.py"),
        "--units",
        "4,5",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=30)).decode()
        match = re.search(r"on 127\.0\.0\.1:(\d+)", line)
        assert match, line
        conn = DeviceConnection("modbus", "127.0.0.1", int(match.group(1)), unit_id=5)
        async with open_driver(conn, Settings.defaults(t3000_interface_timeout_ms=2000)) as driver:
            values = (
                await driver.read_points([PointSpec(PointRef(5, PointType.OUTPUT, n)) for n in range(1, 65)])
            ).values
        assert len(values) == 64
        assert all(0 <= value <= 100 for value in values.values())
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)
