"""Schemathesis against the served document, on a real uvicorn over the seeded site: for every operation,
generated valid and invalid requests; every answer must match the document (status, content type, schema) and
none may be a 5xx; invalid requests must be refused (4xx). Bounded: a fixed number of examples per operation and
mode, derandomized so a run is repeatable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import LiveServer

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "schema" / "openapi.json").read_text())
OPERATIONS = [(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item]
EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


MODES = {
    "valid": (GenerationMode.POSITIVE, False),
    "valid-on-the-seeded-device": (GenerationMode.POSITIVE, True),
    "invalid": (GenerationMode.NEGATIVE, False),
}
"""Valid requests on the seeded device 1001 too: generated device ids almost never name a device that exists, and
the answers that matter most are those about one that does."""


RUNS = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode, (_, on_seeded_device) in MODES.items()
    if "{device_id}" in path or not on_seeded_device
]


@pytest.mark.parametrize(("method", "path", "mode"), RUNS, ids=[f"{m} {p} {mode}" for m, p, mode in RUNS])
def test_every_answer_matches_the_document(live_server: LiveServer, method: str, path: str, mode: str) -> None:
    generation, on_seeded_device = MODES[mode]
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    operation = schema[path][method]
    checks = [*CHECKS, negative_data_rejection] if generation is GenerationMode.NEGATIVE else CHECKS
    fixed = {"device_id": 1001} if on_seeded_device else None

    @given(case=operation.as_strategy(generation_mode=generation, path_parameters=fixed))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=live_server.url, checks=checks)

    run()
