"""The app's route table: flat, with the hot routes tried first without changing dispatch."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from admitone.app import HOT_ROUTES


def _api_routes(app: FastAPI) -> list[APIRoute]:
    return [r for r in app.router.routes if isinstance(r, APIRoute)]


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "evt_01JB0000000000000000000000", path)


def test_hot_routes_are_matched_first(app: FastAPI) -> None:
    first = [(m, r.path) for r in _api_routes(app)[: len(HOT_ROUTES)] for m in r.methods]
    assert first == list(HOT_ROUTES)


def test_no_other_route_would_have_taken_a_hot_route_path(app: FastAPI) -> None:
    """Trying the hot routes first is only safe while no other route matches their paths."""
    for method, path in HOT_ROUTES:
        sample = _sample(path)
        others = [
            r.path
            for r in _api_routes(app)
            if r.path != path and method in r.methods and r.path_regex.match(sample)
        ]
        assert others == [], f"{method} {path} is also matched by {others}"


def test_every_domain_route_is_in_the_flat_table(app: FastAPI) -> None:
    from admitone import domains

    paths = {(m, r.path) for r in _api_routes(app) for m in r.methods}
    for module in domains.load_routes():
        for attr, prefix in (("api_router", "/api/v1"), ("support_router", "/support/v1")):
            router = getattr(module, attr, None)
            for route in router.routes if router is not None else []:
                assert isinstance(route, APIRoute)
                for method in route.methods:
                    assert (method, prefix + route.path) in paths


INT32_MAX = 2**31 - 1


def _integer_inputs(app: FastAPI) -> list[tuple[str, dict[str, object]]]:
    """(where, schema) of every integer a client can send: bodies and parameters."""
    spec = app.openapi()
    components = spec["components"]["schemas"]
    found: list[tuple[str, dict[str, object]]] = []

    def walk(schema: dict[str, Any], where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(components[name], name, seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                walk(sub, where, seen)
        if schema.get("type") == "integer":
            found.append((where, schema))
        if "items" in schema:
            walk(schema["items"], f"{where}[]", seen)
        for name, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{name}", seen)

    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for media in op.get("requestBody", {}).get("content", {}).values():
                walk(media["schema"], f"{method.upper()} {path}", frozenset())
            for param in op.get("parameters", []):
                walk(
                    param.get("schema", {}), f"{method.upper()} {path} {param['name']}", frozenset()
                )
    return found


def test_every_integer_a_client_sends_is_bounded_to_fit_its_column(app: FastAPI) -> None:
    """A huge number must be a 422, not an overflow in the database (a 500): integer
    columns are 32-bit, money amounts (minor units) 64-bit."""
    inputs = _integer_inputs(app)
    assert inputs
    unbounded = [where for where, s in inputs if "maximum" not in s and "exclusiveMaximum" not in s]
    assert unbounded == []
    too_big = [
        where
        for where, s in inputs
        if float(s.get("maximum", 0)) > INT32_MAX  # type: ignore[arg-type]
        and not where.endswith(".amount")
    ]
    assert too_big == []
