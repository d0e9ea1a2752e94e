"""The OpenAPI 3 document, built from the live router so it cannot drift from the routes that exist.

Each route's description is a fragment that lives next to it. Two ways to attach one:

* `@describe(...)` on a handler (new modules do this; it sets `handler.__openapi__`):

      @routes.get("/v2/things/{id}")
      @describe("One thing", tags=["v2"], query={"full": "include everything"},
                responses={200: obj("the thing"), 404: ERROR})
      async def get_thing(request): ...

* `register(method, path, fragment)` for handlers that are not decorated (the ComfyUI routes, documented in
  `api/openapi_comfy.py`, keyed by their `/api` path).

`build_document(app)` walks `app.router`: every route appears under its `/api` path (the alias at `/` is the
same operation and is listed in `info.description`); a route without a fragment appears with
`x-undocumented: true`, which `tests/api/test_openapi.py` refuses, so adding a route without describing it
fails the tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web

Fragment = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

#: Fragments registered by (METHOD, /api path) for handlers without `@describe`.
REGISTERED: dict[tuple[str, str], Fragment] = {}
#: Component schemas other modules publish (api/v2 adds the Comfy API v2 contract's, named `V2...`).
SCHEMAS: dict[str, Fragment] = {}
#: Routes that are not part of the API proper and stay out of the document (static files, the docs page).
HIDDEN_PATHS = frozenset({"/{path}"})
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ERROR_SCHEMA: Fragment = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "string"},
                "extra_info": {"type": "object"},
            },
            "required": ["type", "message"],
        },
        "node_errors": {"type": "object", "description": "node id → {errors, dependent_outputs, class_type}"},
    },
    "required": ["error"],
}
#: A JSON error response (`{"error": {...}}`), the shape of every refusal.
ERROR: Fragment = {"description": "refused; the body says why", "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
OK_EMPTY: Fragment = {"description": "done (empty body)"}


def obj(description: str, schema: Fragment | None = None) -> Fragment:
    """A JSON response fragment."""
    return {"description": description,
            "content": {"application/json": {"schema": schema or {"type": "object"}}}}


def binary(description: str, media: str = "application/octet-stream") -> Fragment:
    """A non-JSON response fragment (files, pages)."""
    return {"description": description, "content": {media: {"schema": {"type": "string", "format": "binary"}}}}


def fragment(
    summary: str,
    *,
    description: str = "",
    tags: list[str] | None = None,
    query: Mapping[str, str] | None = None,
    body: Fragment | None = None,
    body_description: str = "",
    multipart: Mapping[str, str] | None = None,
    responses: Mapping[int, Fragment] | None = None,
) -> Fragment:
    """An operation object: query parameters by name → description, a JSON or multipart body, responses."""
    operation: Fragment = {"summary": summary}
    if description:
        operation["description"] = description
    if tags:
        operation["tags"] = list(tags)
    if query:
        operation["parameters"] = [
            {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
            for name, text in query.items()
        ]
    if body is not None:
        operation["requestBody"] = {"description": body_description, "required": True,
                                    "content": {"application/json": {"schema": body}}}
    elif multipart:
        properties = {name: ({"type": "string", "format": "binary"} if name in ("image", "file")
                             else {"type": "string"}) | {"description": text} for name, text in multipart.items()}
        operation["requestBody"] = {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": properties}}}}
    operation["responses"] = {str(code): value for code, value in (responses or {200: obj("ok")}).items()}
    return operation


def describe(summary: str, **options: Any) -> Callable[[F], F]:
    """Attach an operation fragment to a handler (see `fragment` for the options)."""
    built = fragment(summary, **options)

    def attach(handler: F) -> F:
        handler.__openapi__ = built  # type: ignore[attr-defined]
        return handler

    return attach


def register(method: str, path: str, operation: Fragment) -> None:
    """Describe the route `method path` (its `/api` path) without decorating its handler."""
    REGISTERED[(method.upper(), path)] = operation


_TEMPLATE = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def _template(path: str) -> str:
    """aiohttp's `{name:regex}` → OpenAPI's `{name}`."""
    return _TEMPLATE.sub(r"{\1}", path)


def route_table(app: web.Application) -> list[tuple[str, str, Any]]:
    """(method, OpenAPI path, handler) of every documented route, `/` aliases folded into their `/api` twin."""
    rows: dict[tuple[str, str], Any] = {}
    for route in app.router.routes():
        method = route.method.upper()
        info = route.resource.get_info() if route.resource is not None else {}
        raw = str(info.get("path") or info.get("formatter") or "")
        if method not in METHODS or not raw:
            continue
        rows[(method, _template(raw))] = route.handler
    table: list[tuple[str, str, Any]] = []
    for (method, path), handler in rows.items():
        if path in HIDDEN_PATHS:
            continue
        if not path.startswith("/api/") and (method, "/api" + path) in rows:
            continue  # the `/` alias of an `/api` route
        table.append((method, path, handler))
    return sorted(table, key=lambda row: (row[1], row[0]))


def _parameters(path: str, operation: Fragment) -> list[Fragment]:
    named = {parameter["name"] for parameter in operation.get("parameters", [])}
    in_path = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
               for name in re.findall(r"\{([^}]+)\}", path) if name not in named]
    return in_path + list(operation.get("parameters", []))


def build_document(app: web.Application, version: str) -> Fragment:
    """The OpenAPI 3.1 document of `app` as it is routed now."""
    paths: dict[str, dict[str, Fragment]] = {}
    for method, path, handler in route_table(app):
        found = getattr(handler, "__openapi__", None) or REGISTERED.get((method, path))
        if found is None:
            operation: Fragment = {"summary": f"{method} {path}", "x-undocumented": True,
                                   "responses": {"200": {"description": "ok"}}}
        else:
            operation = dict(found)
        parameters = _parameters(path, operation)
        if parameters:
            operation["parameters"] = parameters
        operation.setdefault("operationId", _operation_id(method, path))
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Latent Loom API",
            "version": version,
            "description": (
                "ComfyUI's HTTP and websocket API plus Latent Loom's additions. Every route under `/api/` is "
                "also served without the `/api` prefix (as ComfyUI does). When the server has an access token, "
                "send it as `Authorization: Bearer TOKEN`."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **SCHEMAS},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", path.removeprefix("/api")).strip("_") or "root"
    return f"{method.lower()}_{words}"
