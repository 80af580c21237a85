"""schemas/*.json and the template's event schemas are generated from the models (tools/schemas.py): never stale."""

from __future__ import annotations

import gc
import json
from typing import Any, ClassVar

import pytest
from jsonschema import Draft4Validator
from pydantic import ValidationError
from wab.models import commands, events
from wab.models.events import contacts, inbound, status

from tests.helpers import ROOT
from tools import schemas

SAMPLE_ENVELOPE = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "account": "123456789012",
    "time": "2026-11-25T10:00:00Z",
    "region": "eu-west-1",
    "resources": [],
}


def envelope(detail_type: str, source: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {**SAMPLE_ENVELOPE, "detail-type": detail_type, "source": source, "detail": detail}


def schema_of(detail_type: str) -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / f"{schemas.kebab(detail_type)}.json").read_text(encoding="utf-8"))


def errors(detail_type: str, document: dict[str, Any]) -> list[str]:
    validator = Draft4Validator(schema_of(detail_type), format_checker=Draft4Validator.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(document)]


def test_schema_files_and_the_template_block_are_up_to_date() -> None:
    problems = schemas.stale()
    assert not problems, "\n".join(problems) + "\nrun `make schemas` (python -m tools.schemas) and commit the result"


def test_every_event_detail_and_every_command_has_a_schema() -> None:
    found = {event.detail_type: event for event in schemas.discover()}
    for model in (inbound.MessageReceived, status.MessageStatusChanged):
        assert found[model.detail_type].model is model and found[model.detail_type].direction == "published"
    for detail_type in commands.DETAIL_TYPES:
        assert found[detail_type].direction == "consumed", detail_type


def test_a_new_event_model_is_picked_up_without_registering_it() -> None:
    def declare() -> type:
        class SomethingHappened(events.EventDetail):
            detail_type: ClassVar[str] = "WhatsApp Something Happened"

            what: str

        return SomethingHappened

    model, discovered = declare(), []
    try:
        discovered = schemas.discover()
        assert [e.model for e in discovered if e.detail_type == "WhatsApp Something Happened"] == [model]
        problems = schemas.stale(discovered)
        assert "schemas/whatsapp-something-happened.json is missing" in problems
        assert "template.yaml's generated event schemas block is stale" in problems
    finally:
        del model, discovered
        gc.collect()
    assert "WhatsApp Something Happened" not in {e.detail_type for e in schemas.discover()}


@pytest.mark.parametrize("path", sorted((ROOT / "schemas").glob("*.json")), ids=lambda path: path.name)
def test_schema_files_are_json_schema_draft_4(path: Any) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    Draft4Validator.check_schema(schema)


def test_the_template_registers_every_published_event_with_the_file_s_content() -> None:
    from cfnlint.decode import decode_str

    template, problems = decode_str((ROOT / "template.yaml").read_text(encoding="utf-8"))
    assert not problems, problems
    registered = {
        json.loads(resource["Properties"]["Content"])["x-amazon-events-detail-type"]: resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::EventSchemas::Schema"
    }
    published = {event.detail_type for event in schemas.discover() if event.direction == "published"}
    assert set(registered) == published
    for detail_type, properties in registered.items():
        assert properties["Type"] == "JSONSchemaDraft4"
        assert properties["RegistryName"] == {"Fn::GetAtt": ["EventSchemaRegistry", "RegistryName"]}
        assert json.loads(properties["Content"]) == schema_of(detail_type), detail_type


PUBLISHED_SAMPLES = [
    inbound.MessageReceived(
        message_id="ABGGFlA5FpafAgo6EhsNcYbyyFNMn4NkZ4tnMQ",
        whatsapp_message_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        source="+64211234567",
        destination="+6498765432",
        type="text",
        text="hello",
        content={"type": "text", "text": {"body": "hello"}},
        received_at="2026-11-25T10:00:00Z",
    ),
    status.MessageStatusChanged(
        message_id="ABGGFlA5FpafAgo6EhsNcYbyyFNMn4NkZ4tnMQ",
        status="received",
        previous_status="sent",
        reference="order-42",
        occurred_at="2026-11-25T10:00:01Z",
    ),
    contacts.ContactErased(
        contact_hash="23249c2df7f87de9cd5af2ffaa3d4c206dcd665a8c008f94b9109ab2de685e0d",
        records_erased=4,
        requested_by="crm.privacy",
        erased_at="2026-11-25T10:30:00.000000Z",
    ),
]


@pytest.mark.parametrize("detail", PUBLISHED_SAMPLES, ids=lambda detail: detail.detail_type)
def test_published_events_match_their_schema(detail: events.EventDetail) -> None:
    assert not errors(detail.detail_type, envelope(detail.detail_type, events.SOURCE, detail.as_dict()))
    assert errors(detail.detail_type, envelope(detail.detail_type, "someone.else", detail.as_dict()))


COMMAND_SAMPLES = [
    (
        "WhatsApp Send Requested",
        {"destination": "+64211234567", "type": "text", "text": {"body": "Your order shipped"}},
    ),
    (
        "WhatsApp Send Requested",
        {
            "destination": "+64211234567",
            "type": "template",
            "template": {"name": "order_update", "language": {"code": "en_US"}},
            "reference": "order-42",
            "idempotency_key": "order-42-shipped",
        },
    ),
    (
        "WhatsApp Send Requested",
        {"destination": "+64211234567", "type": "location", "location": {"latitude": -36.8, "longitude": 174.7}},
    ),
    (
        "WhatsApp Broadcast Requested",
        {
            "destination": ["+64211234567", "+64219876543"],
            "type": "image",
            "image": {"link": "https://example.com/a.png"},
        },
    ),
    ("WhatsApp Media Upload Requested", {"bucket": "media-bucket", "key": "uploads/a.png", "reference": "r-1"}),
    ("WhatsApp Contact Erasure Requested", {"contact": "64211234567", "reference": "privacy-request-1042"}),
]


@pytest.mark.parametrize("detail_type,detail", COMMAND_SAMPLES, ids=[sample[0] for sample in COMMAND_SAMPLES])
def test_commands_the_sender_takes_match_their_schema(detail_type: str, detail: dict[str, Any]) -> None:
    model = next(event.model for event in schemas.discover() if event.detail_type == detail_type)
    model.model_validate(detail)  # the sender takes it …
    assert not errors(detail_type, envelope(detail_type, "orders", detail))  # … and so does its schema
    assert errors(detail_type, envelope(detail_type, events.SOURCE, detail)), "commands come from other sources only"


@pytest.mark.parametrize(
    "detail",
    [
        {"destination": "+64211234567", "type": "text"},  # no text object
        {"destination": "+64211234567", "type": "text", "text": {"body": "hi"}, "unknown": 1},  # a key it does not take
        {"type": "text", "text": {"body": "hi"}},  # no destination
    ],
)
def test_a_send_the_sender_refuses_is_refused_by_its_schema(detail: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        commands.SendCommand.model_validate(detail)
    assert errors("WhatsApp Send Requested", envelope("WhatsApp Send Requested", "orders", detail))


def sender_sample_bodies() -> list[tuple[str, dict[str, Any]]]:
    """Every SQS message body in events/intake-*.json (the send queue's sample events for `sam local invoke`)."""
    bodies = []
    for path in sorted((ROOT / "events").glob("intake-*.json")):
        for number, record in enumerate(json.loads(path.read_text(encoding="utf-8"))["Records"]):
            bodies.append((f"{path.name}#{number}", json.loads(record["body"])))
    return bodies


@pytest.mark.parametrize(
    "body", [body for _, body in sender_sample_bodies()], ids=[name for name, _ in sender_sample_bodies()]
)
def test_sample_send_queue_messages_match_the_command_schemas(body: dict[str, Any]) -> None:
    """A body is an EventBridge envelope (checked whole) or a bare command (checked against the detail's schema)."""
    if "detail-type" in body:
        assert not errors(body["detail-type"], body)
        return
    kind_to_detail_type = {kind: detail_type for detail_type, kind in commands.DETAIL_TYPES.items()}
    kind = body.get("command") or (  # without `command`, the shape decides (wab/models/commands.py)
        "media_upload"
        if "bucket" in body and "key" in body
        else "broadcast"
        if isinstance(body.get("destination", body.get("to")), list)
        else "send"
    )
    detail_type = kind_to_detail_type[kind]
    schema = schema_of(detail_type)
    validator = Draft4Validator({"$ref": schema["properties"]["detail"]["$ref"], "definitions": schema["definitions"]})
    assert not [error.message for error in validator.iter_errors(body)]
