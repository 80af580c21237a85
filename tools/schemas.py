"""JSON Schemas (draft 4) of every event the gateway publishes or consumes, generated from the pydantic models.

    python -m tools.schemas            # (re)write schemas/*.json and the template's generated block
    python -m tools.schemas --check    # only report what is stale or missing; exit 1 if anything is

What is picked up, with nothing to register by hand:
- published: every subclass of `wab.models.events.EventDetail` (in any module of `wab.models` or its packages) that sets
  `detail_type`;
- consumed: every command model of `wab.models.commands`, i.e. every model there with a `command: Literal[...]`
  field, named by the module's `DETAIL_TYPES` (detail-type → command), or by its own `detail_type` if it sets one.

Each file `schemas/<detail-type-in-kebab-case>.json` describes the whole EventBridge event (the envelope with
`x-amazon-events-detail-type` / `x-amazon-events-source`, as EventBridge's own registry does), with the detail under
`definitions`. A command also travels as the bare detail in the body of a message sent straight to the send queue.
A command's `message` travels flat: the message type and its object sit beside the command's own keys (see
`MessageCommand.gather_message`), so the schema spells each message type out as one flat alternative; a field the
model accepts under several names (`AliasChoices`, e.g. `destination` or `to`) is accepted under each of them.

The template keeps an `AWS::EventSchemas::Schema` per published event between the BEGIN/END GENERATED EVENT SCHEMAS
markers. CloudFormation cannot read files, so the schema is inlined there; this generator owns that block and
rewrites it together with the files, and tests/unit/test_schemas.py fails (pointing at `make schemas`) when either
the files or the block differ from what the models give now.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import re
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.json_schema import JsonSchemaMode

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "wab"
SCHEMAS_DIR = ROOT / "schemas"
TEMPLATE = ROOT / "template.yaml"
DRAFT4 = "http://json-schema.org/draft-04/schema#"
COMMANDS_MODULE = "wab.models.commands"
BLOCK_BEGIN = "  # BEGIN GENERATED EVENT SCHEMAS"
BLOCK_END = "  # END GENERATED EVENT SCHEMAS"
BLOCK_HEADER = (
    "  # BEGIN GENERATED EVENT SCHEMAS: `make schemas` (python -m tools.schemas) rewrites this block from the "
    "event models,\n"
    "  # with the same content as schemas/*.json; tests/unit/test_schemas.py fails when it is stale. "
    "Do not edit by hand.\n"
)
ENVELOPE_REQUIRED = ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]

if str(LAYER) not in sys.path:
    sys.path.insert(0, str(LAYER))  # the `wab` package lives in the layer's folder, as under /opt/python in Lambda


@dataclass(frozen=True)
class EventModel:
    detail_type: str
    model: type[BaseModel]
    direction: str  # "published" or "consumed"

    @property
    def file_name(self) -> str:
        return kebab(self.detail_type) + ".json"

    @property
    def pascal_name(self) -> str:
        return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", self.detail_type) if word)


def kebab(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ---------------------------------------------------------------------------------------------------------------
# Finding the models
# ---------------------------------------------------------------------------------------------------------------


def _model_modules() -> list[Any]:
    import wab.models

    return [importlib.import_module(info.name) for info in pkgutil.walk_packages(wab.models.__path__, "wab.models.")]


def _subclasses[T](cls: type[T]) -> list[type[T]]:
    found: list[type[T]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def _command_kind(model: type) -> str | None:
    """The value of a command model's `command: Literal["…"]` field, or None when it is not a command model."""
    field = getattr(model, "model_fields", {}).get("command")
    if field is None or typing.get_origin(field.annotation) is not typing.Literal:
        return None
    values = typing.get_args(field.annotation)
    return values[0] if len(values) == 1 else None


def discover() -> list[EventModel]:
    """Every published event and consumed command, sorted by detail-type."""
    from pydantic import BaseModel

    modules = _model_modules()
    from wab.models.events import EventDetail

    events: dict[str, EventModel] = {}

    def add(found: EventModel) -> None:
        previous = events.get(found.detail_type)
        if previous is not None and previous.model is not found.model:
            raise SystemExit(f"{found.detail_type!r} is claimed by both {previous.model} and {found.model}")
        events[found.detail_type] = found

    for model in _subclasses(EventDetail):
        detail_type = model.__dict__.get("detail_type")
        if isinstance(detail_type, str) and model.__module__ != COMMANDS_MODULE:
            add(EventModel(detail_type, model, "published"))

    commands = next((module for module in modules if module.__name__ == COMMANDS_MODULE), None)
    if commands is not None:
        kind_to_detail_type = {kind: detail_type for detail_type, kind in getattr(commands, "DETAIL_TYPES", {}).items()}
        for model in vars(commands).values():
            if not (isinstance(model, type) and issubclass(model, BaseModel) and model.__module__ == COMMANDS_MODULE):
                continue
            own = model.__dict__.get("detail_type")
            kind = _command_kind(model)
            if isinstance(own, str):
                add(EventModel(own, model, "consumed"))
            elif kind is not None:
                if kind not in kind_to_detail_type:
                    raise SystemExit(f"{model.__name__}: command {kind!r} has no detail-type in DETAIL_TYPES")
                add(EventModel(kind_to_detail_type[kind], model, "consumed"))
    return sorted(events.values(), key=lambda event: event.detail_type)


# ---------------------------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------------------------

_DROPPED_KEYWORDS = {"discriminator", "examples", "deprecated", "readOnly", "writeOnly"}


def to_draft4(node: Any) -> Any:
    """Rewrite what pydantic emits (JSON Schema 2020-12) into draft 4, which the EventBridge registry takes."""
    if isinstance(node, list):
        return [to_draft4(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "prefixItems":  # a tuple: draft 4 spells it `items: [...]`, the rest `additionalItems`
            out["items"] = to_draft4(value)
            if "items" in node:
                out["additionalItems"] = to_draft4(node["items"])
        elif key == "items" and "prefixItems" in node:
            continue
        elif key == "$ref" and isinstance(value, str):
            out[key] = value.replace("#/$defs/", "#/definitions/")
        elif key in ("properties", "$defs", "definitions", "patternProperties"):
            out["definitions" if key == "$defs" else key] = {name: to_draft4(item) for name, item in value.items()}
        else:
            out[key] = to_draft4(value)
    return out


def _flatten_message(detail: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A command with a `message` union becomes one flat alternative per message type (as it travels)."""
    properties = detail.get("properties") or {}
    if "message" not in properties:
        return detail
    union = properties["message"]
    variants = union.get("oneOf") or union.get("anyOf") or [union]
    own_properties = {name: value for name, value in properties.items() if name != "message"}
    own_required = [name for name in detail.get("required", []) if name != "message"]
    alternatives = []
    for variant in variants:
        if "$ref" in variant:
            variant = definitions[variant["$ref"].rsplit("/", 1)[-1]]
        alternative = {key: value for key, value in detail.items() if key not in ("properties", "required", "title")}
        alternative["title"] = variant.get("title", detail.get("title"))
        alternative["properties"] = {**own_properties, **(variant.get("properties") or {})}
        alternative["required"] = own_required + [
            name for name in variant.get("required", []) if name not in own_required
        ]
        alternatives.append(alternative)
    flat = {"title": detail.get("title"), "description": detail.get("description"), "oneOf": alternatives}
    return {key: value for key, value in flat.items() if value is not None}


def _alias_choices(model: type[BaseModel]) -> dict[str, list[str]]:
    """Fields a command accepts under more than one name (`AliasChoices`): the schema's name → the others."""
    from pydantic import AliasChoices

    aliases = {}
    for field in model.model_fields.values():
        if isinstance(field.validation_alias, AliasChoices):
            names = [choice for choice in field.validation_alias.choices if isinstance(choice, str)]
            if len(names) > 1:
                aliases[names[0]] = names[1:]
    return aliases


def _accept_aliases(detail: dict[str, Any], aliases: dict[str, list[str]]) -> dict[str, Any]:
    """Each alias becomes a property of its own; a required field then needs exactly one of its names."""
    for target in detail["oneOf"] if "oneOf" in detail and "properties" not in detail else [detail]:
        properties = target.get("properties") or {}
        for name, others in aliases.items():
            if name not in properties:
                continue
            for other in others:
                properties[other] = properties[name]
            if name in target.get("required", []):
                target["required"] = [field for field in target["required"] if field != name]
                target.setdefault("allOf", []).append({"oneOf": [{"required": [choice]} for choice in (name, *others)]})
                if not target["required"]:
                    del target["required"]  # draft 4 wants at least one name in `required`
    return detail


def _unused_definitions_removed(schema: dict[str, Any]) -> dict[str, Any]:
    definitions = schema.get("definitions") or {}
    used: set[str] = set()
    pending: list[Any] = [{key: value for key, value in schema.items() if key != "definitions"}]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/definitions/"):
                name = ref.rsplit("/", 1)[-1]
                if name not in used:
                    used.add(name)
                    pending.append(definitions.get(name))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    schema["definitions"] = {name: value for name, value in definitions.items() if name in used}
    return schema


def event_schema(event: EventModel) -> dict[str, Any]:
    """The JSON Schema (draft 4) of the whole EventBridge event whose detail is `event.model`."""
    from wab.models.events import SOURCE

    mode: JsonSchemaMode = "serialization" if event.direction == "published" else "validation"
    detail = to_draft4(event.model.model_json_schema(mode=mode, ref_template="#/definitions/{model}"))
    definitions = detail.pop("definitions", {})
    if event.direction == "consumed":
        detail = _accept_aliases(_flatten_message(detail, definitions), _alias_choices(event.model))
    name = event.model.__name__
    definitions[name] = detail
    if event.direction == "published":
        description = f"Published by the gateway on its bus (source {SOURCE}); the detail is {name}."
        source: dict[str, Any] = {"type": "string", "enum": [SOURCE]}
    else:
        description = (
            f"Consumed by the sender from any source but {SOURCE}, through the bus or as the body of a message on the "
            f'send queue (then the detail alone, with "command" set); the detail is {name}.'
        )
        source = {"type": "string", "not": {"enum": [SOURCE]}}
    schema: dict[str, Any] = {
        "$schema": DRAFT4,
        "title": event.detail_type,
        "description": description,
        "type": "object",
        "x-amazon-events-detail-type": event.detail_type,
    }
    if event.direction == "published":
        schema["x-amazon-events-source"] = SOURCE
    schema.update(
        {
            "required": ENVELOPE_REQUIRED,
            "properties": {
                "version": {"type": "string"},
                "id": {"type": "string"},
                "detail-type": {"type": "string", "enum": [event.detail_type]},
                "source": source,
                "account": {"type": "string"},
                "time": {"type": "string", "format": "date-time"},
                "region": {"type": "string"},
                "resources": {"type": "array", "items": {"type": "string"}},
                "detail": {"$ref": f"#/definitions/{name}"},
            },
            "definitions": definitions,
        }
    )
    return _unused_definitions_removed(schema)


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# The template's block
# ---------------------------------------------------------------------------------------------------------------


def template_block(events: list[EventModel]) -> str:
    """The generated block: one AWS::EventSchemas::Schema per published event, its Content the file's schema."""
    lines = [BLOCK_HEADER]
    for event in events:
        if event.direction != "published":
            continue
        content = json.dumps(event_schema(event), separators=(",", ":"), ensure_ascii=True).replace("'", "''")
        lines.append(
            f"  {event.pascal_name}EventSchema:\n"
            f"    Type: AWS::EventSchemas::Schema\n"
            f"    Condition: HasSchemaRegistry\n"
            f"    Properties:\n"
            f"      RegistryName: !GetAtt EventSchemaRegistry.RegistryName\n"
            f"      SchemaName: wab.gateway@{event.pascal_name}\n"
            f"      Type: JSONSchemaDraft4\n"
            f'      Description: Detail-type "{event.detail_type}" (schemas/{event.file_name}).\n'
            f"      Content: '{content}'\n"
            f"\n"
        )
    lines.append(BLOCK_END + "\n")
    return "".join(lines)


def block_span(text: str) -> tuple[int, int]:
    """Where the generated block is in the template: from its BEGIN line to the end of its END line."""
    begin = text.find(BLOCK_BEGIN)
    end = text.find(BLOCK_END)
    if begin < 0 or end < begin:
        raise SystemExit(f"{TEMPLATE.name}: no '{BLOCK_BEGIN.strip()}' … '{BLOCK_END.strip()}' block to fill")
    end_of_line = text.find("\n", end)
    return begin, (len(text) if end_of_line < 0 else end_of_line + 1)


def current_block(text: str) -> str:
    begin, end = block_span(text)
    return text[begin:end]


# ---------------------------------------------------------------------------------------------------------------
# What is stale, and writing
# ---------------------------------------------------------------------------------------------------------------


def expected_files(events: list[EventModel]) -> dict[str, str]:
    return {event.file_name: schema_text(event_schema(event)) for event in events}


def stale(events: list[EventModel] | None = None) -> list[str]:
    """What differs from what the models give: missing, changed or extra schema files, and the template block."""
    events = discover() if events is None else events
    problems = []
    expected = expected_files(events)
    present = {path.name for path in SCHEMAS_DIR.glob("*.json")} if SCHEMAS_DIR.is_dir() else set()
    for name, text in expected.items():
        path = SCHEMAS_DIR / name
        if not path.exists():
            problems.append(f"schemas/{name} is missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"schemas/{name} is stale")
    for name in sorted(present - set(expected)):
        problems.append(f"schemas/{name} matches no event model")
    if current_block(TEMPLATE.read_text(encoding="utf-8")) != template_block(events):
        problems.append(f"{TEMPLATE.name}'s generated event schemas block is stale")
    return problems


def write(events: list[EventModel]) -> list[str]:
    written = []
    SCHEMAS_DIR.mkdir(exist_ok=True)
    expected = expected_files(events)
    for name, text in expected.items():
        path = SCHEMAS_DIR / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(f"schemas/{name}")
    for path in sorted(SCHEMAS_DIR.glob("*.json")):
        if path.name not in expected:
            path.unlink()
            written.append(f"schemas/{path.name} (removed)")
    text = TEMPLATE.read_text(encoding="utf-8")  # read just before writing: others edit the template too
    begin, end = block_span(text)
    block = template_block(events)
    if text[begin:end] != block:
        TEMPLATE.write_text(text[:begin] + block + text[end:], encoding="utf-8")
        written.append(f"{TEMPLATE.name} (generated event schemas block)")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.schemas", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report what is stale; write nothing")
    args = parser.parse_args(argv)
    events = discover()
    if args.check:
        problems = stale(events)
        for problem in problems:
            print(problem)
        if problems:
            print("run `make schemas`")
        return 1 if problems else 0
    written = write(events)
    for item in written:
        print(f"wrote {item}")
    published = sum(event.direction == "published" for event in events)
    print(f"{len(events)} schemas up to date ({published} published, {len(events) - published} consumed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
