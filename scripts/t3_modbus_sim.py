#!/usr/bin/env python3
"""Runs a simulated T3-BB controller (one or more Modbus unit ids) on Modbus TCP until Ctrl-C.

    python scripts/t3_modbus_sim.py --units 1,2 --port 1502

Port 0 (the default) takes a free port; the bound address is printed on the first line of output.
The logic lives in `t3000gql.collect.simulators.t3_modbus` so tests use the same simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from t3000gql.collect.simulators.t3_modbus import T3ModbusSimulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default: 0)")
    parser.add_argument("--units", default="1", help="comma-separated Modbus unit ids (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated waveforms (default: 0)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between input updates (default: 1)")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    units = [int(unit) for unit in args.units.split(",") if unit.strip()]
    async with T3ModbusSimulator(
        units, args.host, args.port, seed=args.seed, update_interval=args.interval
    ) as sim:
        print(f"T3 Modbus simulator: units {units} on {sim.host}:{sim.port}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
