"""Send commands: every message type the provider takes, both envelopes, and invalid commands with clear reasons."""

import contextlib
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest
from wab import jsoncodec
from wab.errors import InvalidCommand
from wab.models.commands import (
    BroadcastCommand,
    EraseContactCommand,
    MediaUploadCommand,
    SendCommand,
    fingerprint,
    idempotency_key,
    parse_command,
    parse_delivery,
)
from wab.models.outbound import MESSAGE_TYPES, content_model

CUSTOMER = "+64211234567"
LAYER = Path(__file__).resolve().parents[2] / "layers" / "wab"


def parse(body: Any) -> Any:
    return parse_command(body if isinstance(body, str) else json.dumps(body))


def refusal(body: Any) -> InvalidCommand:
    with pytest.raises(InvalidCommand) as caught:
        parse(body)
    return caught.value


VALID_MESSAGES = {
    "text": {"text": {"body": "Kia ora", "preview_url": True}},
    "template": {
        "template": {
            "name": "order_update",
            "language": {"code": "en_US", "policy": "deterministic"},
            "components": [
                {
                    "type": "header",
                    "parameters": [{"type": "image", "image": {"link": "https://cdn.example.com/a.png"}}],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Aroha"},
                        {
                            "type": "currency",
                            "currency": {"fallback_value": "$10", "code": "NZD", "amount_1000": 10000},
                        },
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "STOP"}],
                },
            ],
        }
    },
    "image": {"image": {"id": "1479537139650973", "caption": "Your receipt"}},
    "video": {"video": {"link": "https://cdn.example.com/clip.mp4", "caption": "How to"}},
    "audio": {"audio": {"id": "media-audio-1"}},
    "document": {
        "document": {"link": "https://cdn.example.com/invoice.pdf", "caption": "Invoice", "filename": "invoice.pdf"}
    },
    "sticker": {"sticker": {"id": "media-sticker-1"}},
    "location": {
        "location": {
            "latitude": Decimal("-36.848461"),
            "longitude": Decimal("174.763336"),
            "name": "Sky Tower",
            "address": "Victoria St",
        }
    },
    "contacts": {
        "contacts": [
            {
                "name": {"formatted_name": "Aroha Ngata", "first_name": "Aroha"},
                "phones": [{"phone": "+64 21 765 4321", "type": "CELL"}],
            }
        ]
    },
    "interactive": {
        "interactive": {
            "type": "button",
            "body": {"text": "Keep your booking?"},
            "footer": {"text": "Reply below"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "keep", "title": "Keep"}},
                    {"type": "reply", "reply": {"id": "cancel", "title": "Cancel"}},
                ]
            },
        }
    },
    "reaction": {"reaction": {"message_id": "wamid.HBgLNjQyMTEyMzQ1Njc", "emoji": "👍"}},
}


@pytest.mark.parametrize("message_type", sorted(VALID_MESSAGES))
def test_every_message_type_is_sent_to_the_provider_as_given(message_type):
    body = {"destination": CUSTOMER, "type": message_type, **VALID_MESSAGES[message_type]}

    command = parse_command(jsoncodec.encode(body))  # Decimal coordinates become JSON numbers with their digits

    assert isinstance(command, SendCommand)
    assert command.message.type == message_type
    assert command.provider_body(command.destination, "1234567890") == {
        "destination": CUSTOMER,
        "type": message_type,
        **VALID_MESSAGES[message_type],
        "source": "1234567890",
    }


def test_an_interactive_list_and_a_reply_context_are_taken():
    command = parse(
        {
            "to": CUSTOMER,
            "type": "interactive",
            "context": {"message_id": "wamid.ABC"},
            "reference": "menu-1",
            "interactive": {
                "type": "list",
                "header": {"type": "text", "text": "Menu"},
                "body": {"text": "Pick one"},
                "action": {
                    "button": "Options",
                    "sections": [
                        {"title": "Mains", "rows": [{"id": "pie", "title": "Mince pie", "description": "With cheese"}]}
                    ],
                },
            },
        }
    )

    body = command.provider_body(command.destination, "1234567890")
    assert body["context"] == {"message_id": "wamid.ABC"}
    assert body["reference"] == "menu-1"
    assert body["interactive"]["action"]["sections"][0]["rows"][0]["id"] == "pie"
    assert command.stored_content()["context"] == {"message_id": "wamid.ABC"}


FLOW = {"flow_cta": "Book now", "flow_token": "booking-42"}


@pytest.mark.parametrize(
    "interactive",
    [
        {
            "type": "cta_url",
            "header": {"type": "text", "text": "Tickets"},
            "body": {"text": "The dates are out"},
            "footer": {"text": "Kia ora"},
            "action": {"name": "cta_url", "parameters": {"display_text": "See the dates", "url": "https://x.test/d"}},
        },
        {
            "type": "flow",
            "body": {"text": "Book your appointment"},
            "action": {
                "name": "flow",
                "parameters": {
                    **FLOW,
                    "flow_id": "1197715005513101",
                    "mode": "published",
                    "flow_action": "navigate",
                    "flow_action_payload": {"screen": "BOOKING", "data": {"dates": ["2026-12-01"]}},
                },
            },
        },
        {
            "type": "flow",
            "body": {"text": "Tell us more"},
            "action": {"name": "flow", "parameters": {**FLOW, "flow_name": "survey", "flow_action": "data_exchange"}},
        },
    ],
)
def test_cta_url_and_flow_messages_are_sent_as_given(interactive):
    command = parse({"to": CUSTOMER, "type": "interactive", "interactive": interactive})

    body = command.provider_body(command.destination, "1234567890")
    expected = {**interactive}
    if interactive["type"] == "flow":
        expected["action"] = {**interactive["action"]}
        expected["action"]["parameters"] = {"flow_message_version": "3", **interactive["action"]["parameters"]}
    assert body["interactive"] == expected


def test_to_is_a_spelling_of_destination_and_a_missing_plus_is_added():
    command = parse({"to": "64211234567", "type": "text", "text": {"body": "hi"}})

    assert command.destination == CUSTOMER
    assert "to" not in command.provider_body(command.destination, "1")


def test_the_eventbridge_envelope_and_the_bare_command_are_the_same_command():
    detail = {"destination": CUSTOMER, "type": "text", "text": {"body": "hi"}, "reference": "r-1"}
    envelope = {
        "version": "0",
        "id": "e1",
        "detail-type": "WhatsApp Send Requested",
        "source": "shop.orders",
        "account": "123456789012",
        "time": "2026-11-25T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }

    from_bus, bare = parse(envelope), parse(detail)

    assert from_bus == bare
    assert fingerprint(from_bus) == fingerprint(bare)
    assert fingerprint(parse({**detail, "destination": "64211234567"})) == fingerprint(bare)


def test_a_request_replayed_from_the_archive_is_done_only_under_its_own_key():
    envelope = {
        "version": "0",
        "id": "a-new-id-the-replay-gave-it",
        "detail-type": "WhatsApp Send Requested",
        "source": "shop",
        "replay-name": "orders-2026-11-30",
        "detail": {"destination": CUSTOMER, "type": "text", "text": {"body": "hi"}, "reference": "order-7"},
    }
    refused = refusal(envelope)
    assert refused.message == "a request replayed from the event archive needs an idempotency_key to be done once"
    assert (refused.reference, refused.destination, refused.repeat) == ("order-7", CUSTOMER, True)

    keyed = {**envelope, "detail": {**envelope["detail"], "idempotency_key": "order-7-shipped"}}
    assert idempotency_key(parse(keyed), delivery_id="a-new-id-the-replay-gave-it") == "send:order-7-shipped"


def test_a_broadcast_s_recipients_in_another_order_are_the_same_command():
    template = {"name": "spring_sale", "language": {"code": "en"}}
    first = parse({"destination": ["+64211110001", "+64211110002"], "type": "template", "template": template})
    again = parse({"destination": ["64211110002", "+64211110001"], "type": "template", "template": template})
    other = parse({"destination": ["+64211110001", "+64211110003"], "type": "template", "template": template})

    assert fingerprint(first) == fingerprint(again) != fingerprint(other)


@pytest.mark.parametrize(
    "body, kind",
    [
        ({"bucket": "media-bucket", "key": "a/b.png"}, MediaUploadCommand),
        ({"destination": [CUSTOMER], "type": "text", "text": {"body": "hi"}}, BroadcastCommand),
        ({"to": [CUSTOMER], "type": "text", "text": {"body": "hi"}}, BroadcastCommand),
        ({"destination": CUSTOMER, "type": "text", "text": {"body": "hi"}}, SendCommand),
        ({"command": "broadcast", "destination": [CUSTOMER], "type": "text", "text": {"body": "hi"}}, BroadcastCommand),
        (
            {
                "detail-type": "WhatsApp Media Upload Requested",
                "source": "crm",
                "detail": {"bucket": "media-bucket", "key": "k"},
            },
            MediaUploadCommand,
        ),
        (
            {
                "detail-type": "WhatsApp Broadcast Requested",
                "source": "crm",
                "detail": {"destination": [CUSTOMER], "type": "text", "text": {"body": "hi"}},
            },
            BroadcastCommand,
        ),
    ],
)
def test_the_kind_of_command_comes_from_command_or_detail_type_else_from_its_shape(body, kind):
    assert isinstance(parse(body), kind)


def test_a_broadcast_lists_each_recipient_once():
    command = parse({"destination": [CUSTOMER, "64211234567", "+64217654321"], "type": "text", "text": {"body": "hi"}})

    assert command.destination == [CUSTOMER, "+64217654321"]


def test_the_idempotency_key_is_the_callers_key_else_the_requests_delivery():
    base = {"destination": CUSTOMER, "type": "text", "text": {"body": "hi"}}

    assert (
        idempotency_key(parse({**base, "idempotency_key": "k-1", "reference": "r-1"}), delivery_id="e-1") == "send:k-1"
    )
    # A reference is a correlation id that many commands share: it never makes two requests one.
    assert idempotency_key(parse({**base, "reference": "r-1"}), delivery_id="e-1") == "send:delivery:e-1"
    assert idempotency_key(parse({**base, "reference": "r-1"}), delivery_id="e-2") == "send:delivery:e-2"
    assert (
        idempotency_key(parse({"bucket": "media-bucket", "key": "k"}), delivery_id="e-3") == "media_upload:delivery:e-3"
    )


def test_a_media_upload_command():
    command = parse(
        {
            "bucket": "media-bucket",
            "key": "stickers/smile.webp",
            "source": "1234567890",
            "reference": "s-1",
            "kind": "sticker",
        }
    )

    assert (command.bucket, command.key, command.source, command.reference, command.kind) == (
        "media-bucket",
        "stickers/smile.webp",
        "1234567890",
        "s-1",
        "sticker",
    )


def test_a_broadcast_travels_flat_as_it_came():
    body = {
        "command": "broadcast",
        "destination": [CUSTOMER],
        "type": "text",
        "text": {"body": "hi"},
        "reference": "r",
        "idempotency_key": "k#chunk-1-of-2",
        "context": {"message_id": "wamid.1"},
    }

    assert parse(body).wire() == body


def interactive_list(sections: tuple[list[Any], ...], ids_per_section: int | None = None) -> dict[str, Any]:
    """A list message: each section `[rows, title]`; row ids numbered across the list, or restarting every
    `ids_per_section` rows."""
    built, number = [], 0
    for rows, title in sections:
        section: dict[str, Any] = {"rows": []}
        if title is not None:
            section["title"] = title
        for _ in range(rows):
            row_id = number % ids_per_section if ids_per_section else number
            section["rows"].append({"id": f"row-{row_id}", "title": f"Row {number}"})
            number += 1
        built.append(section)
    return {"type": "list", "body": {"text": "x"}, "action": {"button": "Choose", "sections": built}}


@pytest.mark.parametrize(
    "body, reason",
    [
        (
            {"destination": "+0123", "type": "text", "text": {"body": "hi"}},
            "destination: must be an E.164 phone number such as +64211234567",
        ),
        (
            {"destination": "+64 21 123", "type": "text", "text": {"body": "hi"}},
            "destination: must be an E.164 phone number such as +64211234567",
        ),
        (
            {"destination": CUSTOMER, "type": "text", "text": {"body": "x" * 4097}},
            "text.body: String should have at most 4096 characters",
        ),
        (
            {"destination": CUSTOMER, "type": "text", "text": {"body": ""}},
            "text.body: String should have at least 1 character",
        ),
        (
            {"destination": CUSTOMER, "type": "image", "image": {"id": "m", "caption": "c" * 1025}},
            "image.caption: String should have at most 1024 characters",
        ),
        (
            {"destination": CUSTOMER, "type": "audio", "audio": {"id": "m", "caption": "no captions on audio"}},
            "audio.caption: Extra inputs are not permitted",
        ),
        (
            {"destination": CUSTOMER, "type": "sticker", "sticker": {"id": "m", "caption": "nor on stickers"}},
            "sticker.caption: Extra inputs are not permitted",
        ),
        (
            {"destination": CUSTOMER, "type": "image", "image": {"id": "m", "filename": "a.png"}},
            "image.filename: Extra inputs are not permitted",
        ),
        (
            {"destination": CUSTOMER, "type": "video", "video": {"id": "m", "link": "https://x.example/v.mp4"}},
            "video: give exactly one of id (an uploaded media id) or link",
        ),
        (
            {"destination": CUSTOMER, "type": "document", "document": {"filename": "a.pdf"}},
            "document: give exactly one of id (an uploaded media id) or link",
        ),
        (
            {"destination": CUSTOMER, "type": "image", "image": {"link": "ftp://x.example/a.png"}},
            "image.link: String should match pattern '^https?://\\S+$'",
        ),
        ({"destination": CUSTOMER, "type": "text"}, "text: Field required"),
        (
            {"destination": CUSTOMER, "text": {"body": "hi"}},
            "type: type must be one of text, template, image, video, audio, document, sticker, location, contacts, "
            "interactive, reaction",
        ),
        (
            {"destination": CUSTOMER, "type": "order", "order": {}},
            "type: type must be one of text, template, image, video, audio, document, sticker, location, contacts, "
            "interactive, reaction; order: Extra inputs are not permitted",
        ),
        (
            {"destination": CUSTOMER, "type": "text", "text": {"body": "hi"}, "image": {"id": "m"}},
            "image: Extra inputs are not permitted",
        ),
        ({"type": "text", "text": {"body": "hi"}}, "destination: Field required"),
        (
            {
                "destination": CUSTOMER,
                "type": "template",
                "template": {"name": "Order Update", "language": {"code": "en"}},
            },
            "template.name: String should match pattern '^[a-z0-9_]{1,512}$'",
        ),
        (
            {"destination": CUSTOMER, "type": "template", "template": {"name": "order_update"}},
            "template.language: Field required",
        ),
        (
            {"destination": CUSTOMER, "type": "location", "location": {"latitude": "north", "longitude": 1}},
            "location.latitude: must be a number",
        ),
        (
            {"destination": CUSTOMER, "type": "location", "location": {"latitude": 91, "longitude": 1}},
            "location.latitude: Input should be less than or equal to 90",
        ),
        (
            {"destination": CUSTOMER, "type": "contacts", "contacts": []},
            "contacts: List should have at least 1 item after validation, not 0",
        ),
        (
            {"destination": CUSTOMER, "type": "contacts", "contacts": [{"phones": []}]},
            "contacts.0.name: Field required",
        ),
        (
            {
                "destination": CUSTOMER,
                "type": "interactive",
                "interactive": {"type": "carousel", "body": {"text": "x"}},
            },
            "interactive: Input tag 'carousel' found using 'type' does not match any of the expected tags: "
            "'button', 'list', 'cta_url', 'flow'",
        ),
        (
            {"destination": CUSTOMER, "type": "interactive", "interactive": {"type": "flow", "body": {"text": "x"}}},
            "interactive.action: Field required",
        ),
        (
            {
                "destination": CUSTOMER,
                "type": "interactive",
                "interactive": {"type": "flow", "body": {"text": "x"}, "action": {"name": "flow", "parameters": FLOW}},
            },
            "interactive.action.parameters: give exactly one of flow_id and flow_name",
        ),
        (
            {
                "destination": CUSTOMER,
                "type": "interactive",
                "interactive": {
                    "type": "flow",
                    "body": {"text": "x"},
                    "action": {"name": "flow", "parameters": {**FLOW, "flow_id": "1", "flow_action": "navigate"}},
                },
            },
            "interactive.action.parameters: flow_action navigate needs flow_action_payload (its first screen)",
        ),
        (
            {
                "destination": CUSTOMER,
                "type": "interactive",
                "interactive": {
                    "type": "cta_url",
                    "body": {"text": "x"},
                    "action": {"name": "cta_url", "parameters": {"display_text": "See the dates", "url": "ftp://x"}},
                },
            },
            "interactive.action.parameters.url: String should match pattern '^https?://[^\\s]+$'",
        ),
        (
            {
                "destination": CUSTOMER,
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "x"},
                    "action": {"buttons": [{"reply": {"id": str(n), "title": "t"}} for n in range(4)]},
                },
            },
            "interactive.action.buttons: List should have at most 3 items after validation, not 4",
        ),
        (
            {"destination": CUSTOMER, "type": "reaction", "reaction": {"emoji": "👍"}},
            "reaction.message_id: Field required",
        ),
        # What WhatsApp requires is refused blank before the provider is called, not by it.
        ({"destination": CUSTOMER, "type": "text", "text": {"body": " \n\t"}}, "text.body: must not be blank"),
        (
            {"destination": CUSTOMER, "type": "reaction", "reaction": {"message_id": " ", "emoji": "👍"}},
            "reaction.message_id: must not be blank",
        ),
        (
            {"destination": CUSTOMER, "type": "contacts", "contacts": [{"name": {"formatted_name": "  "}}]},
            "contacts.0.name.formatted_name: must not be blank",
        ),
        (
            {
                "destination": CUSTOMER,
                "type": "interactive",
                "interactive": {
                    "type": "cta_url",
                    "body": {"text": "x"},
                    "action": {"name": "cta_url", "parameters": {"display_text": " ", "url": "https://x.example"}},
                },
            },
            "interactive.action.parameters.display_text: must not be blank",
        ),
        (
            {"destination": CUSTOMER, "type": "interactive", "interactive": interactive_list(([6, "A"], [6, "B"]))},
            "interactive.action: a list has at most 10 rows across its sections, not 12",
        ),
        (
            {"destination": CUSTOMER, "type": "interactive", "interactive": interactive_list(([2, "A"], [2, None]))},
            "interactive.action: every section needs a title when a list has more than one",
        ),
        (
            {"destination": CUSTOMER, "type": "interactive", "interactive": interactive_list(([2, "A"], [2, "B"]), 2)},
            "interactive.action: two rows have the same id",
        ),
        (
            {
                "destination": CUSTOMER,
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "x"},
                    "action": {"buttons": [{"reply": {"id": str(n), "title": "Yes"}} for n in range(2)]},
                },
            },
            "interactive.action: two buttons have the same title",
        ),
        (
            {"destination": CUSTOMER, "type": "location", "location": {"latitude": "-36.8", "longitude": 174.7}},
            "location.latitude: must be a number",
        ),
        (
            {
                "command": "update_catalogue",
                "templates": [
                    {
                        "name": "order_update",
                        "language": "en",
                        "category": "utility",
                        "body": {"parameters": 2, "formats": ["text"]},
                    }
                ],
            },
            "templates.0.body: formats lists 1 formats for 2 parameters",
        ),
        (
            {"destination": [], "type": "text", "text": {"body": "hi"}},
            "destination: List should have at least 1 item after validation, not 0",
        ),
        (
            {"destination": [CUSTOMER, "nope"], "type": "text", "text": {"body": "hi"}},
            "destination.1: must be an E.164 phone number such as +64211234567",
        ),
        (
            {"command": "fax", "destination": CUSTOMER},
            "command: command must be send, broadcast, media_upload, erase_contact or update_catalogue",
        ),
        (
            {"bucket": "Not A Bucket", "key": "k"},
            "bucket: String should match pattern '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'",
        ),
        (
            {"destination": CUSTOMER, "type": "text", "text": {"body": "hi"}, "priority": "urgent"},
            "priority: Input should be 'high' or 'bulk'",
        ),
    ],
)
def test_an_invalid_command_is_refused_with_a_clear_reason(body, reason):
    assert refusal(body).message == reason


def test_a_refusal_names_what_it_could_read_of_the_command():
    refused = refusal({"destination": CUSTOMER, "type": "text", "text": {"body": ""}, "reference": "order-7"})

    assert (refused.code, refused.reference, refused.destination) == ("invalid_command", "order-7", CUSTOMER)


@pytest.mark.parametrize(
    "body, reason",
    [
        ("", "message body is empty"),
        ("[1, 2]", "message body must be a JSON object"),
        (
            '{"detail-type": "Order Placed", "source": "shop", "detail": {}}',
            "detail-type 'Order Placed' is not a command the sender takes",
        ),
        (
            '{"detail-type": "WhatsApp Send Requested", "source": "shop", "detail": "hi"}',
            "detail must be a JSON object",
        ),
        (
            '{"detail-type": "WhatsApp Send Requested", "source": "shop", "detail": {"command": "broadcast"}}',
            "detail.command 'broadcast' contradicts detail-type 'WhatsApp Send Requested'",
        ),
        # Which of the two was meant cannot be known: not the first, not the last, wherever the key is.
        (
            '{"destination": "+64211234567", "destination": "+64211234568", "type": "text", "text": {"body": "x"}}',
            "message body names a key more than once",
        ),
        (
            '{"detail-type": "WhatsApp Send Requested", "source": "shop", "detail": {"destination": "+64211234567", '
            '"type": "text", "text": {"body": "x", "body": "y"}}}',
            "message body names a key more than once",
        ),
    ],
)
def test_a_body_that_holds_no_command_is_refused(body, reason):
    assert refusal(body).message == reason


# --- erasure -------------------------------------------------------------------------------------------------------

ERASURE_ENVELOPE = {
    "version": "0",
    "id": "5f0e8b1c-erasure-event",
    "detail-type": "WhatsApp Contact Erasure Requested",
    "source": "crm.privacy",
    "account": "123456789012",
    "time": "2026-11-25T10:00:00Z",
    "region": "eu-west-1",
    "resources": [],
    "detail": {"contact": "64211234567", "reference": "gdpr-17"},
}


def test_an_erasure_request_on_the_bus_names_the_contact_and_who_asked():
    delivery = parse_delivery(json.dumps(ERASURE_ENVELOPE))

    assert isinstance(delivery.command, EraseContactCommand)
    assert (delivery.command.contact, delivery.command.reference) == (CUSTOMER, "gdpr-17")  # the "+" is added
    assert (delivery.requested_by, delivery.event_id) == ("crm.privacy", "5f0e8b1c-erasure-event")


def test_a_bare_erasure_must_say_so_and_was_asked_for_by_the_queue():
    delivery = parse_delivery(json.dumps({"command": "erase_contact", "contact": CUSTOMER}))

    assert delivery.command == EraseContactCommand(contact=CUSTOMER)
    assert (delivery.requested_by, delivery.event_id) == ("queue", None)
    # Without "command", a contact is no send and is never taken for an erasure.
    assert "contact: Extra inputs are not permitted" in refusal({"contact": CUSTOMER}).message


@pytest.mark.parametrize(
    "body, reason",
    [
        ({"command": "erase_contact"}, "contact: Field required"),
        (
            {"command": "erase_contact", "contact": "+64 21 123"},
            "contact: must be a phone number: digits, with or without a leading +",
        ),
        (
            {"command": "erase_contact", "contact": CUSTOMER, "destination": CUSTOMER},
            "destination: Extra inputs are not permitted",
        ),
        (
            {"command": "erase_contact", "contact": CUSTOMER, "reference": "r" * 257},
            "reference: String should have at most 256 characters",
        ),
    ],
)
def test_an_invalid_erasure_is_refused_without_repeating_the_number(body, reason):
    refused = refusal(body)

    assert refused.message == reason
    assert (refused.command, refused.destination) == ("erase_contact", None)


def test_an_erasure_is_repeated_by_its_key_else_only_by_its_own_delivery():
    erasure = parse({"command": "erase_contact", "contact": CUSTOMER})

    assert idempotency_key(erasure, delivery_id="event-1") == "erase_contact:delivery:event-1"
    # A reference does not make a later erasure request a repeat: the contact may have written since.
    assert idempotency_key(parse({**ERASURE_ENVELOPE["detail"], "command": "erase_contact"}), delivery_id="e") == (
        "erase_contact:delivery:e"
    )
    keyed = parse({"command": "erase_contact", "contact": CUSTOMER, "idempotency_key": "ticket-9", "reference": "r"})
    assert idempotency_key(keyed, delivery_id="e") == "erase_contact:ticket-9"


@pytest.mark.parametrize("latitude", ["1e-400", "-3E-131", "0.1234567890123456789012345678901234567891"])
def test_a_location_the_store_cannot_hold_is_refused_before_it_is_sent(latitude):
    """As JSON numbers: the codec keeps every digit, so the check sees what the store would be given."""
    body = (
        f'{{"destination": "{CUSTOMER}", "type": "location", "location": {{"latitude": {latitude}, "longitude": 1}}}}'
    )
    with pytest.raises(InvalidCommand, match=r"location\.latitude: must have at most 38 significant digits"):
        parse_command(body)


def test_a_failure_report_never_echoes_a_huge_key_or_message():
    huge = "k" * 250_000
    with pytest.raises(InvalidCommand) as refused:
        parse_command(json.dumps({"destination": CUSTOMER, "type": "text", "text": {"body": "hi"}, huge: 1}))
    assert len(refused.value.message) <= 1000 and "kkkk…" in refused.value.message


def _positions(value: Any, path: tuple = ()) -> Any:
    """Every path to a value inside `value` (dict keys and list indexes)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*path, key)
            yield from _positions(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield (*path, index)
            yield from _positions(inner, (*path, index))


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


ENVELOPED = [
    {"detail-type": "WhatsApp Send Requested", "detail": {"destination": CUSTOMER, "type": kind, **body}}
    for kind, body in VALID_MESSAGES.items()
] + [
    {"command": "broadcast", "destination": [CUSTOMER], "type": "text", "text": {"body": "hi"}, "priority": "bulk"},
    {"command": "media_upload", "bucket": "b", "key": "k", "source": "+6421000000"},
    {"command": "erase_contact", "contact": CUSTOMER},
    {"detail-type": "WhatsApp Send Requested", "detail": {"command": "send", "destination": CUSTOMER, "type": "text"}},
]


@pytest.mark.parametrize("body", ENVELOPED, ids=lambda body: str(body.get("detail-type") or body.get("command")))
def test_any_value_of_the_wrong_shape_is_an_invalid_command_never_a_crash(body):
    """A list or an object where a name is expected (unhashable, so never a lookup key) is refused like any other
    invalid value: a request that crashed the intake would hold up every request behind it."""
    body = jsoncodec.decode(jsoncodec.encode(body))
    for path in [(), *_positions(body)]:
        for odd in (["text"], {"type": "text"}, [], None, 10**30):
            with contextlib.suppress(InvalidCommand):  # anything else fails the test
                parse(jsoncodec.encode(_replaced(body, path, odd)))


@pytest.mark.parametrize("key", ["", "k" * 65536])
@pytest.mark.parametrize("where", ["parameter", "component"])
def test_a_key_dynamodb_cannot_store_is_refused_before_the_message_is_sent(key, where):
    """The objects that take a caller's own keys (a template's components and parameters, contact cards, headers)
    end up in the record; a key DynamoDB refuses would fail the write after the provider had sent the message."""
    component = {"type": "body", "parameters": [{"type": "text", "text": "a"}]}
    (component["parameters"][0] if where == "parameter" else component)[key] = 1
    body = {"destination": CUSTOMER, "type": "template", "reference": "r-1"}
    body["template"] = {"name": "t", "language": {"code": "en"}, "components": [component]}

    invalid = refusal(body)
    assert invalid.message == "command: has a key DynamoDB cannot store (empty, or of 64 KB or more)"
    assert invalid.reference == "r-1"


@pytest.mark.parametrize(
    "body, hints",
    [
        (
            '{"command": "erase_contact", "contact": "+64211234567", "reference": "gdpr-1", "note": "a\\u0000b"}',
            ("erase_contact", "gdpr-1", None),
        ),
        (
            '{"detail-type": "WhatsApp Contact Erasure Requested", "source": "crm", "detail": '
            '{"contact": "+64211234567\\u0000", "reference": "gdpr-2"}}',
            ("erase_contact", "gdpr-2", None),
        ),
        (
            '{"destination": "+64211234567", "type": "text", "text": {"body": "\\ud800"}, "reference": "r-1"}',
            ("send", "r-1", "+64211234567"),  # a bare command, known by its shape
        ),
        (
            '{"command": "send", "reference": "bad\\u0000", "destination": "+64211234567"}',
            ("send", None, "+64211234567"),
        ),
    ],
)
def test_a_body_the_codec_refuses_is_still_reported_with_what_can_be_read_of_it(body, hints):
    refused = refusal(body)

    assert refused.message.startswith("message body contains")
    assert (refused.command, refused.reference, refused.destination) == hints


def test_a_command_too_large_to_keep_is_refused_before_the_provider_is_called_but_recipients_do_not_count():
    parameter = {"type": "text", "text": "x" * 140_000}
    template = {
        "name": "order_update",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [parameter]}],
    }
    refused = refusal({"destination": CUSTOMER, "type": "template", "template": template, "reference": "big"})
    assert refused.message.startswith("command: the command is ")
    assert refused.message.endswith("bytes besides its recipients; the limit is 131072")
    assert (refused.reference, refused.destination) == ("big", CUSTOMER)
    fallback = {"destination": CUSTOMER, "type": "text", "text": {"body": "hi"}, "fallback_template": template}
    assert refusal(fallback).message.endswith("the limit is 131072")  # a fallback is kept too

    small = {"name": "order_update", "language": {"code": "en"}}
    recipients = [f"+6421{n:07d}" for n in range(10_000)]  # ~170 KB of numbers: split into chunks, never one record
    assert parse({"destination": recipients, "type": "template", "template": small}).command == "broadcast"


def test_an_empty_reference_is_no_reference():
    assert parse({"destination": CUSTOMER, "type": "text", "text": {"body": "hi"}, "reference": ""}).reference is None
    waited = {
        "destination": [CUSTOMER],
        "type": "template",
        "template": {"name": "spring_sale", "language": {"code": "en"}},
        "reference": "",
        "task_token": "AQB4AAAA-token",
    }
    assert "needs a reference" in refusal(waited).message  # a summary of "" could never be waited on


def test_every_message_type_has_a_model_that_reads_that_type():
    for kind in MESSAGE_TYPES:
        model = content_model(kind)
        assert model.model_fields["type"].annotation == Literal[kind], kind


def test_a_send_creates_the_models_of_its_own_message_type_only():
    """Each type's models are created when a command of the type first arrives (a cold start makes no others); a
    template's are there from the start, as any free-form send may fall back to one."""
    loaded = "sorted(name for name in sys.modules if name.startswith('wab.models.outbound.'))"
    code = (
        "import json, sys\nfrom wab.models.commands import parse_command\n"
        f"before = {loaded}\n"
        f"parse_command(sys.argv[1])\nprint(json.dumps([before, {loaded}]))"
    )
    runs = {}
    for kind in ("text", "location", "interactive"):
        command = {"destination": CUSTOMER, "type": kind, **VALID_MESSAGES[kind]}
        answer = subprocess.run(
            [sys.executable, "-c", code, jsoncodec.encode(command)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(LAYER)},
        )
        runs[kind] = json.loads(answer.stdout)

    template = "wab.models.outbound.template"
    for kind, module in [("text", "text"), ("location", "location"), ("interactive", "interactive")]:
        assert runs[kind] == [[template], sorted([template, f"wab.models.outbound.{module}"])], kind


def template_with(*components: dict[str, Any]) -> dict[str, Any]:
    template = {"name": "spring_sale", "language": {"code": "en"}, "components": list(components)}
    return {"destination": CUSTOMER, "type": "template", "template": template}


@pytest.mark.parametrize(
    ("parameter", "reason"),
    [
        ({"type": "text", "text": "line 1\nline 2"}, "a text parameter cannot hold a newline, a tab or more than four"),
        ({"type": "text", "text": "a\tb"}, "a text parameter cannot hold a newline"),
        ({"type": "text", "text": "wide     gap"}, "a text parameter cannot hold a newline"),
        ({"type": "text", "text": " "}, "a parameter of type text needs 'text': a non-blank string"),
        ({"type": "text"}, "a parameter of type text needs 'text': a non-blank string"),
        (
            {"type": "currency"},
            "a parameter of type currency needs 'currency': an object with 'fallback_value', 'code', ",
        ),
        ({"type": "currency", "currency": {"fallback_value": "$5", "code": "USD"}}, "with 'amount_1000'"),
        (
            {"type": "date_time", "date_time": {}},
            "a parameter of type date_time needs 'date_time': an object with 'fallback_value'",
        ),
        ({"type": "image"}, "a parameter of type image needs 'image': an object with 'id' or 'link'"),
        ({"type": "payload", "payload": ""}, "a parameter of type payload needs 'payload': a non-blank string"),
    ],
)
def test_a_template_parameter_whatsapp_would_refuse_is_refused_before_the_send(parameter, reason):
    refused = refusal(template_with({"type": "body", "parameters": [parameter]}))
    assert refused.code == "invalid_command"
    assert reason in refused.message


def test_template_parameters_whatsapp_takes_are_sent_as_given():
    parameters = [
        {"type": "text", "text": "Kia ora    Aroha 👋"},  # four spaces in a row are allowed
        {"type": "currency", "currency": {"fallback_value": "$5", "code": "NZD", "amount_1000": 5000}},
        {"type": "date_time", "date_time": {"fallback_value": "1 December"}},
    ]
    header = {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.com/a.png"}}]}
    command = parse(template_with(header, {"type": "body", "parameters": parameters}))
    assert command.message.template.components[1].model_dump(exclude_none=True)["parameters"] == parameters


@pytest.mark.parametrize(
    ("components", "repeated"),
    [
        ([{"type": "body"}, {"type": "body"}], "body"),
        ([{"type": "button", "index": "1"}, {"type": "button", "index": 1}], "button 1"),
    ],
)
def test_a_template_filling_one_part_twice_is_refused(components, repeated):
    assert refusal(template_with(*components)).message.endswith(f"components fill {repeated} more than once")


@pytest.mark.parametrize(
    "emoji",
    [
        "👍",
        "",
        "❤️",
        "1️⃣",
        "#️⃣",
        "👨‍👩‍👧",
        "🇳🇿",
        "🏳️‍🌈",
        "👋🏽",
        "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
        "©️",
        "↔️",
        "\U0001fae9",
    ],  # the last newer than Python's tables
)
def test_a_reaction_is_an_emoji_or_empty_to_remove_it(emoji):
    reaction = {"message_id": "wamid.HBgLNjQyMTEyMzQ1Njc", "emoji": emoji}
    assert parse({"destination": CUSTOMER, "type": "reaction", "reaction": reaction}).message.reaction.emoji == emoji


@pytest.mark.parametrize("emoji", [":thumbsup:", "like", "👍 ", "1", "\u200b👍", "é", "中"])
def test_a_reaction_naming_its_emoji_is_refused_before_the_send(emoji):
    reaction = {"message_id": "wamid.HBgLNjQyMTEyMzQ1Njc", "emoji": emoji}
    refused = refusal({"destination": CUSTOMER, "type": "reaction", "reaction": reaction})
    assert refused.message.startswith("reaction.emoji: must be an emoji itself")


def test_a_refusal_never_repeats_a_number_given_as_a_key():
    refused = refusal({"command": "erase_contact", "contact": CUSTOMER, CUSTOMER: 1})
    assert refused.message == "…: Extra inputs are not permitted"
    assert CUSTOMER[1:] not in refused.message


def test_a_bare_command_refused_is_named_by_its_shape():
    assert refusal({"destination": CUSTOMER, "type": "text", "text": {"body": "x" * 4097}}).command == "send"
    assert refusal({"destination": [CUSTOMER], "type": "text", "text": {"body": ""}}).command == "broadcast"
