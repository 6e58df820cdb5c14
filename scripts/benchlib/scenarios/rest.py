"""REST scenarios (seed 000's routes under /api): real HTTP to the t3000gql app in a process of its own, the
same keep-alive client as the API scenarios.

Floors: a bare Starlette route answering the very bytes the REST route answered, under the same uvicorn and
client, so the ratio is what the route costs beyond HTTP and JSON transfer. rest-cached-read also reports
GraphQL's cached read (`point { current { value } }`) measured in the same run.
"""

from __future__ import annotations

from typing import Any

import orjson

from benchlib import httpload
from benchlib.context import Context
from benchlib.registry import Result, scenario
from benchlib.report import measured, per_second
from benchlib.scenarios.api import CURRENT, RANGE_START, _app, _one_device, _range, _seed
from benchlib.serve import serve
from benchlib.stats import median, percentile

FLOOR = "a bare Starlette route answering the same JSON under the same uvicorn and client"
CACHED = "/api/device/1/point/INPUT/1"


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def _post(path: str, body: Any) -> bytes:
    payload = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


def _answer(port: int, raw: bytes) -> str:
    """The route's answer, checked to be a success, as the floor will send it."""
    body = httpload.run(httpload.fetch(port, raw))
    if not orjson.loads(body)["success"]:
        raise RuntimeError(body[:300].decode())
    return body.decode()


@scenario("rest-cached-read", goal="p95_ms <= 2", floor=FLOOR)
def rest_cached_read(ctx: Context) -> Result:
    """One client, GET /api/device/1/point/INPUT/1 on a warm cache, one request after another; GraphQL's
    cached read beside it (graphql_p95_ms)."""
    url = _seed(ctx, "rest-cached", _one_device)
    runs = 300 if ctx.quick else 3000
    raw = _get(CACHED)
    with serve(settings=_app(url)) as server:
        answer = _answer(server.port, raw)
        times = httpload.run(httpload.timed(server.port, raw, runs, warmup=200))
        graphql = httpload.run(httpload.timed(server.port, httpload.post_graphql(CURRENT), runs, warmup=200))
        peak = server.peak_rss_mb()
    with serve("floor", body=answer) as server:
        floor = httpload.run(httpload.timed(server.port, raw, runs, warmup=200))
    return measured(
        times,
        floor,
        rate_per_s=per_second(1, median(times)),
        peak_rss_mb=peak,
        floor_p95_ms=round(percentile(floor, 0.95), 3),
        graphql_p95_ms=round(percentile(graphql, 0.95), 3),
    )


@scenario("rest-range-1k", goal="median_ms <= 10", floor=FLOOR)
def rest_range_1k(ctx: Context) -> Result:
    """GET /api/timeseries/1/1/2 over 1,000 one-minute samples (seed 000's TimeSeriesData objects)."""
    url = _range(ctx)
    runs = 30 if ctx.quick else 200
    start_s = RANGE_START // 1000
    raw = _get(f"/api/timeseries/1/1/2?start_time={start_s}&end_time={start_s + 1000 * 60}")
    with serve(settings=_app(url)) as server:
        answer = _answer(server.port, raw)
        if orjson.loads(answer)["data"]["total_points"] != 1000:
            raise RuntimeError("the range did not hold 1,000 samples")
        times = httpload.run(httpload.timed(server.port, raw, runs, warmup=20))
        peak = server.peak_rss_mb()
    with serve("floor", body=answer) as server:
        floor = httpload.run(httpload.timed(server.port, raw, runs, warmup=20))
    return measured(
        times, floor, rate_per_s=per_second(1, median(times)), peak_rss_mb=peak, answer_bytes=len(answer)
    )


@scenario("rest-batch-1k", goal="median_ms <= 40", floor=FLOOR + " (reading the same request body)")
def rest_batch_1k(ctx: Context) -> Result:
    """POST /api/timeseries/batch with 1,000 new samples per request."""
    url = _seed(ctx, "rest-batch", _one_device)
    runs = 20 if ctx.quick else 100

    def batch(i: int) -> bytes:
        base_s = RANGE_START // 1000 + i * 1000 * 60
        samples = [
            {"device_id": 1, "point_type": 1, "point_number": 3, "value": float(n), "timestamp": base_s + n * 60}
            for n in range(1000)
        ]
        return _post("/api/timeseries/batch", samples)

    payloads = [batch(i) for i in range(runs + 11)]
    with serve(settings=_app(url)) as server:
        answer = _answer(server.port, payloads[-1])
        times = httpload.run(httpload.timed(server.port, lambda i: payloads[i], runs, warmup=10))
        peak = server.peak_rss_mb()
    with serve("floor", body=answer) as server:
        floor = httpload.run(httpload.timed(server.port, lambda i: payloads[i], runs, warmup=10))
    return measured(times, floor, rate_per_s=per_second(1, median(times)), peak_rss_mb=peak)
