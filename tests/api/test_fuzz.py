"""Every endpoint fuzzed by schemathesis from the OpenAPI schema, over real HTTP (daphne
in its own process), authenticated with a key holding every scope, with valid and invalid
input: no 5xx, and every answer conforms to the schema (status, content type, body,
headers).

Examples per operation: API_FUZZ_EXAMPLES (default 10: a quick pass; CI may raise it)."""

from __future__ import annotations

import itertools
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.actions import create_key
from api.models import SCOPES
from api.v1 import api
from narrative.demo import load_demo_story
from tests.api.conftest import this_database
from tests.factories import MemberFactory, TournamentFactory
from tests.servers import daphne

pytestmark = pytest.mark.django_db(transaction=True)
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def test_every_endpoint_answers_within_its_schema_and_never_5xx(tmp_path):
    for n in range(3):
        MemberFactory(platform="telegram", external_id=f"fuzz-{n}")
    TournamentFactory()
    load_demo_story()
    token = create_key(label="fuzz", scopes=SCOPES).token
    env = {
        "DATABASE_URL": this_database(tmp_path),
        "API_RATE_LIMITS": "default=1000000/60,ledger:write=1000000/60,members:write=1000000/60",
        "API_EVENTS_MAX_WAIT": "0",
    }
    schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
    failures = []
    # Its log to a file: thousands of refused requests log a line each (a pipe would fill).
    log = tmp_path / "daphne.log"
    with log.open("wb") as stderr, daphne(env, stderr=stderr) as base:
        for result, mode in itertools.product(
            list(schema.get_all_operations()), [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        ):
            operation = result.ok()

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                case.call_and_validate(
                    base_url=base,
                    headers={"Authorization": f"Bearer {token}"},
                    checks=CHECKS,
                    timeout=30,
                )

            try:
                fuzz()
            except Exception as exc:  # collect them all, then fail naming each
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
