#!/usr/bin/env python3
"""Runs a simulated BACnet/IP device (analog and binary inputs, outputs and values) until Ctrl-C.

    python scripts/bacnet_sim.py --port 47809 --device-id 1001

Without --port a free UDP port is taken; the bound address is printed on the first line of output. Clients
reach it by unicast (Who-Is broadcasts do not work on loopback). Values can be written with WriteProperty.
The logic lives in `t3000gql.collect.simulators.bacnet` so tests use the same simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from t3000gql.domain.points import PointType


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="UDP port (default: a free one)")
    parser.add_argument("--device-id", type=int, default=1001, help="BACnet device instance (default: 1001)")
    parser.add_argument(
        "--analog", type=int, default=8, help="analog inputs, outputs and values each (default: 8)"
    )
    parser.add_argument(
        "--binary", type=int, default=4, help="binary inputs, outputs and values each (default: 4)"
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    # Imported here so `--help` answers without loading BAC0 (slow, and it writes ~/.BAC0/BAC0.log).
    from t3000gql.collect.simulators.bacnet import BacnetSimulator

    kinds = (PointType.INPUT, PointType.OUTPUT, PointType.VARIABLE)
    simulator = BacnetSimulator(
        host=args.host,
        port=args.port,
        device_id=args.device_id,
        analog=dict.fromkeys(kinds, args.analog),
        binary=dict.fromkeys(kinds, args.binary),
    )
    async with simulator as sim:
        print(f"BACnet simulator: device {sim.device_id} on {sim.address}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
