"""The template catalogue: which templates WhatsApp approved, in which languages, with which parameters, so a template
send that would fail is refused before the provider is called (and a 10,000-recipient broadcast fails once, before
its first recipient).

Two sources, the second over the first:
- the catalogue deployed with the stack: every `*.json` file in `wab/catalogue/` (`{"templates": [TemplateSpec…]}`),
  checked by `make test`;
- run-time entries in the messages table (`TEMPLATE#<name>#<language>` items), written by the command `WhatsApp
  Template Catalogue Updated` for teams whose templates change without a deploy, and by the provider itself: an answer
  that the template does not exist or is not approved (132000-class) marks it `rejected` until the catalogue says
  otherwise.

`check` answers what is wrong with a template command, or None. A container keeps what it read for a minute.
"""

import json
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from wab import aws
from wab.models.catalogue import CatalogueFile, Category, TemplateSpec, template_key
from wab.models.outbound.template import Template

CATALOGUE_DIR = Path(__file__).parent / "catalogue"
CACHE_SECONDS = 60
REJECTION_CODES = frozenset({"132000", "132001", "132005", "132007", "132012", "132015", "132016"})


@cache
def deployed() -> dict[str, TemplateSpec]:
    """The catalogue files deployed with the stack; a file that does not validate fails loudly (and `make test`)."""
    found: dict[str, TemplateSpec] = {}
    for path in sorted(CATALOGUE_DIR.glob("*.json")):
        for spec in CatalogueFile.model_validate_json(path.read_text(encoding="utf-8")).templates:
            found[spec.key] = spec
    return found


class Catalogue:
    """The catalogue as the sender and the intake see it: the deployed files, then the run-time entries."""

    def __init__(self, table_name: str, *, files: dict[str, TemplateSpec] | None = None):
        self.table_name = table_name
        self.files = deployed() if files is None else files
        self._read: dict[str, tuple[float, TemplateSpec | None]] = {}
        self._lock = threading.Lock()

    def find(self, name: str, language: str) -> TemplateSpec | None:
        key = template_key(name, language)
        with self._lock:
            cached = self._read.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        with aws.dependency("DynamoDB GetItem"):
            item = (
                aws.client("dynamodb")
                .get_item(TableName=self.table_name, Key={"pk": {"S": f"TEMPLATE#{key}"}}, ConsistentRead=False)
                .get("Item")
            )
        spec = TemplateSpec.model_validate_json(item["spec"]["S"]) if item else self.files.get(key)
        with self._lock:
            self._read[key] = (time.monotonic() + CACHE_SECONDS, spec)
        return spec

    def knows_any(self) -> bool:
        """Whether there is a catalogue at all (deployed files); without one, `warn` has nothing to warn about."""
        return bool(self.files)

    def put(self, specs: list[TemplateSpec]) -> None:
        """Run-time entries (the catalogue command): each replaces what the catalogue said of its template."""
        for spec in specs:
            with aws.dependency("DynamoDB PutItem"):
                aws.client("dynamodb").put_item(
                    TableName=self.table_name,
                    Item={"pk": {"S": f"TEMPLATE#{spec.key}"}, "spec": {"S": spec.model_dump_json(exclude_none=True)}},
                )
            with self._lock:
                self._read.pop(spec.key, None)

    def mark_rejected(self, name: str, language: str, category: Category | None) -> bool:
        """The provider refused the template: rejected until the catalogue says otherwise. True when this call
        changed it (so its event is published once)."""
        current = self.find(name, language)
        base = current or TemplateSpec(name=name, language=language, category=category or "marketing")
        rejected = base.model_copy(update={"status": "rejected"})
        try:
            with aws.dependency("DynamoDB PutItem", expected=("ConditionalCheckFailedException",)):
                aws.client("dynamodb").put_item(
                    TableName=self.table_name,
                    Item={"pk": {"S": f"TEMPLATE#{rejected.key}"}, "spec": {"S": rejected.model_dump_json()}},
                    ConditionExpression="attribute_not_exists(pk) OR NOT contains(#spec, :rejected)",
                    ExpressionAttributeNames={"#spec": "spec"},
                    ExpressionAttributeValues={":rejected": {"S": '"status":"rejected"'}},
                )
        except ClientError:
            return False
        with self._lock:
            self._read[rejected.key] = (time.monotonic() + CACHE_SECONDS, rejected)
        return True


# A send names an authentication template's one-time-password button (and a copy-code one) as `url`.
SENT_AS = {"otp": {"otp", "url", "copy_code"}, "copy_code": {"copy_code", "url"}}


def check(template: Template, spec: TemplateSpec | None) -> tuple[str, str] | None:
    """(code, reason) when the command's template cannot be sent as the catalogue describes it, else None."""
    if spec is None:
        return "template_not_found", (
            f"the catalogue has no template {template.name!r} in language {template.language.code!r}"
        )
    if spec.status == "rejected":
        return "template_not_found", (
            f"the template {template.name!r} ({template.language.code}) was refused by WhatsApp as not existing or not "
            "approved; update the catalogue once it is"
        )
    problems = _component_problems(template, spec)
    return ("template_parameters", "; ".join(problems)) if problems else None


def _component_problems(template: Template, spec: TemplateSpec) -> list[str]:
    given: dict[str, list[dict[str, Any]]] = {}  # each part once (`Template.each_part_once`)
    kinds: dict[str, Any] = {}  # a button's `sub_type`, when the command names it
    for component in template.components or []:
        dumped = component.model_dump(exclude_none=True)
        given[component.slot()] = dumped.get("parameters") or []
        kinds[component.slot()] = dumped.get("sub_type")
    problems = []
    header = given.pop("header", [])
    if spec.header and spec.header.format != "text":
        types = [parameter.get("type") for parameter in header]
        if types != [spec.header.format]:
            problems.append(f"header: expected one {spec.header.format} parameter, got {_kinds(types)}")
    else:
        expected = spec.header.parameters if spec.header else 0
        if len(header) != expected or any(parameter.get("type") != "text" for parameter in header):
            problems.append(f"header: expected {_count(expected, 'text parameter')}, got {_kinds(header)}")
    body = given.pop("body", [])
    expected_body = spec.body.parameters if spec.body else 0
    if len(body) != expected_body:
        problems.append(f"body: expected {_count(expected_body, 'parameter')}, got {len(body)}")
    elif spec.body and spec.body.formats:
        for position, (parameter, wanted) in enumerate(zip(body, spec.body.formats, strict=False), start=1):
            if parameter.get("type") != wanted:
                problems.append(f"body parameter {position}: expected {wanted}, got {parameter.get('type')}")
    for index, button in enumerate(spec.buttons):
        named = kinds.get(f"button {index}")
        if named is not None and str(named).lower() not in SENT_AS.get(button.type, {button.type}):
            problems.append(f"button {index}: the template's is {button.type}, not {named}")
        params = given.pop(f"button {index}", [])
        if len(params) != button.parameters:
            problems.append(
                f"button {index} ({button.type}): expected {_count(button.parameters, 'parameter')}, got {len(params)}"
            )
    problems.extend(f"{name}: the template has no such component" for name in given)
    return problems


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _kinds(parameters: list[Any]) -> str:
    types = [p.get("type") if isinstance(p, dict) else p for p in parameters]
    return ", ".join(map(str, types)) if types else "none"


def read_file(text: str) -> list[TemplateSpec]:
    """A catalogue document as the command and `wab templates put` send it; ValueError says what is wrong."""
    try:
        return CatalogueFile.model_validate(json.loads(text)).templates
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc)) from None
