"""The authorization matrix: every route of the app is declared in route_matrix.py, and every
privileged route answers each role exactly as the role -> capability table says."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI, routing
from fastapi.testclient import TestClient

from admitone.core.db import Database
from admitone.settings import Settings
from tests.access.route_matrix import PRIVILEGED, PUBLIC, SIGNED_IN, Call, Ctx, Privileged
from tests.access.world import PRINCIPALS, build_world

GUARDED_PREFIXES = ("/api/v1/", "/support/v1/")


def _app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every API route, through included routers at any depth
    (FastAPI keeps included routers nested; `iter_route_contexts` flattens them)."""
    found = set()
    for ctx in routing.iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, routing.APIRoute) and ctx.path.startswith(
            GUARDED_PREFIXES
        ):
            for method in set(ctx.methods or ()) - {"HEAD", "OPTIONS"}:
                found.add((method, ctx.path))
    return found


def _declared() -> dict[tuple[str, str], str]:
    declared: dict[tuple[str, str], str] = {}
    for key in PUBLIC:
        declared[key] = "PUBLIC"
    for key in SIGNED_IN:
        assert key not in declared, f"{key} is declared twice"
        declared[key] = "SIGNED_IN"
    for entry in PRIVILEGED:
        key = (entry.method, entry.path)
        assert key not in declared, f"{key} is declared twice"
        declared[key] = "PRIVILEGED"
    return declared


def test_every_route_is_declared_public_signed_in_or_privileged(app: FastAPI) -> None:
    routes = _app_routes(app)
    missing = sorted(routes - set(_declared()))
    assert not missing, (
        "routes with no entry in tests/access/route_matrix.py (see the comment at its top): "
        + ", ".join(f"{m} {p}" for m, p in missing)
    )


def test_every_declared_route_exists(app: FastAPI) -> None:
    stale = sorted(set(_declared()) - _app_routes(app))
    assert not stale, "route_matrix.py lists routes the app does not have: " + ", ".join(
        f"{m} {p}" for m, p in stale
    )


def _placeholder_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


@pytest.mark.parametrize(
    ("method", "path"),
    sorted({*SIGNED_IN, *((e.method, e.path) for e in PRIVILEGED if not e.other_credential)}),
    ids=lambda v: str(v),
)
def test_anonymous_call_is_401(client: TestClient, method: str, path: str) -> None:
    resp = client.request(method, _placeholder_path(path))
    assert resp.status_code == 401, resp.text
    assert resp.json()["code"] == "unauthorized"


def _call(
    client: TestClient, entry: Privileged, call: Call, headers: dict[str, str]
) -> tuple[int, str, dict[str, Any]]:
    """(status, text, JSON body or {}); a stream is closed once its status is known."""
    with client.stream(
        entry.method,
        entry.path.format(**call.path),
        json=call.json,
        params=call.query,
        files=call.files,
        headers=headers,
    ) as resp:
        if entry.stream and resp.status_code < 300:
            return resp.status_code, "(stream)", {}
        resp.read()
        is_json = resp.headers.get("content-type", "").endswith("json")
        body = resp.json() if is_json else {}
        return resp.status_code, resp.text[:300], body if isinstance(body, dict) else {}


@pytest.mark.parametrize("entry", PRIVILEGED, ids=lambda e: f"{e.method} {e.path}")
def test_privileged_route_answers_each_role_as_the_table_says(
    client: TestClient, db: Database, settings: Settings, entry: Privileged
) -> None:
    world = build_world(db, settings)
    wrong: list[str] = []
    for principal in PRINCIPALS:
        with db.session() as s:
            call = entry.build(Ctx(s, world))
        status, text, body = _call(client, entry, call, world.headers[principal])
        expected = entry.outcome(principal)
        if expected == "allowed":
            ok = 200 <= status < 300
        elif expected == "forbidden":
            ok = (
                status == 403
                and body.get("code") == "capability_required"
                and body.get("capability") == str(entry.capability)
            )
        else:
            ok = status == 404
        if not ok:
            wrong.append(f"{principal}: expected {expected}, got {status} {text}")
    assert not wrong, "\n".join(wrong)
