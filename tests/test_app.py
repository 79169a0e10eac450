"""The app's route table: flat, with the hot routes tried first without changing dispatch."""

from __future__ import annotations

import re

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
