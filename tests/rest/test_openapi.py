"""The OpenAPI document is a contract like schema/schema.graphql: schema/openapi.json is what the code generates,
the server serves exactly that, it names seed 000's operations and no others, and every route declares the role
it needs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from t3000gql.domain.samples import Aggregate
from t3000gql.rest.access import Access, Role
from t3000gql.rest.app import ROUTERS
from t3000gql.rest.models import AggregateName
from tests.rest.conftest import RestClient

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema" / "openapi.json"
SEED_OPERATIONS = {
    ("get", "/api/device/{device_id}/data"): Role.VIEWER,
    ("get", "/api/device/{device_id}/point/{point_type}/{point_number}"): Role.VIEWER,
    ("post", "/api/device/{device_id}/data"): Role.INGEST,
    ("get", "/api/timeseries/{device_id}/{point_type}/{point_number}"): Role.VIEWER,
    ("post", "/api/timeseries/batch"): Role.INGEST,
    ("get", "/api/trend-logs/{device_id}"): Role.VIEWER,
    ("post", "/api/trend-logs/{device_id}"): Role.ADMIN,
    ("get", "/api/monitoring-points/{device_id}"): Role.VIEWER,
}


def test_the_checked_in_document_is_what_the_code_generates() -> None:
    exported = subprocess.run(
        [sys.executable, "-m", "t3000gql", "export-openapi"], capture_output=True, text=True, check=True
    ).stdout
    assert exported == SCHEMA_FILE.read_text(), (
        "schema/openapi.json is out of date: run `t3000gql export-openapi > schema/openapi.json`"
    )


def test_the_server_serves_the_document(rest: RestClient) -> None:
    served = rest.http.get("/openapi.json")
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    assert served.text == SCHEMA_FILE.read_text()
    assert rest.http.get("/api/openapi.json").json() == json.loads(served.text)


def test_the_document_is_openapi_3_1_with_seed_000s_operations() -> None:
    document = json.loads(SCHEMA_FILE.read_text())
    assert document["openapi"] == "3.1.0"
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert operations == set(SEED_OPERATIONS)
    text = SCHEMA_FILE.read_text()
    assert '"422"' not in text and "HTTPValidationError" not in text
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "400" in operation["responses"] and "500" in operation["responses"], (method, path)
            assert operation["operationId"].isidentifier()


def test_every_route_declares_its_role_once_and_the_document_shows_it() -> None:
    document = json.loads(SCHEMA_FILE.read_text())
    for (method, path), role in SEED_OPERATIONS.items():
        assert document["paths"][path][method]["x-required-role"] == role.value, (method, path)
    for router in ROUTERS:
        for route in router.routes:
            declared = [d.call for d in route.dependant.dependencies if isinstance(d.call, Access)]  # type: ignore[attr-defined]
            assert len(declared) == 1, route.path  # type: ignore[attr-defined]


def test_the_seeds_struct_fields_are_in_the_document() -> None:
    schemas = json.loads(SCHEMA_FILE.read_text())["components"]["schemas"]
    seed_fields = {
        "Device": "id device_name device_type ip_address port device_id is_active last_seen created_at updated_at",
        "MonitoringPoint": "id device_id point_type point_number point_name description unit_code unit_symbol "
        "data_type is_active created_at updated_at",
        "TrendLog": "id device_id trend_log_name interval_seconds max_points is_active last_collected created_at "
        "updated_at",
        "TimeSeriesData": "id device_id point_type point_number value timestamp data_type unit_code trend_log_id "
        "created_at",
        "CacheStats": "total_points fresh_points stale_points cache_hit_rate",
        "DeviceDataResponse": "device_id points last_updated cache_stats",
        "TimeSeriesResponse": "total_points start_time end_time interval_seconds device_info point_info data",
        "DeviceDataBatch": "device_id data_points",
    }
    for name, fields in seed_fields.items():
        assert list(schemas[name]["properties"])[: len(fields.split())] == fields.split(), name
    envelope = schemas["ErrorResponse"]["properties"]
    assert list(envelope)[:5] == ["success", "data", "error", "source", "timestamp"]


def test_aggregate_names_are_the_domains() -> None:
    assert set(AggregateName.__args__) == {aggregate.value for aggregate in Aggregate}  # type: ignore[attr-defined]


def test_the_docs_page_uses_the_servers_own_assets(rest: RestClient) -> None:
    page = rest.http.get("/api/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    links = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(r"url: ?'([^']+)'", page.text)
    assert links and all(link.startswith("/api/") for link in links), links
    assert "/api/openapi.json" in links
    for link in links:
        assert rest.http.get(link).status_code == 200, link


def test_rest_changes_the_registry_only_through_the_registry_service() -> None:
    from tests.test_architecture import PACKAGE, REGISTRY_WRITE

    offenders = [
        f"{path.name}: {match.group(0)}"
        for path in sorted((PACKAGE / "rest").glob("*.py"))
        for match in REGISTRY_WRITE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_rest_module_map_lists_every_module() -> None:
    import ast

    from tests.test_architecture import PACKAGE

    docstring = ast.get_docstring(ast.parse((PACKAGE / "rest" / "__init__.py").read_text())) or ""
    mapped = set(re.findall(r"^\s*(\w+\.py)\s", docstring, re.MULTILINE))
    assert mapped == {path.name for path in (PACKAGE / "rest").glob("*.py")} - {"__init__.py"}
