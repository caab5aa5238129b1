"""The OpenAPI 3.1 description of an app's API, generated from the model (served at /api/openapi.json).

Per entity: the record as the API returns it (`<entity>`), what a create takes (`<entity>_input`, with its
required fields) and what a change takes (`<entity>_patch`: the version and any fields), child rows as their
own schemas, choices as enums, links as record ids. Decimals are exact: strings on the way out, a string or a
JSON number on the way in. Every refusal is a Problem (RFC 9457).
"""

from __future__ import annotations

from typing import Any

from dsl.model import App, Entity, EntityKind, Field, FieldType
from engine.web.api.batch import MAX_OPERATIONS, METHODS
from engine.web.api.operations import LIST_PARAMETERS
from engine.web.api.tables import KEY_LENGTH
from engine.web.csrf import HEADER as CSRF_HEADER

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
REF = "#/components/schemas/"
INT64_MAX = 2**63 - 1


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "enum" in schema:
        return {**schema, "enum": [*schema["enum"], None]}
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    return {"anyOf": [schema, {"type": "null"}]}


def _label(field: Field | Entity) -> dict[str, str]:
    text = " / ".join(field.label.all())
    return {"title": text} if text else {}


def field_schema(app: App, field: Field, *, writing: bool) -> dict[str, Any]:
    """The JSON Schema of one field's value (None allowed unless it is a list)."""
    kind = field.type
    schema: dict[str, Any]
    if kind in (FieldType.STRING, FieldType.TEXT, FieldType.ATTACHMENT):
        schema = {"type": "string"}
        if kind is FieldType.STRING:
            schema["maxLength"] = field.max_length or 140
    elif kind is FieldType.INT:
        schema = {"type": "integer", "minimum": -INT64_MAX, "maximum": INT64_MAX}
    elif field.is_numeric:
        digits = (field.precision or 18) - (field.scale if field.scale is not None else 2)
        text = {"type": "string", "pattern": DECIMAL_PATTERN}
        schema = {"anyOf": [text, {"type": "number"}]} if writing else text
        schema["description"] = (f"an exact decimal, {field.scale if field.scale is not None else 2} places, "
                                 f"at most {digits} digits before the point")
    elif kind is FieldType.BOOL:
        schema = {"type": "boolean"}
    elif kind is FieldType.DATE:
        schema = {"type": "string", "format": "date"}
    elif kind is FieldType.DATETIME:
        schema = {"type": "string", "format": "date-time",
                  "description": f"in the app's time zone ({app.timezone}) when given without an offset"}
    elif kind is FieldType.CHOICE:
        schema = {"enum": [choice.value for choice in field.options]}
    elif kind is FieldType.LINK:
        one = {"type": "integer", "minimum": 1, "maximum": INT64_MAX, "description": f"the id of a {field.link}"}
        if field.many:
            return {**_label(field), "type": "array", "items": one}
        schema = one
    elif kind is FieldType.TABLE:
        child = app.entities[field.table or ""]
        return {**_label(field), "type": "array",
                "items": _ref(f"{child.name}_input" if writing else child.name)}
    else:  # pragma: no cover - every field type is listed above
        schema = {}
    return {**_label(field), **_nullable(schema)}


SYSTEM_OUT: dict[str, dict[str, Any]] = {
    "id": {"type": "integer"},
    "version": {"type": "integer", "description": "give it back when changing the record (optimistic locking)"},
    "created_at": {"type": "string", "format": "date-time"},
    "created_by": {"type": ["integer", "null"]},
    "modified_at": {"type": "string", "format": "date-time"},
    "modified_by": {"type": ["integer", "null"]},
}
DOCUMENT_OUT: dict[str, dict[str, Any]] = {
    "doc_no": {"type": ["string", "null"], "description": "given at submit"},
    "docstatus": {"enum": ["draft", "submitted", "cancelled"]},
    "amended_from": {"type": ["integer", "null"]},
}
ROW_OUT: dict[str, dict[str, Any]] = {"id": {"type": "integer"}, "idx": {"type": "integer"}}


def _state_field(app: App, entity: Entity) -> str | None:
    return next((w.state_field for w in app.workflows.values() if w.entity == entity.name), None)


def entity_schemas(app: App, entity: Entity) -> dict[str, dict[str, Any]]:
    """The output, input (and for top-level entities, patch) schemas of one entity."""
    name = entity.name
    out: dict[str, Any] = {}
    writable: dict[str, Any] = {}
    required = []
    state = _state_field(app, entity)
    for field in entity.fields.values():
        out[field.name] = field_schema(app, field, writing=False)
        if field.computed or field.read_only or field.name == state:
            out[field.name]["readOnly"] = True
            continue
        writable[field.name] = field_schema(app, field, writing=True)
        if field.required and field.default is None:
            required.append(field.name)
    if entity.kind is EntityKind.CHILD:
        system = dict(ROW_OUT)
        writable["id"] = {"type": "integer", "minimum": 1, "description": "an existing row's id (to keep it)"}
    else:
        system = dict(SYSTEM_OUT)
        if entity.is_document:
            system |= DOCUMENT_OUT
        if state and state not in entity.fields:
            system[state] = {"type": "string", "readOnly": True, "description": "the workflow's state"}
    output = {**_label(entity), "type": "object", "properties": {**system, **out}, "required": ["id"]}
    result = {name: output,
              f"{name}_input": {**_label(entity), "type": "object", "properties": writable, "required": required,
                                "additionalProperties": False}}
    if entity.kind is not EntityKind.CHILD:
        result[f"{name}_patch"] = {"type": "object", "properties": {"version": _version(), **writable},
                                   "required": ["version"], "additionalProperties": False}
    return result


def _version() -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": INT64_MAX,
            "description": "the version of the record you read; a stale one is refused with 409"}


def _problem_schemas() -> dict[str, Any]:
    return {
        "Problem": {
            "type": "object", "description": "RFC 9457 problem details",
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"},
                "errors": {"type": "array", "description": "422: every problem, by field (lines[2].qty)",
                           "items": {"type": "object", "required": ["field", "message"],
                                     "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
                "current": {"type": "object", "description": "409: the record as it is now"},
                "used_by": {"type": "array", "items": {"type": "object"},
                            "description": "409 on delete: the records that use this one"},
            },
            "required": ["type", "title", "status", "detail"],
        },
        "Version": {"type": "object", "properties": {"version": _version()}, "required": ["version"],
                    "additionalProperties": False},
        "Empty": {"type": "object", "additionalProperties": False},
        "Make": {"type": "object", "additionalProperties": False, "properties": {"values": {
            "type": ["object", "null"],
            "description": "what the mappings leave to the user: fields by name, the mapped lines by position"}}},
        "Action": {"type": "object", "properties": {
            "version": _version(), "comment": {"type": ["string", "null"]},
            "values": {"type": ["object", "null"], "description": "fields the transition requires"}},
            "required": ["version"], "additionalProperties": False},
        "BatchRequest": {"type": "object", "required": ["operations"], "additionalProperties": False,
                         "properties": {"operations": {
                             "type": "array", "minItems": 1, "maxItems": MAX_OPERATIONS,
                             "items": {"type": "object", "required": ["key", "method", "path"],
                                       "additionalProperties": False, "properties": {
                                           "key": {"type": "string", "minLength": 1, "maxLength": KEY_LENGTH,
                                                   "description": "the operation's idempotency key"},
                                           "method": {"enum": list(METHODS)},
                                           "path": {"type": "string", "description": "e.g. /api/item/5"},
                                           "body": {}}}}}},
        "BatchResponse": {"type": "object", "required": ["results"], "properties": {"results": {
            "type": "array", "items": {"type": "object", "required": ["key", "status", "replayed"], "properties": {
                "key": {"type": "string"}, "status": {"type": "integer"}, "body": {},
                "replayed": {"type": "boolean", "description": "answered from an earlier application"}}}}}},
    }


def _problems(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": f"#/components/responses/{status}"} for status in statuses}


READ_ERRORS = (400, 401, 403, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422)
RESPONSES = {
    400: "the request cannot be read (bad JSON, filter or parameter)",
    401: "no valid API token or login",
    403: "the user's roles do not allow this",
    404: "no such entity or record (or not visible to the user)",
    409: "the record changed meanwhile (current values in `current`), or its state does not allow this",
    413: "the body is too large",
    415: "the body is not JSON",
    422: "the values have problems, listed by field in `errors`",
}


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any] | None = None, status: int = 200) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {"application/json": {"schema": schema}}
    return {str(status): response}


ID_PARAMETER = {"name": "id", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": INT64_MAX}}


def entity_paths(app: App, entity: Entity) -> dict[str, Any]:
    name, tag = entity.name, [entity.name]
    label = entity.label.get(app.locale)
    listing = {
        "tags": tag, "summary": f"list {label}", "operationId": f"list_{name}",
        "parameters": [
            {"name": "filter", "in": "query", "schema": {"type": "string"},
             "description": "a condition in the formula language, e.g. qty < 10"},
            {"name": "search", "in": "query", "schema": {"type": "string"}},
            {"name": "sort", "in": "query", "schema": {"type": "string"},
             "description": "comma-separated columns, - for descending, e.g. -date,doc_no"},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500,
                                                        "default": 50}},
            {"name": "after", "in": "query", "schema": {"type": "string"},
             "description": "the cursor of the previous page (its `cursor`; `next` is the whole URL)"},
        ],
        "responses": {**_ok("a page of records", {
            "type": "object", "required": ["data", "next", "cursor", "sort"], "properties": {
                "data": {"type": "array", "items": _ref(name)}, "next": {"type": ["string", "null"]},
                "cursor": {"type": ["string", "null"]}, "sort": {"type": "array", "items": {"type": "string"}}}}),
            **_problems(*READ_ERRORS)},
    }
    assert {p["name"] for p in listing["parameters"]} == set(LIST_PARAMETERS)
    create: dict[str, Any] = {
        "tags": tag, "summary": f"create a {label}", "operationId": f"create_{name}",
        "requestBody": _body(_ref(f"{name}_input")),
        "responses": {**_ok("the new record", _ref(name), 201), **_problems(*WRITE_ERRORS)},
    }
    if entity.is_document:
        create["parameters"] = [{"name": "submit", "in": "query", "schema": {"type": "boolean"},
                                 "description": "also submit it, in the same transaction"}]
    one = f"/api/{name}/{{id}}"
    paths: dict[str, Any] = {
        f"/api/{name}": {"get": listing, "post": create},
        one: {
            "parameters": [ID_PARAMETER],
            "get": {"tags": tag, "summary": f"read a {label}", "operationId": f"get_{name}",
                    "responses": {**_ok("the record", _ref(name)), **_problems(*READ_ERRORS)}},
            "patch": {"tags": tag, "summary": f"change a {label}", "operationId": f"update_{name}",
                      "requestBody": _body(_ref(f"{name}_patch")),
                      "responses": {**_ok("the changed record", _ref(name)), **_problems(*WRITE_ERRORS)}},
            "delete": {"tags": tag, "summary": f"delete a {label}", "operationId": f"delete_{name}",
                       "responses": {**_ok("deleted", None, 204), **_problems(*WRITE_ERRORS)}},
        },
        f"{one}/history": {"parameters": [ID_PARAMETER], "get": {
            "tags": tag, "summary": "the audit trail", "operationId": f"history_{name}",
            "responses": {**_ok("who changed what, oldest first", {"type": "object", "properties": {
                "data": {"type": "array", "items": {"type": "object"}}}}), **_problems(*READ_ERRORS)}}},
    }

    def post(path: str, verb: str, summary: str, body: str, status: int = 200, result: str = name) -> None:
        paths[f"{one}/{path}"] = {"parameters": [ID_PARAMETER], "post": {
            "tags": tag, "summary": summary, "operationId": f"{verb}_{name}",
            "requestBody": _body(_ref(body), required=body not in ("Empty", "Make")),
            "responses": {**_ok("the record", _ref(result), status), **_problems(*WRITE_ERRORS)}}}

    if entity.is_document:
        post("submit", "submit", f"submit a {label}", "Version")
        post("cancel", "cancel", f"cancel a submitted {label}", "Version")
        if entity.amend:
            post("amend", "amend", f"a corrected copy of a cancelled {label}", "Empty", 201)
    for target in app.entities.values():
        if name in target.make_from:
            post(f"make/{target.name}", f"make_{target.name}_from", f"make a {target.name} from this {label}",
                 "Make", 201, target.name)
    workflow = next((w for w in app.workflows.values() if w.entity == name), None)
    if workflow is not None:
        paths[f"{one}/actions"] = {"parameters": [ID_PARAMETER], "get": {
            "tags": tag, "summary": "the workflow actions the user may take now", "operationId": f"actions_{name}",
            "responses": {**_ok("the actions", {"type": "object", "properties": {
                "data": {"type": "array", "items": {"type": "object"}}}}), **_problems(*READ_ERRORS)}}}
        for step in dict.fromkeys(t.action for t in workflow.transitions):
            post(f"actions/{step}", f"{step}", f"workflow action {step}", "Action")
            paths[f"{one}/actions/{step}"]["post"]["operationId"] = f"action_{step}_{name}"
    return paths


def openapi_document(app: App) -> dict[str, Any]:
    schemas = _problem_schemas()
    paths: dict[str, Any] = {}
    for entity in app.entities.values():
        schemas.update(entity_schemas(app, entity))
        if entity.kind is not EntityKind.CHILD:
            paths.update(entity_paths(app, entity))
    entity_entry = {"type": "object", "required": ["name", "label", "kind", "url"], "properties": {
        "name": {"type": "string"}, "label": {"type": "string"}, "kind": {"enum": ["master", "document"]},
        "url": {"type": "string"}}}
    index = {"type": "object", "required": ["app", "openapi", "entities"], "properties": {
        "app": {"type": "string"}, "openapi": {"type": "string"}, "entities": {"type": "array", "items": entity_entry}}}
    paths["/api/"] = {"get": {"tags": ["api"], "summary": "the entities the user may read", "operationId": "index",
                              "responses": {**_ok("the entities", index), **_problems(401)}}}
    paths["/api/batch"] = {"post": {
        "tags": ["batch"], "summary": "several operations, each applied at most once (by its key)",
        "operationId": "batch", "requestBody": _body(_ref("BatchRequest")),
        "responses": {**_ok("one result per operation, in order", _ref("BatchResponse")),
                      **_problems(400, 401, 413, 415, 422)}}}
    problem = {"application/problem+json": {"schema": _ref("Problem")}}
    return {
        "openapi": "3.1.0",
        "info": {"title": app.title.get(app.locale) or app.name, "version": app.version,
                 "description": f"The REST API of the jxc app {app.name}, generated from its model. Decimals are "
                                "exact strings; every refusal is application/problem+json."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {str(status): {"description": text, "content": problem}
                          for status, text in RESPONSES.items()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "an API token from `jxc token create`"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "jxc_session",
                           "description": f"the browser's login; writes also need the {CSRF_HEADER} header"},
            },
        },
        "security": [{"bearer": []}, {"cookie": []}],
    }
