"""The OpenAPI document, made true once for every route (not hand-listed per route).

FastAPI describes what the routes declare; this post-processing adds what the runtime
around them does to every request, derived from the routes themselves:

- every error is `application/problem+json` with the `Problem` schema (the handlers in
  `core.http` serve nothing else), FastAPI's default 422 included;
- an operation guarded by a required bearer dependency declares 401; one whose bearer
  dependency is optional (it serves anonymous callers too) says so with an empty security
  alternative (`security: [{HTTPBearer: []}, {}]`) and still declares 401 (a bad token is
  refused, never ignored);
- an operation with a JSON body declares 400 `malformed_json`; any body, 413 (the body
  cap of `RequestContextMiddleware`, or the file cap on upload routes);
- an operation with a path parameter or a required typed-id query parameter declares 404;
- a creating operation (POST answering 201 with a body whose `id` is a typed id) links
  (OpenAPI `links`) to what the new id opens: the operations on the resource's own path
  (`/tiers/{tier_id}`: read, update, delete) and the creating POSTs under it
  (`/events/{event_id}/tiers`), matched by the id's pattern (`^evt_...`). Clients and the
  stateful fuzzer (tests/contract/test_fuzz.py) follow create -> read -> update -> delete.

Routes keep declaring what only they know (403 `capability_required`, 409s, 429s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": (
        "RFC 9457 problem details. `code` is stable (branch on it); `title` is a short "
        "human summary and `detail` a sentence for people. `request_id` is the "
        "`X-Request-ID` of the request (quote it when reporting an error). Some problems "
        "carry more members (`errors` on a 422, `capability`, `retry_after`, ...)."
    ),
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "type": {"type": ["string", "null"]},
                    "message": {"type": ["string", "null"]},
                },
            },
        },
    },
    "additionalProperties": True,
}

_GENERIC: dict[str, str] = {
    "400": "`malformed_json`: the body is not JSON.",
    "401": "`unauthorized`, `invalid_token`, `session_revoked`: no valid access token.",
    "404": "No such resource, or the caller may not know it exists.",
    "413": "`payload_too_large` (or `file_too_large` on uploads): the body is too large.",
}


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def bearer_requirement(route: APIRoute) -> bool | None:
    """True when the route needs a bearer token, False when it takes one optionally, None
    when it has none. A security dependency is optional when it says so (`required` or
    `auto_error` false)."""
    found: bool | None = None
    for call in _calls(route.dependant):
        if isinstance(call, SecurityBase):
            required = bool(getattr(call, "required", getattr(call, "auto_error", True)))
            found = required or bool(found)
    return found


def _names_a_resource(operation: dict[str, Any]) -> bool:
    """A path parameter, or a required query parameter that is a typed id (its pattern
    starts with a prefix: `^evt_...`): either may name something that does not exist."""
    for param in operation.get("parameters", []):
        if param.get("in") == "path":
            return True
        pattern = param.get("schema", {}).get("pattern", "")
        if param.get("required") and pattern.startswith("^") and "_[" in pattern:
            return True
    return False


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}


def _is_default_json(response: dict[str, Any]) -> bool:
    """A response FastAPI described with no model of ours (none, or its 422 schema)."""
    content = response.get("content")
    if not content:
        return True
    schema = content.get("application/json", {}).get("schema", {})
    return len(content) == 1 and (
        not schema or schema.get("$ref", "").endswith("/HTTPValidationError")
    )


def _declare(responses: dict[str, Any], status: int, description: str | None = None) -> None:
    key = str(status)
    if key not in responses:
        responses[key] = {"description": description or _GENERIC.get(key, "A problem.")}


def refine(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    """Adds to `document` what the runtime does on each operation (see the module doc)."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    paths = document.get("paths", {})
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            auth = bearer_requirement(route)
            if auth is not None:
                _declare(responses, 401)
                if auth is False:
                    operation["security"] = [*operation.get("security", []), {}]
            body = operation.get("requestBody")
            if body is not None:
                if "application/json" in body.get("content", {}):
                    _declare(responses, 400)
                _declare(responses, 413)
            if _names_a_resource(operation):
                _declare(responses, 404)
            for status, response in responses.items():
                if status[0] in "45" and _is_default_json(response):
                    response["content"] = _problem_content()
    _add_links(document)
    for unused in ("HTTPValidationError", "ValidationError"):
        if not _still_used(document, unused):
            schemas.pop(unused, None)
    return document


def _id_pattern(document: dict[str, Any], response: dict[str, Any]) -> str | None:
    """The pattern of the `id` of a JSON response body (a typed id), if it has one."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = document["components"]["schemas"].get(ref.rsplit("/", 1)[1], {})
    found = schema.get("properties", {}).get("id", {}).get("pattern")
    return found if isinstance(found, str) else None


def _path_parameters(operation: dict[str, Any]) -> dict[str, str | None]:
    """Each path parameter's name and the pattern of its schema."""
    return {
        p["name"]: p.get("schema", {}).get("pattern")
        for p in operation.get("parameters", [])
        if p.get("in") == "path"
    }


def _add_links(document: dict[str, Any]) -> None:
    """OpenAPI links from each creating operation to what its new id opens (module doc)."""
    operations = [
        (path, method, operation)
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    creating = {
        (path, method): pattern
        for path, method, operation in operations
        if method == "post"
        and (pattern := _id_pattern(document, operation["responses"].get("201", {})))
    }
    for (source_path, _), pattern in creating.items():
        source = document["paths"][source_path]["post"]
        known = set(_path_parameters(source))
        links: dict[str, Any] = {}
        for path, method, operation in operations:
            params = _path_parameters(operation)
            opened = [name for name, p in params.items() if p == pattern]
            if len(opened) != 1 or not set(params) - {opened[0]} <= known:
                continue
            tail = path.partition("{" + opened[0] + "}")[2]
            own = tail == ""  # /tiers/{tier_id}
            child = tail.count("/") == 1 and (path, method) in creating  # /events/{id}/tiers
            if not (own or child):
                continue
            parameters = {f"path.{opened[0]}": "$response.body#/id"}
            parameters.update({f"path.{n}": f"$request.path.{n}" for n in params if n != opened[0]})
            links[operation["operationId"]] = {
                "operationId": operation["operationId"],
                "parameters": parameters,
            }
        if links:
            source["responses"]["201"]["links"] = links


def _still_used(document: dict[str, Any], name: str) -> bool:
    ref = f"#/components/schemas/{name}"

    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            return node.get("$ref") == ref or any(walk(v) for v in node.values())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    others = {
        k: v for k, v in document.get("components", {}).get("schemas", {}).items() if k != name
    }
    return walk(document.get("paths", {})) or walk(others)


def install_openapi(app: FastAPI, *, description: str, tags: Iterable[dict[str, str]] = ()) -> None:
    """Replaces `app.openapi` with one that builds the document once, refined."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=description,
                routes=app.routes,
                tags=list(tags) or None,
            )
            app.openapi_schema = refine(app, document)
        return app.openapi_schema

    setattr(app, "openapi", openapi)  # noqa: B010  (FastAPI's documented override)


OpenAPIFactory = Callable[[], dict[str, Any]]
