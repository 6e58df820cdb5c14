"""The pages as HTTP sees them (no browser): what / and /graphql answer a browser, the static files and their
caching, the examples offered in GraphiQL, the size budget of the trend page, and the answer when the pages
were never built."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from t3000gql.config import Settings
from t3000gql.web import WebSite
from t3000gql.web.assets import Assets
from tests.api.conftest import GraphQLClient, open_client
from tests.web.conftest import ROOT, ensure_assets

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
OWN_JS_BUDGET_GZIP = 300 * 1024


@pytest.fixture
def client(tmp_path: Path) -> Iterator[GraphQLClient]:
    ensure_assets()
    settings = Settings.defaults(database_url=f"sqlite:///{tmp_path}/t.db", timezone="Asia/Bangkok")
    with open_client(settings) as opened:
        yield opened


def references(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize(("path", "headers"), [("/", {}), ("/graphql", HTML)])
def test_a_page_loads_only_files_of_this_server(client: GraphQLClient, path: str, headers: dict[str, str]) -> None:
    response = client.http.get(path, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "unpkg" not in response.text and "cdn" not in response.text.lower()
    site = json.loads(re.search(r'id="t3000gql-site" type="application/json">(.*?)</script>', response.text)[1])
    assert site["timezone"] == "Asia/Bangkok" and site["cacheDurationSeconds"] == 60
    assert site["serverNowMs"] == client.services.clock()
    linked = [ref for ref in references(response.text) if not ref.startswith(("data:", "#"))]
    assert linked, "the page links no script or stylesheet"
    for ref in linked:
        assert ref.startswith("/"), f"{ref} is not on this server"
        assert client.http.get(ref).status_code == 200, ref


def test_hashed_files_are_cached_for_good_and_compressed(client: GraphQLClient) -> None:
    page = client.http.get("/").text
    script = next(ref for ref in references(page) if ref.endswith(".js"))
    response = client.http.get(script, headers={"accept-encoding": "gzip"})
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-encoding"] == "gzip"
    examples = client.http.get("/static/examples.json")
    assert examples.headers["cache-control"] == "no-cache"
    assert client.http.get("/").headers["cache-control"] == "no-cache"
    assert client.http.get("/static/nothing-here.js").status_code == 404


def test_graphiql_offers_every_schema_example(client: GraphQLClient) -> None:
    offered = {item["name"]: item for item in client.http.get("/static/examples.json").json()}
    files = sorted(Path(ROOT, "schema", "examples").glob("*.graphql"))
    assert sorted(offered) == [path.stem for path in files]
    for path in files:
        assert offered[path.stem]["query"] == path.read_text(encoding="utf-8")


def test_the_trend_page_javascript_stays_within_its_budget() -> None:
    """The trend page's own JavaScript and CSS (GraphiQL aside), gzipped, as built: at most 300 KB."""
    trend = ensure_assets().manifest()["pages"]["trend"]
    assert 0 < trend["gzipBytes"] <= OWN_JS_BUDGET_GZIP


def test_pages_that_were_never_built_say_how_to_build_them(tmp_path: Path) -> None:
    web = WebSite(Settings.defaults(database_url=f"sqlite:///{tmp_path}/t.db"), Assets(tmp_path / "empty"))
    with TestClient(Starlette(routes=web.routes)) as http:
        response = http.get("/")
    assert response.status_code == 503
    assert "scripts/build_web.sh" in response.text
