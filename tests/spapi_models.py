"""Amazon's published SP-API models as the tests carry them (tests/amazon/models, derived from
shared/spapi-models by tests/amazon/derive.py), as a checker for the simulator: every answer is
validated against the response schema the model gives for its path, method and status, with a
JSON-schema validator over the model's own definitions.

The models are Swagger 2.0; their schemas are JSON Schema draft 4 with `$ref`s into
`#/definitions`. Two things are made strict that Swagger leaves open, because an answer Amazon
never sends hides a client bug: an object whose model lists its properties admits no other
property (`additionalProperties: false`, unless the model says otherwise), and `date-time`
values must be real ISO 8601 times.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema

MODELS = Path(__file__).resolve().parent / "amazon" / "models"


def _strict(schema: Any, loose_refs: bool = False) -> Any:
    """A deep copy with additionalProperties false on every object that lists its properties.
    Parts of an allOf stay open (the allOf itself is closed over all their properties)."""
    if isinstance(schema, list):
        return [_strict(s, loose_refs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    result = {}
    for key, value in schema.items():
        if key in ("properties", "definitions", "patternProperties"):
            result[key] = {name: _strict(sub) for name, sub in value.items()}
        elif key == "allOf":
            result[key] = [_strict(part, loose_refs=True) for part in value]
        elif key in ("example", "examples", "x-amzn-api-sandbox", "enum", "required"):
            result[key] = copy.deepcopy(value)
        else:
            result[key] = _strict(value, loose_refs)
    if loose_refs and "$ref" in result:
        result["$ref"] = result["$ref"].replace("#/definitions/", "#/loose/")
    if "properties" in result and "additionalProperties" not in result and not loose_refs:
        result["additionalProperties"] = False
    return result


@dataclass
class Operation:
    model: str
    operation_id: str
    method: str
    pattern: re.Pattern
    responses: dict[str, Any]
    produces: list[str]
    parameters: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Model:
    name: str
    spec: dict[str, Any]

    @property
    def definitions(self) -> dict[str, Any]:
        return self.spec.get("definitions") or {}

    def inlined(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The strict schema with every $ref into the definitions replaced by its target (a
        recursive reference stays a $ref): validating a 100-order page takes a tenth of the time."""
        root = self.schema(schema)

        def walk(node: Any, seen: tuple[str, ...]) -> Any:
            if isinstance(node, list):
                return [walk(n, seen) for n in node]
            if not isinstance(node, dict):
                return node
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
                kind, name = ref[2:].split("/", 1)
                return walk(root[kind][name], seen + (ref,)) if len(node) == 1 else \
                    {**{k: walk(v, seen) for k, v in node.items() if k != "$ref"},
                     "allOf": [walk(root[kind][name], seen + (ref,))]}
            return {k: (v if k in ("enum", "required") else walk(v, seen)) for k, v in node.items()}

        top = {k: v for k, v in root.items() if k not in ("definitions", "loose")}
        return {**walk(top, ()), "definitions": root["definitions"], "loose": root["loose"]}

    def schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A standalone, strict JSON schema for `schema`, resolving $ref within this model."""
        strict = _strict(schema)
        if "$ref" in strict:  # a bare $ref: keywords beside it would be ignored in draft 4
            strict = {"allOf": [strict]}
        loose = {}
        for name, definition in self.definitions.items():
            loose[name] = _strict(definition)
            if "additionalProperties" not in definition:
                loose[name].pop("additionalProperties", None)
        return {**strict, "definitions": {n: _strict(d) for n, d in self.definitions.items()}, "loose": loose}


def _parameters(path_item: dict, operation: dict, model: dict) -> list[dict]:
    result = []
    for parameter in list(path_item.get("parameters") or []) + list(operation.get("parameters") or []):
        if "$ref" in parameter:
            parameter = model["parameters"][parameter["$ref"].split("/")[-1]]
        result.append(parameter)
    return result


@cache
def models() -> dict[str, Model]:
    return {path.stem: Model(path.stem, json.loads(path.read_text())) for path in sorted(MODELS.glob("*.json"))}


@cache
def operations() -> list[Operation]:
    result = []
    for model in models().values():
        for template, path_item in model.spec.get("paths", {}).items():
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            for method, operation in path_item.items():
                if not isinstance(operation, dict) or "operationId" not in operation:
                    continue
                result.append(Operation(model.name, operation["operationId"], method.upper(), re.compile(regex),
                                        operation["responses"],
                                        operation.get("produces") or model.spec.get("produces") or ["application/json"],
                                        _parameters(path_item, operation, model.spec)))
    # a literal path segment beats a parameter (/orders/{id} vs /orders/v0/...)
    result.sort(key=lambda o: o.pattern.pattern.count("[^/]+"))
    return result


def operation_for(method: str, path: str) -> Operation | None:
    for operation in operations():
        if operation.method == method and operation.pattern.fullmatch(path):
            return operation
    return None


def find(model: str, operation_id: str) -> Operation:
    return next(o for o in operations() if o.model == model and o.operation_id == operation_id)


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@_FORMATS.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    if not isinstance(value, str):
        return False
    datetime.strptime(value, "%Y-%m-%d")
    return True


@cache
def _validator(model: str, operation_id: str, method: str, status: str) -> jsonschema.Draft4Validator | None:
    operation = next(o for o in operations() if o.model == model and o.operation_id == operation_id and o.method == method)
    response = operation.responses.get(status) or operation.responses.get("default")
    if response is None or "schema" not in response:
        return None
    return jsonschema.Draft4Validator(models()[model].inlined(response["schema"]), format_checker=_FORMATS)


@cache
def quick_check(model: str, operation_id: str, method: str, status: str) -> Callable[[Any], Any]:
    """The same schema compiled to Python by fastjsonschema, ten times faster than walking it: an
    answer it passes is not walked again; one it refuses is judged by jsonschema, whose messages say
    where. It never passes what jsonschema refuses (test_models.py holds it to that)."""
    validator = _validator(model, operation_id, method, status)
    assert validator is not None
    return _compiled(json.dumps(_referenced_only(validator.schema), sort_keys=True))


def _referenced_only(schema: dict[str, Any]) -> dict[str, Any]:
    """The inlined schema without the definitions nothing in it refers to (compiling them all
    took most of the time)."""
    kept: dict[str, set[str]] = {"definitions": set(), "loose": set()}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                kind, name = ref[2:].split("/", 1)
                if name not in kept[kind]:
                    kept[kind].add(name)
                    walk(schema[kind][name])
            for key, value in node.items():
                if key not in ("enum", "required"):
                    walk(value)

    walk({k: v for k, v in schema.items() if k not in kept})
    return {**{k: v for k, v in schema.items() if k not in kept},
            **{kind: {name: schema[kind][name] for name in names} for kind, names in kept.items()}}


@cache
def _compiled(schema: str) -> Callable[[Any], Any]:
    """One compiled check per distinct schema (the error answers of a model share theirs). Without
    the detail of each failure (which copied the failing rule into the code: three times the time
    to compile): an answer it refuses is judged again by jsonschema, which says where."""
    return fastjsonschema.compile(json.loads(schema), detailed_exceptions=False, formats={
        "date-time": lambda value: _FORMATS.conforms(value, "date-time"),
        "date": lambda value: _FORMATS.conforms(value, "date")})


def problems(method: str, path: str, status: int, body: Any, content_type: str = "application/json") -> list[str]:
    """What is wrong with this answer by Amazon's model ([] when it conforms, or when the path is
    not an SP-API one, e.g. the login or a presigned document URL)."""
    operation = operation_for(method, path)
    if operation is None:
        if path.startswith(("/_", "/auth/")):
            return []
        return [f"{method} {path}: no operation in Amazon's models has this path"]
    where = f"{operation.model} {operation.operation_id} {status}"
    if str(status) not in operation.responses and "default" not in operation.responses:
        return [f"{where}: the model has no {status} answer for this operation"]
    validator = _validator(operation.model, operation.operation_id, method, str(status))
    if validator is None:
        return []
    found = []
    media = content_type.split(";")[0].strip()
    if status < 300 and media not in operation.produces:
        found.append(f"{where}: Content-Type {media}, the model produces {', '.join(operation.produces)}")
    if isinstance(body, (bytes, bytearray)):
        try:
            body = json.loads(body) if body else None
        except ValueError:
            return found + [f"{where}: the body is not JSON"]
    try:
        quick_check(operation.model, operation.operation_id, method, str(status))(body)
        return found
    except fastjsonschema.JsonSchemaException:
        pass
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))[:5]:
        at = "/".join("*" if isinstance(p, int) else str(p) for p in error.absolute_path) or "(root)"
        found.append(f"{where}: {at}: {error.message[:300]}")
    return found


def sandbox_examples(model: str, operation_id: str, status: str = "200") -> list[dict[str, Any]]:
    """Amazon's own x-amzn-api-sandbox example answers for an operation."""
    operation = find(model, operation_id)
    static = (operation.responses.get(status, {}).get("x-amzn-api-sandbox") or {}).get("static") or []
    return [example["response"] for example in static if "response" in example]


def required_query(model: str, operation_id: str) -> set[str]:
    """The query parameters the model marks required for an operation."""
    return {p["name"] for p in find(model, operation_id).parameters if p.get("in") == "query" and p.get("required")}
