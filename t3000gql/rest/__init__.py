"""Seed 000's REST API beside GraphQL: the same services, seed 000's paths, structs and envelope (docs/rest.md).

app.py            assembles: the FastAPI app mounted at /api, /openapi.json, the docs page at /api/docs
routing.py        what every route gets: the request gate, the JSON body rule and its size limit, errors
envelope.py       seed 000's envelope, and the one place where errors become HTTP answers
access.py         the role each route declares, and the access policy's one call per request (token, rate, role)
models.py         seed 000's Rust structs as pydantic models: the OpenAPI document's shapes
wire.py           stored records as those shapes (plain dicts, cheap for 1,000 samples)
openapi.py        the OpenAPI 3.1 document, generated from the routes and models
lookups.py        look-ups every route needs (a point by its key, NOT_FOUND naming what is missing)
device_data.py    GET/POST /api/device/{device_id}/data, GET /api/device/{device_id}/point/{type}/{number}
timeseries.py     GET /api/timeseries/{device_id}/{type}/{number}, POST /api/timeseries/batch
configuration.py  GET/POST /api/trend-logs/{device_id}, GET /api/monitoring-points/{device_id}
"""

from t3000gql.rest.app import rest_app, rest_routes

__all__ = ["rest_app", "rest_routes"]
