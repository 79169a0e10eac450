"""Schema-driven fuzzing: schemathesis generates requests for every operation of the
OpenAPI document and checks each answer with all of its checks (no server error, the
declared status codes, content types, headers and body schemas, negative data rejected,
auth not ignored, unsupported methods refused with `Allow`, ...).

Signed in as an organization owner, as door staff (a user whose only role is `door_staff`
on the organization: every operation is also called with the path ids of its real event,
tier, order and pass, so the capability checks answer instead of a 404), and anonymous.
Then stateful, following the document's `links` (core/openapi.py): the owner creates an
event, reads and updates it, adds tiers and sessions, updates them, deletes sessions.
Bounded: `ADMITONE_FUZZ_EXAMPLES` examples per operation (default 15; a few minutes on
PostgreSQL). Run by `.ci/run` (`pytest -m fuzz`); the default test run skips it. What the
fuzzer gets wrong (and only that) is excluded below, each with its reason
(docs/contract.md).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from admitone.app import create_app
from admitone.core.clock import utcnow
from admitone.core.db import Database
from admitone.settings import Settings
from tests.factories import (
    add_team_member,
    auth_headers,
    make_event,
    make_organization,
    make_pass,
    make_tier,
    make_user,
)

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


@pytest.fixture
def door_staff(db: Database, settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """(headers of a user whose only role is door staff on the organization, the ids of the
    organization's published event, its tier and a pass: path values that exist)."""

    def seed(session: Any) -> tuple[dict[str, str], dict[str, str]]:
        owner = make_user(session)
        org = make_organization(session, owner)
        event = make_event(session, org, status="published")
        tier = make_tier(session, event)
        ticket = make_pass(session, event, tier)
        door = make_user(session)
        add_team_member(session, org, door, "door_staff")
        known = {
            "organization_id": org.id,
            "event_id": event.id,
            "tier_id": tier.id,
            "order_id": ticket.order_id,
            "pass_id": ticket.id,
        }
        return auth_headers(session, settings, door), known

    return db.mutation(seed)


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # a fixed seed: a failure reproduces on the next run
    suppress_health_check=list(HealthCheck),
    database=None,
)


def _fuzz(
    app: FastAPI, headers: dict[str, str] | None, known: dict[str, str] | None = None
) -> list[str]:
    """Every operation fuzzed; returns one line per failing operation. With `known`, each
    case is also sent with its path ids replaced by those (resources that exist)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in SKIPPED_OPERATIONS or label in FIXED_ON_ANOTHER_BRANCH:
            continue

        paginated = any(p.name == "cursor" for p in operation.query)
        real = {p.name: known[p.name] for p in operation.path_parameters if p.name in (known or {})}

        @_SETTINGS
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=EXCLUDED_CHECKS)
            if paginated:  # noqa: B023  (run() is called within this iteration)
                # Random strings are rarely base64 of a JSON list; the regression that
                # matters is a well-formed cursor of the wrong shape (issue 12: a 500).
                case.query = {**(case.query or {}), "cursor": FORGED_CURSOR}
                case.call_and_validate(headers=headers, excluded_checks=EXCLUDED_CHECKS)
            if real:  # noqa: B023
                case.path_parameters = {**(case.path_parameters or {}), **real}  # noqa: B023
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


def test_fuzz_as_door_staff(
    fuzz_app: FastAPI, door_staff: tuple[dict[str, str], dict[str, str]]
) -> None:
    headers, known = door_staff
    failures = _fuzz(fuzz_app, headers, known)
    assert not failures, "\n\n".join(failures)


# The stateful run: the event, tier and session operations, chained by the document's links.
# `POST /organizations` is in so that schemathesis counts organizations as produced and
# starts from creating an event (`before_call` puts it in the seeded organization).
STATEFUL_PATHS = (
    r"^/api/v1/(organizations|organizations/\{organization_id\}/events"
    r"|events/\{event_id\}(/tiers|/sessions|/publish)?"
    r"|tiers/\{tier_id\}|sessions/\{session_id\})$"
)


def _plausible_dates(case: Any) -> None:
    """A valid event or session body gets dates that pass the rules no schema can state
    (an event ends after it starts and not in the past; a session lies within its event):
    random dates almost never do, and the chain would stop at its first step. Only
    positive cases: a negative one must stay invalid."""
    body = case.body
    creates = case.operation.method == "post" and case.operation.path.endswith(
        ("/events", "/sessions")
    )
    if not creates or not isinstance(body, dict) or "starts_at" not in body:
        return
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    starts = utcnow().replace(microsecond=0) + timedelta(days=30)
    if case.operation.path.endswith("/sessions"):
        starts += timedelta(hours=1)  # within the event below (it lasts 4 hours)
    length = timedelta(hours=1 if case.operation.path.endswith("/sessions") else 4)
    body["starts_at"] = starts.isoformat()
    body["ends_at"] = (starts + length).isoformat()


def _stateful(app: FastAPI, headers: dict[str, str], organization_id: str) -> Counter[str]:
    """Runs the state machine; returns how often each operation answered 2xx."""
    answered: Counter[str] = Counter()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Only the document's own links: schemathesis's inference guesses thousands more
    # (a public event's slug -> every event id parameter), which no bounded run covers.
    schema.config.phases.stateful.inference.algorithms = []
    machine = schema.include(path_regex=STATEFUL_PATHS).as_state_machine()

    class Owner(machine):  # type: ignore[misc, valid-type]
        def before_call(self, case: Any) -> None:
            # Events are created in the owner's organization (the only one they hold).
            if "organization_id" in (case.path_parameters or {}):
                case.path_parameters["organization_id"] = organization_id
            _plausible_dates(case)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def after_call(self, response: Any, case: Any) -> None:
            if response.status_code < 300:
                answered[f"{case.operation.method.upper()} {case.operation.path}"] += 1

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(
                response, excluded_checks=EXCLUDED_CHECKS, transport_kwargs=kwargs
            )

    # derandomize (from _SETTINGS): the same sequences every run, so a failure reproduces.
    Owner.run(settings=settings(_SETTINGS, stateful_step_count=8))
    return answered


def test_fuzz_stateful_as_owner(fuzz_app: FastAPI, db: Database, settings: Settings) -> None:
    def seed_owner(session: Any) -> tuple[dict[str, str], str]:
        owner = make_user(session)
        org = make_organization(session, owner)
        return auth_headers(session, settings, owner), org.id

    headers, organization_id = db.mutation(seed_owner)
    answered = _stateful(fuzz_app, headers, organization_id)
    # The links were followed: events were created, then read through the id they returned.
    assert answered["POST /api/v1/organizations/{organization_id}/events"], answered
    assert answered["GET /api/v1/events/{event_id}"], answered
