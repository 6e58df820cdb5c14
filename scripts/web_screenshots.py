#!/usr/bin/env python3
"""Takes the screenshots of the pages in docs/ (docs/trend-viewer.png, docs/graphiql.png), reproducibly.

    python scripts/web_screenshots.py [--out docs]

A fresh database gets the demo site with two days of history from the demo's own waveforms (the values the
Modbus simulator would have served), then `t3000gql serve --demo` runs on a free port of 127.0.0.1 and Debian's
chromium (through Playwright) photographs the trend viewer (two points, 24 h: buckets with their min-max band,
then live values) and GraphiQL (a query run, the Examples panel open). Needs the built pages
(scripts/build_web.sh) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib.scenarios.web import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from t3000gql.collect.demo import CONTROLLERS, SEED, register_demo_site  # noqa: E402
from t3000gql.collect.drivers.simulated import waveform_value  # noqa: E402
from t3000gql.config import Settings  # noqa: E402
from t3000gql.domain.points import PointRef  # noqa: E402
from t3000gql.domain.samples import Sample  # noqa: E402
from t3000gql.storage.store import Store  # noqa: E402

HISTORY_SECONDS = 2 * 86400
STEP_SECONDS = 60
QUERY = """query AirHandler {
  device(deviceId: 9001) {
    deviceName
    online
    data {
      cacheStats { totalPoints freshPoints }
      points { pointType pointNumber value stale }
    }
  }
}
"""


@contextlib.contextmanager
def serve_demo(database_url: str) -> Iterator[int]:
    """`t3000gql serve --demo` in its own process on a free port; yields the port once /health answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "TIMEZONE": "Europe/Berlin"}
    command = [str(Path(sys.executable).with_name("t3000gql")), "serve", "--demo"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("t3000gql serve --demo did not start")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


async def seed_history(database_url: str) -> None:
    store = await Store.open(Settings.defaults(database_url=database_url))
    try:
        await register_demo_site(store, port=1)
        now = time.time()
        samples = []
        for controller in CONTROLLERS:
            for point in await store.points.list_for_device(controller.device_id):
                wave = PointRef(controller.unit_id, point.point_type, point.point_number)
                digital = point.data_type == "BOOLEAN"
                for step in range(HISTORY_SECONDS // STEP_SECONDS):
                    t = now - HISTORY_SECONDS + step * STEP_SECONDS
                    value = round(waveform_value(SEED, wave, t, digital=digital), 3)
                    samples.append(Sample(point.ref, int(t * 1000), value))
        await store.writes.record(samples, "import")
    finally:
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNG files go (default: docs)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="t3000gql-shots-") as tmp:
        database_url = f"sqlite:///{tmp}/demo.db"
        asyncio.run(seed_history(database_url))
        with serve_demo(database_url) as port, sync_playwright() as playwright:
            base = f"http://127.0.0.1:{port}"
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 810})
            page.goto(base + "/")
            page.wait_for_selector(".tree-point[data-point='9001:INPUT:1'] .point-value[data-value]")
            page.check(".tree-point[data-point='9001:INPUT:1'] input")
            page.check(".tree-point[data-point='9001:INPUT:2'] input")
            page.click("button[data-preset='24h']")
            page.wait_for_function("() => document.querySelector('#chart').dataset.state === 'ready'")
            page.wait_for_timeout(1500)  # a live value or two, and the flash of the last one fading
            page.mouse.move(900, 400)  # the cursor's values in the legend
            page.screenshot(path=str(args.out / "trend-viewer.png"))

            page.goto(base + "/graphql#query=" + quote(QUERY))
            page.wait_for_selector(".graphiql-execute-button")
            page.click(".graphiql-execute-button")
            page.wait_for_function(
                "() => (document.querySelector('.result-window')?.innerText || '').includes('freshPoints')"
            )
            page.click("[aria-label='Show Examples']")
            page.wait_for_selector("button.example")
            page.wait_for_timeout(500)
            page.screenshot(path=str(args.out / "graphiql.png"))
            browser.close()
    print(f"wrote {args.out / 'trend-viewer.png'} and {args.out / 'graphiql.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
