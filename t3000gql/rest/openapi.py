"""The OpenAPI 3.1 document of the REST API, generated from the routes and models (FastAPI's generator over
pydantic's JSON Schemas), never written by hand. `t3000gql export-openapi` prints it; schema/openapi.json is that
output, and a test fails when they differ.

Three things are changed after generation, each because the document must say what the server does: paths get
the /api prefix they are mounted at; FastAPI's automatic 422 answers go (this API answers bad input with 400 in
seed 000's envelope, listed on every route); each operation gets `x-required-role`, read from the `Access`
dependency the route declares.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, APIRouter

from t3000gql import __version__
from t3000gql.rest.access import Access

PREFIX = "/api"
TITLE = "t3000gql REST API"
DESCRIPTION = (
    "Seed 000's HTTP endpoints of the T3000 data management system, served beside GraphQL (/graphql) over the "
    "same services: every answer in the envelope `{success, data, error, source, timestamp}`, times in Unix "
    "seconds, point types as T3000's numbers (names accepted). Errors carry `code` (GraphQL's extensions.code) "
    "and, for bad input, `details`. See docs/rest.md."
)
_FASTAPI_422 = ("HTTPValidationError", "ValidationError")


BEARER = "bearerToken"


def document(app: FastAPI, routers: Sequence[APIRouter]) -> dict[str, Any]:
    """The document of `app`, whose routes are those of `routers`."""
    generated = get_openapi(
        title=TITLE,
        version=__version__,
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=app.routes,
    )
    roles = {
        (route.path, method.lower()): access.role.value
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and (access := _access_of(route.dependant)) is not None
        for method in route.methods or ()
    }
    paths: dict[str, Any] = {}
    for path, item in generated["paths"].items():
        for method, operation in item.items():
            operation["responses"].pop("422", None)
            operation["x-required-role"] = roles[(path, method)]
            operation["security"] = [{BEARER: []}, {}]  # a token, or none while AUTH_REQUIRED is false
        paths[PREFIX + path] = item
    generated["paths"] = paths
    generated.setdefault("components", {})["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`t3000gql token create`); its role must be the route's x-required-role "
            "or above (docs/security.md).",
        }
    }
    schemas = generated.get("components", {}).get("schemas", {})
    for name in _FASTAPI_422:
        schemas.pop(name, None)
    return generated


def document_json(app: FastAPI) -> str:
    """The document as `export-openapi` prints it and schema/openapi.json holds it."""
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


def _access_of(dependant: Dependant) -> Access | None:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Access):
            return dependency.call
        found = _access_of(dependency)
        if found is not None:
            return found
    return None
