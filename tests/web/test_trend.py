"""The trend viewer at / in a real browser: the device tree of the demo site, live values, the chart's
samples per range and per zoom (never more than its pixels), and CSV export matching a GraphQL query of the
same range. The page fixture fails a test whose page fetched anything from another origin."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from t3000gql.collect.demo import CONTROLLERS
from tests.web.conftest import MINUTE, RIG_FLOW, RIG_SETPOINT, SITE_TZ, WEEK_START, SiteServer, Traffic

CHART = "#chart"
SERIES = """query($points: [PointRefInput!]!, $start: DateTime!, $end: DateTime!, $interval: Int) {
  avg: series(points: $points, start: $start, end: $end, intervalSeconds: $interval, aggregate: AVG) {
    totalPoints columns { timestamps values }
  }
  min: series(points: $points, start: $start, end: $end, intervalSeconds: $interval, aggregate: MIN) {
    columns { values }
  }
  max: series(points: $points, start: $start, end: $end, intervalSeconds: $interval, aggregate: MAX) {
    columns { values }
  }
}"""
RAW = """query($points: [PointRefInput!]!, $start: DateTime!, $end: DateTime!) {
  series(points: $points, start: $start, end: $end) { totalPoints columns { timestamps values } }
}"""
RIG_TEMP_INPUT = {"deviceId": 7001, "pointType": "INPUT", "pointNumber": 1}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=ZoneInfo("UTC")).isoformat()


def open_trends(page: Any, site: SiteServer) -> None:
    page.goto(site.url + "/")
    page.wait_for_selector(".tree-device")


def open_device(page: Any, device_id: int) -> None:
    row = f".tree-device[data-device='{device_id}']"
    if page.get_attribute(row, "aria-expanded") != "true":
        page.click(row)
    page.wait_for_selector(f"{row}[aria-expanded='true']")


def chart_state(page: Any) -> dict[str, str]:
    state: dict[str, str] = page.eval_on_selector(CHART, "element => ({...element.dataset})")
    return state


def wait_for_chart(page: Any, start_ms: int | None = None) -> dict[str, str]:
    """Waits until the chart shows what it last asked for (and, if given, a range starting at start_ms)."""
    page.wait_for_function(
        "([selector, start]) => { const d = document.querySelector(selector).dataset;"
        " return d.state === 'ready' && (start === null || d.start === String(start)); }",
        arg=[CHART, start_ms],
    )
    return chart_state(page)


def chart_rig_temperature(page: Any, local_start: str, local_end: str) -> dict[str, str]:
    open_device(page, 7001)
    page.check(".tree-point[data-point='7001:INPUT:1'] input")
    page.fill("#custom-range input[name=start]", local_start)
    page.fill("#custom-range input[name=end]", local_end)
    page.click("#custom-range button[type=submit]")
    start = int(datetime.fromisoformat(local_start).replace(tzinfo=ZoneInfo(SITE_TZ)).timestamp() * 1000)
    return wait_for_chart(page, start)


def buckets_of(site: SiteServer, state: dict[str, str]) -> dict[str, Any]:
    return site.graphql(
        SERIES,
        {
            "points": [RIG_TEMP_INPUT],
            "start": iso(int(state["start"])),
            "end": iso(int(state["end"])),
            "interval": int(state["interval"]),
        },
    )


def test_the_tree_lists_the_demo_devices_and_searches(page: Any, site: SiteServer) -> None:
    open_trends(page, site)
    names = page.eval_on_selector_all(".tree-device .device-name", "els => els.map(e => e.textContent)")
    assert {controller.name for controller in CONTROLLERS} <= set(names)
    assert "Test rig" in names
    page.fill(".tree-search", "humid")
    page.wait_for_function("() => !document.querySelector('.tree-device[data-device=\"7001\"]')")
    shown = page.eval_on_selector_all(".tree-point .point-name", "els => els.map(e => e.textContent)")
    assert shown and all("Humidity" in name for name in shown)


def test_a_live_value_changes_on_screen(page: Any, site: SiteServer) -> None:
    site.write_value(RIG_SETPOINT, 21.5)
    open_trends(page, site)
    open_device(page, 7001)
    value = ".tree-point[data-point='7001:VARIABLE:1'] .point-value"
    # The first value comes with the subscription; once shown, every later change reaches the page.
    page.wait_for_selector(f"{value}[data-value='21.5']")
    site.write_value(RIG_SETPOINT, 23.25)
    page.wait_for_selector(f"{value}[data-value='23.25']")
    assert page.inner_text(value) == "23.25"
    assert page.inner_text(".tree-point[data-point='7001:VARIABLE:1'] .point-unit") == "degC"
    # The rig temperature's last sample is from March 2025: shown, and marked stale.
    old = ".tree-point[data-point='7001:INPUT:1']"
    page.wait_for_selector(f"{old}.stale .point-value[data-value]")
    assert page.inner_text(f"{old} .point-age").endswith("d ago")


def test_new_values_append_at_the_right_edge(page: Any, site: SiteServer, traffic: Traffic) -> None:
    open_trends(page, site)
    open_device(page, 7001)
    page.check(".tree-point[data-point='7001:INPUT:2'] input")
    page.click("button[data-preset='1h']")
    # The hour's own load, not the day's that the page opened with (its `ready` may still be showing).
    page.wait_for_function(
        "selector => { const d = document.querySelector(selector).dataset;"
        " return d.state === 'ready' && d.live === 'on' && d.interval === 'raw'"
        " && Number(d.end) - Number(d.start) <= 3600000; }",
        arg=CHART,
    )
    before = int(chart_state(page)["samples"])
    loads = len([url for url in traffic.urls if url.endswith("/graphql")])
    for value in (55.0, 56.5):
        site.write_value(RIG_FLOW, value)
        before += 1
        page.wait_for_function(
            "([selector, n]) => document.querySelector(selector).dataset.samples === String(n)",
            arg=[CHART, before],
        )
    assert len([url for url in traffic.urls if url.endswith("/graphql")]) == loads  # appended, not read again
    state = chart_state(page)
    assert state["interval"] == "raw"


def test_the_chart_has_one_bucket_per_pixel_at_most_and_zoom_changes_the_bucket(
    page: Any, site: SiteServer
) -> None:
    open_trends(page, site)
    week = chart_rig_temperature(page, "2025-03-10T00:00", "2025-03-17T00:00")
    pixels, interval = int(week["pixels"]), int(week["interval"])
    # A week of minute samples (10,080) is more than the chart's pixels: buckets, one per pixel at most.
    assert int(week["start"]) == WEEK_START and int(week["end"]) == WEEK_START + 7 * 1440 * MINUTE
    samples = int(week["samples"])
    assert samples <= pixels
    assert samples == 7 * 86400 // interval  # the seeded minutes fill every bucket
    assert samples == buckets_of(site, week)["avg"][0]["totalPoints"]
    assert page.eval_on_selector(".chart-canvas .u-over", "e => e.clientWidth") == pixels

    # Drag across a seventh of the plot: about a day, so buckets get narrower.
    box = page.locator(".chart-canvas .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 3 / 7, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 3.5 / 7, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 4 / 7, y, steps=5)
    page.mouse.up()
    page.wait_for_function(
        "([selector, start]) => { const d = document.querySelector(selector).dataset;"
        " return d.state === 'ready' && d.start !== start; }",
        arg=[CHART, week["start"]],
    )
    day = chart_state(page)
    assert day["interval"] != "raw" and int(day["interval"]) < interval
    span = int(day["end"]) - int(day["start"])
    assert 0.8 * 86400_000 < span < 1.2 * 86400_000
    assert int(day["samples"]) <= int(day["pixels"])
    assert int(day["samples"]) == buckets_of(site, day)["avg"][0]["totalPoints"]


def test_a_short_range_shows_raw_samples(page: Any, site: SiteServer) -> None:
    open_trends(page, site)
    state = chart_rig_temperature(page, "2025-03-11T08:00", "2025-03-11T10:00")
    assert state["interval"] == "raw"
    assert state["samples"] == "120"  # two hours of minute samples
    raw = site.graphql(
        RAW, {"points": [RIG_TEMP_INPUT], "start": iso(int(state["start"])), "end": iso(int(state["end"]))}
    )
    assert raw["series"][0]["totalPoints"] == 120
    page.click("#range-bar [data-action=back]")  # pan back half a range: 07:00 .. 09:00
    moved = wait_for_chart(page, int(state["start"]) - 3600_000)
    assert int(moved["end"]) == int(state["end"]) - 3600_000
    assert moved["samples"] == "120"


def read_download(page: Any) -> list[list[str]]:
    with page.expect_download() as download:
        page.click("#export")
    path = Path(download.value.path())
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_the_csv_download_matches_a_graphql_query_of_the_range(page: Any, site: SiteServer) -> None:
    open_trends(page, site)
    state = chart_rig_temperature(page, "2025-03-11T00:00", "2025-03-12T00:00")
    rows = read_download(page)
    header, body = rows[0], rows[1:]
    assert header == [
        "time",
        "7001:INPUT:1 Rig temperature [degC] AVG",
        "7001:INPUT:1 Rig temperature [degC] MIN",
        "7001:INPUT:1 Rig temperature [degC] MAX",
    ]
    expected = buckets_of(site, state)
    timestamps = expected["avg"][0]["columns"]["timestamps"]
    assert len(body) == len(timestamps) == int(state["samples"])
    for row, ts, avg, low, high in zip(
        body,
        timestamps,
        expected["avg"][0]["columns"]["values"],
        expected["min"][0]["columns"]["values"],
        expected["max"][0]["columns"]["values"],
        strict=True,
    ):
        moment = datetime.fromisoformat(row[0])
        assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 3600  # Berlin, winter
        assert round(moment.timestamp() * 1000) == ts
        assert [float(row[1]), float(row[2]), float(row[3])] == [avg, low, high]
