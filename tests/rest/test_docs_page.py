"""/api/docs in a real browser (Debian's Chromium through Playwright): the page renders every operation of the
document with no request leaving the server's origin, as on a building network cut off from the internet."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.api.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"


def test_the_docs_page_renders_every_operation_offline(live_server: LiveServer) -> None:
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("T3000GQL_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    elsewhere: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()

            def only_this_server(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if url.startswith(live_server.url):
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    elsewhere.append(url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", only_this_server)
            page.goto(f"{live_server.url}/api/docs")
            page.wait_for_selector(".opblock", timeout=15_000)
            summaries = page.locator(".opblock-summary-path").all_inner_texts()
            title = page.locator(".title").first.inner_text()
        finally:
            browser.close()
    assert elsewhere == []
    assert "t3000gql REST API" in title
    assert len(summaries) == 8
    assert {s.replace("\u200b", "") for s in summaries} >= {"/api/timeseries/batch", "/api/trend-logs/{device_id}"}
