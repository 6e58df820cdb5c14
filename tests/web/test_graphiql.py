"""GraphiQL at /graphql in a real browser, served wholly by the server (the page fixture fails a test whose
page fetched anything from another origin): it renders, runs a query and a subscription, keeps a history,
takes headers and a token, and offers the schema's examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.web.conftest import RIG_SETPOINT, ROOT, SiteServer, Traffic

RESPONSE = ".graphiql-response .result-window"
QUERY_EDITOR = ".graphiql-query-editor .view-lines"


def open_graphiql(page: Any, site: SiteServer, query: str | None = None) -> None:
    """Loads GraphiQL afresh (a new #query on the same page would not reload it), with `query` in a tab."""
    page.goto("about:blank")
    page.goto(site.url + "/graphql" + (f"#query={quote(query)}" if query else ""))
    page.wait_for_selector(".graphiql-container")
    page.wait_for_selector(".graphiql-execute-button")
    if query:
        first_line = query.strip().splitlines()[0].split("(")[0].strip()
        page.wait_for_function(
            "([selector, text]) => document.querySelector(selector)?.innerText.replace(/\\s+/g, ' ').includes(text)",
            arg=[QUERY_EDITOR, first_line],
        )


def response_text(page: Any) -> str:
    text: str = page.locator(RESPONSE).inner_text()
    return text.replace("\u00a0", " ")


def wait_for_response(page: Any, needle: str) -> str:
    page.wait_for_function(
        "([selector, needle]) => (document.querySelector(selector)?.innerText || '').replace(/\\u00a0/g, ' ')"
        ".includes(needle)",
        arg=[RESPONSE, needle],
    )
    return response_text(page)


def test_graphiql_renders_and_runs_a_query(page: Any, site: SiteServer) -> None:
    open_graphiql(page, site, "query Rig { device(deviceId: 7001) { deviceName points { pointName } } }")
    page.click(".graphiql-execute-button")
    text = wait_for_response(page, '"deviceName": "Test rig"')
    assert '"pointName": "Rig temperature"' in text


def test_graphiql_subscription_shows_a_value_written_meanwhile(page: Any, site: SiteServer) -> None:
    subscription = (
        "subscription Setpoint { pointValues(points: [{deviceId: 7001, pointType: VARIABLE, pointNumber: 1}]) "
        "{ pointNumber value source } }"
    )
    site.write_value(RIG_SETPOINT, 21.0)
    open_graphiql(page, site, subscription)
    page.click(".graphiql-execute-button")
    # The subscription's first event is the current value: once it shows, the subscription is registered and
    # every later change reaches it (no gap between the two, by the subscription's contract).
    wait_for_response(page, '"value": 21')
    site.write_value(RIG_SETPOINT, 42.125)
    text = wait_for_response(page, '"value": 42.125')
    assert '"source": "API"' in text


def test_the_token_goes_as_bearer_header_and_in_connection_init(page: Any, site: SiteServer) -> None:
    open_graphiql(page, site, "query Tokened { cacheStats { totalPoints } }")
    page.click(".token-button")
    page.fill(".token-form input", site.token)
    page.click(".token-form button[type=submit]")
    with page.expect_request(lambda r: r.url.endswith("/graphql") and r.method == "POST") as posted:
        page.click(".graphiql-execute-button")
    assert posted.value.headers.get("authorization") == f"Bearer {site.token}"
    wait_for_response(page, "totalPoints")

    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(str(frame))))
    open_graphiql(page, site, "subscription Tokened { pointValues(deviceId: 7001) { value } }")
    page.click(".graphiql-execute-button")
    wait_for_response(page, '"value"')
    inits = [json.loads(frame) for frame in sent if '"connection_init"' in frame]
    assert inits and inits[0]["payload"] == {"authorization": f"Bearer {site.token}"}


def test_headers_editor_and_query_history(page: Any, site: SiteServer) -> None:
    open_graphiql(page, site, "query Headed { devices { deviceId } }")
    page.click("button:has-text('Headers')")
    page.click(".graphiql-editor-tool .graphiql-editor:not(.hidden)")
    page.keyboard.insert_text('{"X-Trace": "from-the-headers-editor"}')
    with page.expect_request(lambda r: r.url.endswith("/graphql") and r.method == "POST") as posted:
        page.click(".graphiql-execute-button")
    assert posted.value.headers.get("x-trace") == "from-the-headers-editor"
    wait_for_response(page, "deviceId")
    page.click("[aria-label='Show History']")
    page.wait_for_selector(".graphiql-history-item:has-text('Headed')")


def test_the_schema_examples_are_offered(page: Any, site: SiteServer, traffic: Traffic) -> None:
    names = sorted(path.stem for path in Path(ROOT, "schema", "examples").glob("*.graphql"))
    open_graphiql(page, site)
    page.click("[aria-label='Show Examples']")
    page.wait_for_selector("button.example")
    offered = page.eval_on_selector_all("button.example", "els => els.map(e => e.dataset.example)")
    assert offered == names
    page.click("button.example[data-example='chart_series']")
    page.wait_for_function(
        "selector => (document.querySelector(selector)?.innerText || '').replace(/\\s+/g, ' ')"
        ".includes('query ChartSeries')",
        arg=QUERY_EDITOR,
    )
