"""The station simulator script: runs by hand, serves each station at its own path, counts what it sent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
from station_sim import StationSimulator
from websockets.asyncio.client import connect

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "station_sim.py"


def test_script_has_help() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--port" in out.stdout and "--host" in out.stdout and "--stations" in out.stdout


async def test_sends_readings_and_counts_them() -> None:
    async with StationSimulator(["A b", "C"], rate_hz=500, max_readings=5) as sim:
        assert sim.port != 0 and sim.url("A b").endswith("/A%20b")
        async with connect(sim.url("A b"), proxy=None) as ws:
            messages = [orjson.loads(await ws.recv()) for _ in range(5)]
        assert [m["seq"] for m in messages] == [1, 2, 3, 4, 5]
        assert all(m["station"] == "A b" and m["type"] == "reading" for m in messages)
        stamps = [m["timestamp"] for m in messages]
        assert stamps == sorted(set(stamps))
        assert [m["muxPower1"] for m in messages] == sorted(m["muxPower1"] for m in messages)
        assert sim.sent == {"A b": 5, "C": 0} and sim.total_sent == 5
