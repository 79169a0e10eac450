"""Schema-driven fuzzing: schemathesis generates requests for every operation of the
OpenAPI document and checks each answer with all of its checks (no server error, the
declared status codes, content types, headers and body schemas, negative data rejected,
auth not ignored, unsupported methods refused with `Allow`, ...).

Signed in as an organization owner (with a published event, a tier and a pass to reach) and
anonymous. Bounded: `ADMITONE_FUZZ_EXAMPLES` examples per operation (default 15; a few
minutes on PostgreSQL). Run by `.ci/run` (`pytest -m fuzz`); the default test run skips it.
What the fuzzer gets wrong (and only that) is excluded below, each with its reason
(docs/contract.md).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from admitone.app import create_app
from admitone.core.db import Database
from admitone.settings import Settings
from tests.factories import auth_headers, make_event, make_organization, make_tier, make_user

pytestmark = pytest.mark.fuzz

FORGED_CURSOR = "WyJ4IiwgInkiXQ=="  # base64 of ["x", "y"]
EXAMPLES = int(os.environ.get("ADMITONE_FUZZ_EXAMPLES", "15"))

# Operations the fuzzer cannot meaningfully call, each with why (docs/contract.md):
SKIPPED_OPERATIONS = {
    # Server-sent event streams never end by design; the fuzzer would wait for a whole body.
    "GET /api/v1/orders/{order_id}/stream",
    "GET /api/v1/events/{event_id}/checkins/stats/stream",
    # The gateway forwards to another process's API (none runs here): every call is a 502.
    "GET /mobile/v1/{path}",
    "POST /mobile/v1/{path}",
    "PUT /mobile/v1/{path}",
    "PATCH /mobile/v1/{path}",
    "DELETE /mobile/v1/{path}",
}


# Checks left out, each with why (docs/contract.md):
EXCLUDED_CHECKS = [
    # "A schema-valid request must be accepted": a schema cannot say that an OTP code is the
    # one we e-mailed, that a cursor is one we made, that a signature verifies or that a
    # payment provider is configured. Those answer a 400/422 problem with a stable code,
    # which is right; every other check still runs on those requests.
    schemathesis.checks.positive_data_acceptance,
]


# Failing here and fixed on another branch (house-orders: orders' lists on core.pagination);
# the lead empties this after merging it. A forged cursor (the `cursor` example) is a 500.
FIXED_ON_ANOTHER_BRANCH: set[str] = set()


@pytest.fixture
def fuzz_app(settings: Settings, db: Database) -> FastAPI:
    """Google and Apple sign-in configured (their keys at a closed local port), so tokens
    are checked as in production instead of answering `provider_not_configured`."""
    closed = "http://127.0.0.1:9/keys"
    auth = settings.auth.model_copy(
        update={
            "google_client_ids": ["fuzz.apps.googleusercontent.com"],
            "google_jwks_url": closed,
            "apple_client_ids": ["dev.admitone.fuzz"],
            "apple_jwks_url": closed,
        }
    )
    return create_app(settings.model_copy(update={"auth": auth}), db, run_worker=False)


@pytest.fixture
def owner_headers(db: Database, settings: Settings) -> dict[str, str]:
    def seed(session: Any) -> dict[str, str]:
        owner = make_user(session)
        org = make_organization(session, owner)
        event = make_event(session, org, status="published")
        make_tier(session, event)
        return auth_headers(session, settings, owner)

    return db.mutation(seed)


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # a fixed seed: a failure reproduces on the next run
    suppress_health_check=list(HealthCheck),
    database=None,
)


def _fuzz(app: FastAPI, headers: dict[str, str] | None) -> list[str]:
    """Every operation fuzzed; returns one line per failing operation."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in SKIPPED_OPERATIONS or label in FIXED_ON_ANOTHER_BRANCH:
            continue

        paginated = any(p.name == "cursor" for p in operation.query)

        @_SETTINGS
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=EXCLUDED_CHECKS)
            if paginated:  # noqa: B023  (run() is called within this iteration)
                # Random strings are rarely base64 of a JSON list; the regression that
                # matters is a well-formed cursor of the wrong shape (issue 12: a 500).
                case.query = {**(case.query or {}), "cursor": FORGED_CURSOR}
                case.call_and_validate(headers=headers, excluded_checks=EXCLUDED_CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"{label}: {str(exc)[:2000]}")
    return failures


def test_fuzz_as_owner(fuzz_app: FastAPI, owner_headers: dict[str, str]) -> None:
    failures = _fuzz(fuzz_app, owner_headers)
    assert not failures, "\n\n".join(failures)


def test_fuzz_anonymous(fuzz_app: FastAPI) -> None:
    failures = _fuzz(fuzz_app, None)
    assert not failures, "\n\n".join(failures)
