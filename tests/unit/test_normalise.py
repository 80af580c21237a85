"""Normalisation of every WhatsApp inbound type, as the provider's MO callback delivers them."""

import base64
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest
from wab import jsoncodec
from wab.api import http_status
from wab.callbacks import parse_mo
from wab.errors import InvalidPayload
from wab.models.inbound import MESSAGE_MODELS, dump_message, model_for

LAYER = Path(__file__).resolve().parents[2] / "layers" / "wab"

CUSTOMER = "+64211234567"
BUSINESS = "167141142137144145111111"


def mo(content, **extra):
    return {
        "id": "c1fc05e6-863e-43bf-86dc-000000000000",
        "source": CUSTOMER,
        "destination": BUSINESS,
        "content": content,
        **extra,
    }


def message(kind, body=None, **fields):
    content = {
        "from": CUSTOMER,
        "id": "wamid.HBgLNjQyMTEyMzQ1NjcVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        "timestamp": "1767739600",
        "type": kind,
    }
    if body is not None:
        content[kind] = body
    content.update(fields)
    return content


def normalise(content, **extra):
    callback, parsed = parse_mo(mo(content, **extra))
    return callback, parsed, dump_message(parsed)


def test_text_with_reply_context_forwarded_flags_and_referred_product():
    content = message(
        "text",
        {"body": "Is this still available? ā ē 🙂"},
        context={
            "from": BUSINESS,
            "id": "wamid.original",
            "forwarded": True,
            "frequently_forwarded": False,
            "referred_product": {"catalog_id": "cat-1", "product_retailer_id": "sku-42"},
        },
    )
    _, parsed, dumped = normalise(content)
    assert type(parsed).__name__ == "TextMessage"
    assert parsed.summary_text() == "Is this still available? ā ē 🙂"
    assert dumped["context"] == {
        "from": BUSINESS,
        "id": "wamid.original",
        "forwarded": True,
        "frequently_forwarded": False,
        "referred_product": {"catalog_id": "cat-1", "product_retailer_id": "sku-42"},
    }


def test_text_from_click_to_whatsapp_ad_keeps_the_referral():
    referral = {
        "source_url": "https://fb.me/ad",
        "source_id": "1200",
        "source_type": "ad",
        "headline": "Sale",
        "body": "50% off",
        "media_type": "image",
        "image_url": "https://img",
        "ctwa_clid": "ARAkx",
    }
    _, parsed, dumped = normalise(message("text", {"body": "Hi"}, referral=referral))
    assert parsed.referral.ctwa_clid == "ARAkx"
    assert dumped["referral"] == referral


@pytest.mark.parametrize("kind", ["image", "video"])
def test_captioned_media(kind):
    body = {"id": "media-1", "mime_type": f"{kind}/x", "sha256": "abc=", "caption": "look"}
    _, parsed, dumped = normalise(message(kind, body))
    assert dumped[kind] == body
    assert parsed.summary_text() == "look"


@pytest.mark.parametrize("voice", [True, False])
def test_audio_voice_note_or_file(voice):
    _, parsed, dumped = normalise(
        message("audio", {"id": "a-1", "mime_type": "audio/ogg; codecs=opus", "voice": voice})
    )
    assert parsed.audio.voice is voice
    assert dumped["audio"]["mime_type"] == "audio/ogg; codecs=opus"


def test_document_keeps_filename_and_caption():
    body = {
        "id": "d-1",
        "mime_type": "application/pdf",
        "sha256": "x",
        "filename": "invoice 2026.pdf",
        "caption": "my invoice",
    }
    _, parsed, dumped = normalise(message("document", body))
    assert dumped["document"] == body
    assert parsed.summary_text() == "my invoice"


@pytest.mark.parametrize("animated", [True, False])
def test_sticker_animated_or_not(animated):
    _, _, dumped = normalise(message("sticker", {"id": "s-1", "mime_type": "image/webp", "animated": animated}))
    assert dumped["sticker"]["animated"] is animated


def test_location_keeps_every_digit():
    raw = (
        '{"id":"c1fc05e6-863e-43bf-86dc-000000000000","source":"+64211234567","destination":"1",'
        '"content":{"type":"location","location":{"latitude":-36.848461123456789012345,"longitude":174.76333,'
        '"name":"Sky Tower","address":"Victoria St"}}}'
    )
    from wab.jsoncodec import decode, encode

    _, parsed = parse_mo(decode(raw.encode()))
    assert parsed.location.latitude == Decimal("-36.848461123456789012345")
    assert '"latitude":-36.848461123456789012345' in encode(dump_message(parsed))
    assert parsed.summary_text() == "Sky Tower"


def test_a_location_that_is_not_numbers_is_kept_as_unsupported():
    content = message("location", {"latitude": "north", "longitude": 1})
    _, parsed, dumped = normalise(content)
    assert (parsed.type, parsed.reason) == ("unsupported", "content.location.latitude: must be a number")
    assert dumped == content


def test_contacts():
    card = {
        "name": {"formatted_name": "Aroha Ngata", "first_name": "Aroha"},
        "phones": [{"phone": "+64 21 555 0101", "type": "CELL", "wa_id": "64215550101"}],
        "emails": [{"email": "aroha@example.nz", "type": "WORK"}],
        "org": {"company": "Kiwi Ltd"},
    }
    _, parsed, dumped = normalise(message("contacts", fields=None) | {"contacts": [card]})
    assert parsed.contacts[0].phones[0].wa_id == "64215550101"
    assert dumped["contacts"] == [card]


def test_interactive_button_and_list_replies():
    _, parsed, _ = normalise(
        message("interactive", {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes please"}})
    )
    assert parsed.summary_text() == "Yes please"
    _, parsed, dumped = normalise(
        message(
            "interactive", {"type": "list_reply", "list_reply": {"id": "r2", "title": "Tuesday", "description": "9-12"}}
        )
    )
    assert parsed.summary_text() == "Tuesday"
    assert dumped["interactive"]["list_reply"]["description"] == "9-12"


def test_interactive_flow_reply_decodes_response_json():
    flow = {
        "type": "nfm_reply",
        "nfm_reply": {
            "name": "flow",
            "body": "Sent",
            "response_json": '{"flow_token": "t1", "rating": 5, "score": 4.5}',
        },
    }
    _, parsed, dumped = normalise(message("interactive", flow))
    assert parsed.interactive.nfm_reply.response_json == {"flow_token": "t1", "rating": 5, "score": Decimal("4.5")}
    assert dumped["interactive"]["nfm_reply"]["response_json"]["flow_token"] == "t1"


def test_button_quick_reply_of_a_template():
    _, parsed, dumped = normalise(message("button", {"payload": "STOP_PROMOS", "text": "Stop promotions"}))
    assert parsed.summary_text() == "Stop promotions"
    assert dumped["button"] == {"payload": "STOP_PROMOS", "text": "Stop promotions"}


def test_reaction_and_its_removal():
    _, _, dumped = normalise(message("reaction", {"message_id": "wamid.sent", "emoji": "❤️"}))
    assert dumped["reaction"] == {"message_id": "wamid.sent", "emoji": "❤️", "removed": False}
    _, _, dumped = normalise(message("reaction", {"message_id": "wamid.sent", "emoji": ""}))
    assert dumped["reaction"]["removed"] is True
    _, _, dumped = normalise(message("reaction", {"message_id": "wamid.sent"}))
    assert dumped["reaction"] == {"message_id": "wamid.sent", "removed": True}


def test_order_prices_stay_exact():
    order = {
        "catalog_id": "cat-1",
        "text": "for Friday",
        "product_items": [
            {"product_retailer_id": "sku-1", "quantity": 3, "item_price": Decimal("19.99"), "currency": "NZD"},
            {"product_retailer_id": "sku-2", "quantity": 1, "item_price": Decimal("0.1"), "currency": "NZD"},
        ],
    }
    _, parsed, dumped = normalise(message("order", order))
    prices = [item.item_price for item in parsed.order.product_items]
    assert prices == [Decimal("19.99"), Decimal("0.1")]
    assert sum(item.item_price * item.quantity for item in parsed.order.product_items) == Decimal("60.07")
    assert dumped["order"]["product_items"][0]["item_price"] == Decimal("19.99")


@pytest.mark.parametrize(
    "system",
    [
        {"body": "User A changed from +64 21 to +64 22", "type": "user_changed_number", "new_wa_id": "6422"},
        {
            "body": "User's identity changed",
            "type": "customer_identity_changed",
            "identity": "hash",
            "customer": "64211234567",
        },
    ],
)
def test_system_messages(system):
    _, parsed, dumped = normalise(
        message("system", system, identity={"acknowledged": True, "created_timestamp": 1767739000, "hash": "h"})
    )
    assert dumped["system"] == system
    assert parsed.identity.hash == "h"


def test_request_welcome_has_no_object():
    _, parsed, dumped = normalise(message("request_welcome"))
    assert type(parsed).__name__ == "RequestWelcomeMessage"
    assert dumped["type"] == "request_welcome"


def test_unsupported_keeps_raw_content_and_error_codes():
    content = message(
        "unsupported",
        {"type": "poll"},
        errors=[
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "polls"},
            }
        ],
    )
    _, parsed, dumped = normalise(content)
    assert parsed.errors[0].code == 131051
    assert dumped["unsupported"] == {"type": "poll"}
    assert dumped["errors"][0]["error_data"] == {"details": "polls"}


def test_an_edit_names_the_original_and_carries_the_new_content_with_unknown_keys_kept():
    content = message(
        "edit",
        {
            "original_message_id": "wamid.original",
            "message": {"context": {"id": "wamid.ctx"}, "type": "image", "image": {"id": "m-2", "caption": "new"}},
            "future": 1,
        },
    )
    _, parsed, dumped = normalise(content)
    assert type(parsed).__name__ == "EditMessage"
    assert parsed.edit.original_message_id == "wamid.original"
    new = parsed.new_message()
    assert (new.type, new.summary_text(), dump_message(new)["context"]) == ("image", "new", {"id": "wamid.ctx"})
    assert dumped["edit"] == {"original_message_id": "wamid.original", "future": 1}  # the new content is not kept here


@pytest.mark.parametrize(
    "new, reason",
    [
        (None, "edit.message is not a WhatsApp message object (a JSON object)"),
        ("plain", "edit.message is not a WhatsApp message object (a JSON object)"),
        ({"type": "interactive"}, "edit.message.interactive: Field required"),
    ],
)
def test_an_edit_whose_new_content_the_models_cannot_type_keeps_it_whole(new, reason):
    _, parsed, _ = normalise(message("edit", {"original_message_id": "wamid.original", "message": new}))
    kept = parsed.new_message()
    assert (kept.type, kept.reason) == ("unsupported", reason)


def test_an_edit_whose_new_content_cannot_be_stored_as_it_is_keeps_it_whole():
    _, parsed, _ = normalise(
        message("edit", {"original_message_id": "wamid.o", "message": {"type": "text", "text": {"body": "x"}, "": 1}})
    )
    kept = parsed.new_message()
    assert (kept.type, kept.reason) == (
        "unsupported",
        "edit.message has a key DynamoDB cannot store (empty, or of 64 KB or more)",
    )
    assert kept.as_content() == {"raw": '{"type":"text","text":{"body":"x"},"":1}'}
    item = {"product_retailer_id": "p", "quantity": "1e999", "item_price": 1, "currency": "NZD"}
    new = {"type": "order", "order": {"catalog_id": "c", "product_items": [item]}}
    _, parsed, _ = normalise(message("edit", {"original_message_id": "wamid.o", "message": new}))
    kept = parsed.new_message()
    assert (kept.type, kept.reason) == (
        "unsupported",
        "edit.message has a number DynamoDB or EventBridge cannot take as a number",
    )


def test_a_revoke_names_the_deleted_message():
    _, parsed, dumped = normalise(message("revoke", {"original_message_id": "wamid.original"}))
    assert type(parsed).__name__ == "RevokeMessage"
    assert dumped["revoke"] == {"original_message_id": "wamid.original"}


@pytest.mark.parametrize("kind", ["edit", "revoke"])
@pytest.mark.parametrize("body", [None, {}, {"original_message_id": "has spaces"}, {"original_message_id": 7}])
def test_an_edit_or_revoke_without_a_usable_original_id_is_kept_as_unsupported(kind, body):
    _, parsed, _ = normalise(message(kind, body))
    assert parsed.type == "unsupported"
    assert parsed.reason.startswith(f"content.{kind}")


def test_unknown_type_is_kept_whole_not_rejected():
    content = message("hologram", {"frames": [1, 2, 3], "nested": {"a": None}}, brand_new_field="x")
    _, parsed, dumped = normalise(content)
    assert type(parsed).__name__ == "UnknownMessage"
    assert dumped["hologram"] == {"frames": [1, 2, 3], "nested": {"a": None}}
    assert dumped["brand_new_field"] == "x"


def test_null_sibling_objects_do_not_change_the_type():
    content = message("text", {"body": "hello"}, order=None, reaction=None, errors=None, image=None)
    _, parsed, dumped = normalise(content)
    assert type(parsed).__name__ == "TextMessage"
    assert "order" not in dumped and "image" not in dumped


def test_unknown_keys_at_every_level_are_kept():
    content = message("text", {"body": "hi", "future": 1}, future_top={"x": 1})
    callback, _, dumped = normalise(content, new_provider_key="v")
    assert dumped["text"]["future"] == 1 and dumped["future_top"] == {"x": 1}
    assert callback.model_extra == {"new_provider_key": "v"}


def test_content_as_json_string_once_or_twice():
    content = message("text", {"body": "double"})
    once = json.dumps(content)
    _, parsed, _ = normalise(once)
    assert parsed.text.body == "double"
    _, parsed, _ = normalise(json.dumps(once))
    assert parsed.text.body == "double"


def test_base64_content():
    encoded = base64.b64encode(json.dumps(message("text", {"body": "binary-safe ✓"})).encode()).decode()
    _, parsed, _ = normalise(encoded, encoding="base64")
    assert parsed.text.body == "binary-safe ✓"


def test_capital_destination_and_sms_style_keys():
    payload = {
        "id": "c1fc05e6-863e-43bf-86dc-000000000000",
        "source": CUSTOMER,
        "Destination": BUSINESS,
        "content": message("text", {"body": "x"}),
        "operator": "One NZ",
        "reply_to": "r",
        "reference": "ref-1",
    }
    callback, _ = parse_mo(payload)
    assert callback.destination == BUSINESS and callback.reference == "ref-1"


def test_sms_style_keys_of_any_type_never_cost_the_customer_s_message():
    payload = {
        "id": "c1fc05e6-863e-43bf-86dc-000000000000",
        "source": CUSTOMER,
        "destination": BUSINESS,
        "content": message("text", {"body": "x"}),
        "operator": {"name": "One NZ"},
        "reply_to": 123,
    }
    _, parsed = parse_mo(payload)
    assert parsed.text.body == "x"


def test_the_business_number_spelt_twice_must_name_one_number():
    base = {"id": "c1fc05e6-863e-43bf-86dc-000000000000", "source": CUSTOMER, "content": message("text", {"body": "x"})}
    callback, _ = parse_mo({**base, "destination": BUSINESS, "Destination": BUSINESS, "to": BUSINESS})
    assert callback.destination == BUSINESS
    callback, _ = parse_mo({**base, "destination": BUSINESS.lstrip("+"), "to": f"+{BUSINESS.lstrip('+')}"})
    assert callback.destination == BUSINESS.lstrip("+")  # with or without the plus, one number
    with pytest.raises(InvalidPayload) as refused:
        parse_mo({**base, "destination": BUSINESS, "Destination": "+6421000000"})
    assert "destination, Destination, to name different numbers" in refused.value.message
    assert BUSINESS not in refused.value.message


def test_text_is_kept_exactly_as_sent():
    tricky = [
        "  leading and trailing  ",
        "'; DROP TABLE messages; --",
        "{{7*7}} ${jndi:ldap://x}",
        "<script>alert(1)</script>",
        "Māori macrons ā ē ī ō ū",
        "👩🏽‍💻🇳🇿",
        "x" * 4096,
        "line\nbreak\ttab",
    ]
    for text in tricky:
        _, _, dumped = normalise(message("text", {"body": text}))
        assert dumped["text"]["body"] == text


# --- the envelope and the content: what is refused, what is kept as `unsupported` -----------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "content, extra, reason, stored",
    [
        (message("interactive"), {}, "content.interactive: Field required", None),
        (
            message("interactive", {"type": "button_reply", "button_reply": {"title": "no id"}}, future=1),
            {},
            "content.interactive.button_reply.id: Field required",
            None,
        ),
        ("not json at all", {}, "content is not valid JSON", {"raw": "not json at all"}),
        ("bm90IGpzb24=", {}, "content is not valid JSON", {"raw": "bm90IGpzb24="}),
        (b64("Hello, plain text"), {"encoding": "base64"}, "content is not valid JSON", {"raw": "Hello, plain text"}),
        (b64('"a JSON string"'), {"encoding": "BASE64"}, "content is not valid JSON", {"raw": "a JSON string"}),
        ([1, 2], {}, "content is not a WhatsApp message object", {"raw": [1, 2]}),
        (json.dumps(42), {}, "content is not a WhatsApp message object", {"raw": 42}),
        (json.dumps([1, {"a": 2}]), {}, "content is not a WhatsApp message object", {"raw": [1, {"a": 2}]}),
        (
            json.dumps(json.dumps(json.dumps({"type": "text"}))),  # encoded three times: decoded twice at most
            {},
            "content is not a WhatsApp message object",
            {"raw": json.dumps({"type": "text"})},
        ),
        (None, {}, "content is missing", {"raw": None}),
        ({"text": {"body": "no type"}}, {}, "content.type: Field required", None),
        ({"type": ["text"], "text": {"body": "x"}}, {}, "content.type", None),
        (message("text", {"body": 5}), {}, "content.text.body", None),
        (message("text", {"body": {"$ne": ""}}), {}, "content.text.body", None),
        (message("image", {"caption": "no id"}), {}, "content.image.id: Field required", None),
        (message("reaction", {"emoji": "x"}), {}, "content.reaction.message_id: Field required", None),
        (message("x" * 100_000), {}, "content.type: String should match pattern", None),
        # ...with an object under that type: kept as its JSON text, as DynamoDB cannot hold so long a key
        (
            message("x" * 70_000, {"a": 1}),
            {},
            "content has a key DynamoDB cannot store",
            {"raw": jsoncodec.encode(message("x" * 70_000, {"a": 1}))},
        ),
        (message("text", {"body": "hi"}, id="wamid with spaces"), {}, "content.id: String should match pattern", None),
        (
            {"type": "text", "text": {"body": "hi", "": "empty key"}},
            {},
            "content has a key DynamoDB cannot store (empty, or of 64 KB or more)",
            {"raw": '{"type":"text","text":{"body":"hi","":"empty key"}}'},
        ),
        (
            {"type": "text", "text": {"body": "hi"}, "k" * 65536: 1},
            {},
            "content has a key DynamoDB cannot store (empty, or of 64 KB or more)",
            {"raw": '{"type":"text","text":{"body":"hi"},"' + "k" * 65536 + '":1}'},
        ),
    ],
)
def test_content_the_models_cannot_type_is_kept_as_unsupported_with_the_reason(content, extra, reason, stored):
    payload = mo(content, **extra)
    if content is None:
        del payload["content"]
    callback, parsed = parse_mo(payload)
    assert callback.id == payload["id"]
    assert parsed.type == "unsupported"
    assert reason in parsed.reason
    assert parsed.summary_text() is None
    assert dump_message(parsed) == (stored if stored is not None else parsed.raw)
    assert isinstance(dump_message(parsed), dict)


def test_a_number_a_model_makes_of_text_must_be_storable_too():
    order = {
        "catalog_id": "c",
        "product_items": [{"product_retailer_id": "p", "quantity": 1, "item_price": "1e400", "currency": "NZD"}],
    }
    _, parsed, dumped = normalise(message("order", order))
    assert parsed.reason == "content has a number DynamoDB or EventBridge cannot take as a number"
    assert dumped["order"] == order


def test_an_empty_key_a_model_decodes_keeps_the_content_as_its_json_text():
    flow = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": '{"": "empty key"}'}}
    content = message("interactive", flow)
    _, parsed, dumped = normalise(content)
    assert parsed.reason == "content has a key DynamoDB cannot store (empty, or of 64 KB or more)"
    assert json.loads(dumped["raw"]) == content


def test_unsupported_content_keeps_its_valid_ids_and_time():
    content = message("interactive", fields=None) | {"from": 64211234567, "timestamp": "1767739600"}
    _, parsed = parse_mo(mo(content))
    assert (parsed.from_, parsed.id, parsed.timestamp) == (None, content["id"], "1767739600")
    assert len(parse_mo(mo(message("x" * 1000)))[1].reason) <= 512


@pytest.mark.parametrize(
    "payload, code, reason",
    [
        ([], "invalid_payload", "body must be a JSON object"),
        ("text", "invalid_payload", "body must be a JSON object"),
        (None, "invalid_payload", "body must be a JSON object"),
        ({"source": CUSTOMER, "destination": BUSINESS, "content": {}}, "invalid_payload", "id: Field required"),
        (mo({}, id="../etc/passwd"), "invalid_payload", "id: String should match pattern"),
        (mo({}, id=12345), "invalid_payload", "id: Input should be a valid string"),
        (mo({}, source=None), "invalid_payload", "source"),
        (mo({}, source="+64 21 123"), "invalid_payload", "source: String should match pattern"),
        ({"id": "c1fc05e6-0001", "source": CUSTOMER, "content": {}}, "invalid_payload", "destination: Field required"),
        (mo("***not base64***", encoding="base64"), "invalid_content", "content is not valid base64"),
        (mo({"type": "text"}, encoding="base64"), "invalid_content", "content must be a base64 string"),
        (mo("/w==", encoding="base64"), "invalid_content", "content is not valid UTF-8 once base64-decoded"),
    ],
)
def test_a_callback_unusable_as_a_whole_is_refused_with_a_reason(payload, code, reason):
    with pytest.raises(InvalidPayload) as error:
        parse_mo(payload)
    assert (error.value.code, http_status(error.value)) == (code, 422)
    assert reason in error.value.message


@pytest.mark.parametrize("field", ["id", "source", "destination"])
@pytest.mark.parametrize("number", ["12345", "12345678901234567890123", "1e400"])
def test_an_id_or_number_sent_as_a_json_number_is_refused_however_large(field, number):
    """The codec keeps a number too large for DynamoDB or EventBridge as its text; a field that must be a string
    still sees a number in it."""
    body = jsoncodec.encode(mo({})).replace(json.dumps(mo({})[field]), number, 1)
    with pytest.raises(InvalidPayload) as error:
        parse_mo(jsoncodec.decode(body))
    assert error.value.message == f"{field}: Input should be a valid string"


def test_a_dlr_s_numeric_detail_is_its_text_however_large():
    from wab.callbacks import validate
    from wab.models.callbacks import DlrCallback

    decoded = jsoncodec.decode('{"id": "a1", "status": "failed", "detail": 123456789012345678901234}')
    assert validate(DlrCallback, decoded).detail == "123456789012345678901234"
    with pytest.raises(InvalidPayload):
        validate(DlrCallback, jsoncodec.decode('{"id": 123456789012345678901234, "status": "sent"}'))


def test_invalid_base64_content_is_refused():
    with pytest.raises(InvalidPayload) as error:
        normalise("***not base64***", encoding="base64")
    assert error.value.message == "content is not valid base64"


def test_every_documented_type_has_a_model_that_reads_that_type():
    for kind in MESSAGE_MODELS:
        model = model_for(kind)
        assert model.model_fields["type"].annotation == Literal[kind], kind


def test_a_callback_creates_the_models_of_its_own_message_type_only():
    """Each type's models are created when a message of the type first arrives (a cold start makes no others)."""
    loaded = "sorted(name for name in sys.modules if name.startswith('wab.models.inbound.'))"
    code = (
        "import json, sys\nfrom wab.callbacks import parse_mo\n"
        f"before = {loaded}\n"
        f"parse_mo(json.loads(sys.argv[1]))\nprint(json.dumps([before, {loaded}]))"
    )
    runs = {}
    for kind, body in [("text", {"body": "hi"}), ("location", {"latitude": 1, "longitude": 2}), ("odd", None)]:
        answer = subprocess.run(
            [sys.executable, "-c", code, json.dumps(mo(message(kind, body)))],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(LAYER)},
        )
        runs[kind] = json.loads(answer.stdout)

    changes = "wab.models.inbound.changes"  # edits and deletions are handled apart from the start
    assert runs["text"] == [[changes], [changes, "wab.models.inbound.text"]]
    assert runs["location"] == [[changes], [changes, "wab.models.inbound.location"]]
    assert runs["odd"] == [[changes], [changes]]
