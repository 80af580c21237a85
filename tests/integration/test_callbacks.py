"""The callbacks function against moto: what is stored, what is published, what the provider is answered."""

import json
import threading
from decimal import Decimal
from typing import Any

import boto3
import pytest
from wab.store import reference_key, reference_keys

from tests.helpers import CALLBACK_PASSWORD, CALLBACK_USER, LambdaContext, basic, http_event, load_handler

MO_ID = "c1fc05e6-863e-43bf-86dc-000000000001"
MT_ID = "b95fc11e-37f0-4770-a082-6ea22d4c4d12"
CUSTOMER = "+64211234567"
BUSINESS = "1234567890"


def mo_body(text: str = "Kia ora 👋", message_id: str = MO_ID, **content: Any) -> dict[str, Any]:
    whatsapp = {
        "from": CUSTOMER,
        "id": "wamid.ABC123",
        "timestamp": "1795600000",
        "type": "text",
        "text": {"body": text},
    }
    whatsapp.update(content)
    return {"id": message_id, "source": CUSTOMER, "destination": BUSINESS, "content": whatsapp}


# --- through the callbacks function's own URL (CallbackEndpoint FunctionUrl) ---------------------------------------


def function_url_event(path: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """What a Lambda function URL hands the function: payload format 2.0, the `$default` route, the URL's host."""
    event = http_event("POST", path, body=body, headers=headers, route="$default")
    event["requestContext"].update(apiId="u7x3k2", domainName="u7x3k2.lambda-url.eu-west-1.on.aws")
    return event


def test_callbacks_through_the_function_url_are_authenticated_and_handled_as_through_the_api(aws, callbacks):
    call = lambda path, **kwargs: callbacks.lambda_handler(function_url_event(path, **kwargs), LambdaContext())  # noqa: E731

    refused = call("/callbacks/mo", body=mo_body(), headers={"authorization": basic(password="wrong")})
    assert refused["statusCode"] == 401 and refused["headers"]["WWW-Authenticate"].startswith("Basic")
    assert call("/elsewhere", body=mo_body(), headers={"authorization": basic()})["statusCode"] == 404
    assert aws.items() == [] and aws.published() == []

    answer = call("/callbacks/mo", body=mo_body(), headers={"authorization": basic()})
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"status": "ok"})
    [event] = aws.published()
    assert (event["detail-type"], event["detail"]["message_id"]) == ("WhatsApp Message Received", MO_ID)
    assert aws.item(f"MSG#{MO_ID}")["status"] == "received"


# --- MO -----------------------------------------------------------------------------------------------------------


def test_mo_is_stored_windows_the_contact_and_is_published(aws, post):
    status, answer, _ = post("mo", mo_body())

    assert (status, answer) == (200, {"status": "ok"})
    item = aws.item(f"MSG#{MO_ID}")
    assert item["direction"] == "MO"
    assert (item["source"], item["destination"], item["type"], item["status"]) == (
        CUSTOMER,
        BUSINESS,
        "text",
        "received",
    )
    assert item["content"]["text"] == {"body": "Kia ora 👋"}
    assert item["status_history"] == [{"status": "received", "at": "2026-11-25T09:46:40.000000Z"}]
    assert item["outbox"] == {}
    assert aws.item(f"CONTACT#{CUSTOMER}")["last_inbound_at"] == "2026-11-25T09:46:40.000000Z"
    [event] = aws.published()
    assert (event["source"], event["detail-type"]) == ("wab.gateway", "WhatsApp Message Received")
    assert event["detail"] == {
        "message_id": MO_ID,
        "whatsapp_message_id": "wamid.ABC123",
        "source": CUSTOMER,
        "destination": BUSINESS,
        "type": "text",
        "text": "Kia ora 👋",
        "content": {
            "from": CUSTOMER,
            "id": "wamid.ABC123",
            "timestamp": "1795600000",
            "type": "text",
            "text": {"body": "Kia ora 👋"},
        },
        "received_at": "2026-11-25T09:46:40.000000Z",
    }


def test_a_repeated_mo_is_answered_ok_and_publishes_nothing_new(aws, post):
    post("mo", mo_body())
    aws.published()
    before = aws.item(f"MSG#{MO_ID}")

    for _ in range(3):
        assert post("mo", mo_body())[:2] == (200, {"status": "ok"})

    assert aws.published() == []
    assert aws.item(f"MSG#{MO_ID}") == before


@pytest.mark.parametrize(
    "content, text, published",
    [
        (
            '{"type": "image", "image": {"id": "m1", "mime_type": "image/jpeg", "caption": "receipt"}}',
            "receipt",
            {"type": "image", "image": {"id": "m1", "mime_type": "image/jpeg", "caption": "receipt"}},
        ),
        (
            '{"type": "location", "location": {"latitude": -41.286640000000000001, "longitude": 174.77557}}',
            None,
            {"type": "location", "location": {"latitude": "-41.286640000000000001", "longitude": "174.77557"}},
        ),
        (
            '{"type": "interactive", "interactive": '
            '{"type": "button_reply", "button_reply": {"id": "y", "title": "Yes"}}}',
            "Yes",
            {
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "y", "title": "Yes"}},
            },
        ),
        (
            '{"type": "reaction", "reaction": {"message_id": "wamid.X"}}',
            None,
            {"type": "reaction", "reaction": {"message_id": "wamid.X", "removed": True}},
        ),
        (
            '{"type": "order", "order": {"catalog_id": "c", "product_items": '
            '[{"product_retailer_id": "p", "quantity": 2, "item_price": 12.50, "currency": "NZD"}]}}',
            None,
            {
                "type": "order",
                "order": {
                    "catalog_id": "c",
                    "product_items": [
                        {"product_retailer_id": "p", "quantity": 2, "item_price": "12.50", "currency": "NZD"}
                    ],
                },
            },
        ),
        (
            '{"type": "brand_new_type", "brand_new_type": {"deep": {"er": [1]}}}',
            None,
            {"type": "brand_new_type", "brand_new_type": {"deep": {"er": [1]}}},
        ),
    ],
)
def test_every_kind_of_mo_is_stored_and_published(aws, post, sent_entries, content, text, published):
    # %-formatting keeps the JSON's own braces single (an f-string would double every one of them).
    raw = '{"id": "%s", "source": "%s", "destination": "%s", "content": %s}' % (MO_ID, CUSTOMER, BUSINESS, content)  # noqa: UP031

    assert post("mo", raw=raw, headers={"content-type": "application/json"})[0] == 200

    exact = json.loads(json.dumps(published), parse_float=Decimal)
    exact = json.loads(
        json.dumps(exact, default=str)
        .replace('"-41.286640000000000001"', "-41.286640000000000001")
        .replace('"174.77557"', "174.77557")
        .replace('"12.50"', "12.50"),
        parse_float=Decimal,
    )
    [entry] = sent_entries
    detail = json.loads(entry["Detail"], parse_float=Decimal)
    assert detail["type"] == published["type"]
    assert detail.get("text") == text
    assert detail["content"] == exact
    assert aws.item(f"MSG#{MO_ID}")["content"] == exact
    assert len(aws.published()) == 1


def test_an_older_mo_arriving_late_does_not_move_the_window_back(aws, post):
    post("mo", mo_body(message_id="c1fc05e6-863e-43bf-86dc-00000000000a", timestamp="1795600500", id="wamid.A"))
    post("mo", mo_body(message_id="c1fc05e6-863e-43bf-86dc-00000000000b", timestamp="1795600000", id="wamid.B"))

    assert aws.item(f"CONTACT#{CUSTOMER}")["last_inbound_at"] == "2026-11-25T09:55:00.000000Z"
    assert len(aws.published()) == 2


# --- authentication -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        None,
        basic(password="wrong"),
        basic(user="someone-else"),
        basic(password=CALLBACK_PASSWORD + "x"),
        "Bearer " + CALLBACK_PASSWORD,
        "Basic !!!not-base64!!!",
        "Basic " + "d2FiLWNhbGxiYWNrcw==",  # username only, no colon
        "Basic",
    ],
)
def test_missing_or_wrong_credentials_get_401_and_nothing_is_stored(aws, post, auth):
    for route, body in (("mo", mo_body()), ("dlr", {"id": MT_ID, "status": "sent", "reference": ""})):
        status, answer, headers = post(route, body, auth=auth)
        assert status == 401
        assert answer["error"] == "unauthorized"
        assert headers["WWW-Authenticate"].startswith("Basic realm=")
    assert aws.items() == []
    assert aws.published() == []


def test_bad_credentials_are_checked_before_the_body(aws, post):
    assert post("mo", raw="{not json", auth=basic(password="wrong"))[0] == 401


def test_previous_credentials_still_work_during_a_rotation(aws, post):
    boto3.client("secretsmanager").put_secret_value(
        SecretId=aws.callback_secret_arn,
        SecretString=json.dumps(
            {
                "username": CALLBACK_USER,
                "password": "new-password",
                "previous_username": CALLBACK_USER,
                "previous_password": CALLBACK_PASSWORD,
            }
        ),
    )
    assert post("mo", mo_body(), auth=basic(password="new-password"))[0] == 200
    assert post("mo", mo_body(), auth=basic(password=CALLBACK_PASSWORD))[0] == 200
    assert post("mo", mo_body(), auth=basic(password="older-still"))[0] == 401


# --- bad input -------------------------------------------------------------------------------------------------------

NESTED = '{"id":"' + MO_ID + '","source":"+64211234567","destination":"1","content":' + "[" * 5000 + "]" * 5000 + "}"


@pytest.mark.parametrize(
    "route, raw, status, error",
    [
        ("mo", "{", 400, "malformed_json"),
        ("mo", '{"id": "' + MO_ID + '", "source": "+6421"', 400, "malformed_json"),
        ("mo", "", 400, "malformed_json"),
        ("mo", "   ", 400, "malformed_json"),
        ("mo", "[]", 422, "invalid_payload"),
        ("mo", "null", 422, "invalid_payload"),
        ("mo", '"just a string"', 422, "invalid_payload"),
        ("mo", '{"source": "+64211234567", "destination": "1", "content": {}}', 422, "invalid_payload"),
        (
            "mo",
            '{"id": 12345, "source": "+64211234567", "destination": "1", '
            '"content": {"type": "text", "text": {"body": "x"}}}',
            422,
            "invalid_payload",
        ),
        (
            "mo",
            '{"id": {"$ne": null}, "source": "+64211234567", "destination": "1", '
            '"content": {"type": "text", "text": {"body": "x"}}}',
            422,
            "invalid_payload",
        ),
        (
            "mo",
            '{"id": "'
            + MO_ID
            + '", "source": {"$gt": ""}, "destination": "1", "content": {"type": "text", "text": {"body": "x"}}}',
            422,
            "invalid_payload",
        ),
        (
            "mo",
            '{"id": "'
            + "a" * 201
            + '", "source": "+64211234567", "destination": "1", "content": {"type": "text", "text": {"body": "x"}}}',
            422,
            "invalid_payload",
        ),
        (
            "mo",
            '{"id": "../../etc/passwd", "source": "+64211234567", "destination": "1", '
            '"content": {"type": "text", "text": {"body": "x"}}}',
            422,
            "invalid_payload",
        ),
        (
            "mo",
            '{"id": "'
            + MO_ID
            + '", "source": "+64211234567", "destination": "1", "content": "%%%", "encoding": "base64"}',
            422,
            "invalid_content",
        ),
        ("mo", NESTED, 422, "too_deep"),
        (
            "mo",
            '{"id": "'
            + MO_ID
            + '", "source": "+64211234567", "destination": "1", "content": {"type": "text", "text": {"body": NaN}}}',
            400,
            "malformed_json",
        ),
        ("dlr", '{"status": "sent"}', 422, "invalid_payload"),
        ("dlr", '{"id": "' + MT_ID + '", "message_id": "' + MO_ID + '", "status": "sent"}', 422, "invalid_payload"),
        ("dlr", '{"id": "' + MT_ID + '", "status": "sent", "id": "' + MO_ID + '"}', 400, "malformed_json"),
        (
            "mo",
            '{"id": "' + MO_ID + '", "source": "+64211234567", "destination": "1", "source": "+64219876543", '
            '"content": {"type": "text", "text": {"body": "hi"}}}',
            400,
            "malformed_json",
        ),
        ("dlr", '{"id": "' + MT_ID + '"}', 422, "invalid_payload"),
        ("dlr", '{"id": "' + MT_ID + '", "status": ["sent"]}', 422, "invalid_payload"),
        ("dlr", '{"id": "' + MT_ID + '", "status": "sent; DROP"}', 422, "invalid_payload"),
        ("dlr", '{"id": "' + MT_ID + '", "status": "sent", "reference": {"$where": "1"}}', 422, "invalid_payload"),
        ("dlr", '{"id": "' + MT_ID + '", "status": "sent", "reference": "' + "r" * 257 + '"}', 422, "invalid_payload"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(aws, post, route, raw, status, error):
    got_status, answer, _ = post(route, raw=raw, headers={"content-type": "application/json"})

    assert (got_status, answer["error"]) == (status, error)
    assert answer["message"]
    assert aws.items() == []
    assert aws.published() == []


@pytest.mark.parametrize(
    "content, reason, stored",
    [
        ('"not json"', "content is not valid JSON", {"raw": "not json"}),
        ("null", "content is missing", {"raw": None}),
        ('{"type": ["text"], "text": {"body": "x"}}', "content.type", {"type": ["text"], "text": {"body": "x"}}),
        ('{"type": {"text": 1}}', "content.type", {"type": {"text": 1}}),
        ('{"text": {"body": "x"}}', "content.type: Field required", {"text": {"body": "x"}}),
        ('{"type": "text", "text": {"body": 7}}', "content.text.body", {"type": "text", "text": {"body": 7}}),
        (
            '{"id": "wamid.I1", "timestamp": "1795600000", "type": "interactive"}',
            "content.interactive: Field required",
            {"id": "wamid.I1", "timestamp": "1795600000", "type": "interactive"},
        ),
        ('"SGVsbG8sIHBsYWluIHRleHQ=", "encoding": "base64"', "content is not valid JSON", {"raw": "Hello, plain text"}),
        ('"[1, 2]"', "content is not a WhatsApp message object", {"raw": [1, 2]}),
        ('{"type": "location", "location": {"latitude": 1e400, "longitude": 1}}', "latitude", None),
        (  # deeper than a record holds: kept as its JSON text
            '{"type": "x", "x": ' + '{"a": ' * 30 + "1" + "}" * 30 + "}",
            "content is nested too deeply",
            {"raw": '{"type":"x","x":' + '{"a":' * 30 + "1" + "}" * 30 + "}"},
        ),
        ('"' + "[" * 30 + "]" * 30 + '"', "content is nested too deeply", {"raw": "[" * 30 + "]" * 30}),
    ],
)
def test_content_the_models_cannot_type_is_stored_and_published_as_unsupported(aws, post, content, reason, stored):
    raw = '{"id": "%s", "source": "%s", "destination": "%s", "content": %s}' % (MO_ID, CUSTOMER, BUSINESS, content)  # noqa: UP031

    assert post("mo", raw=raw, headers={"content-type": "application/json"})[:2] == (200, {"status": "ok"})

    item = aws.item(f"MSG#{MO_ID}")
    [event] = aws.published()
    assert event["detail-type"] == "WhatsApp Message Received"
    assert (item["type"], event["detail"]["type"]) == ("unsupported", "unsupported")
    assert reason in item["reason"] and event["detail"]["reason"] == item["reason"]
    assert "text" not in event["detail"]
    if stored is not None:
        assert item["content"] == stored
    assert aws.item(f"CONTACT#{CUSTOMER}") is not None  # the customer wrote: the window moves all the same
    assert post("mo", raw=raw, headers={"content-type": "application/json"})[0] == 200  # and a retry is a duplicate
    assert aws.published() == []


def test_unsupported_content_is_counted(aws, post, monkeypatch):
    callbacks = load_handler("callbacks")
    counted: list[tuple[str, dict[str, str]]] = []
    monkeypatch.setattr(callbacks, "count", lambda name, value=1, **dimensions: counted.append((name, dimensions)))

    post("mo", mo_body(type="interactive"))
    post("mo", mo_body(type="interactive"))  # a duplicate is not counted again

    assert counted == [("MessagesReceived", {"type": "unsupported"}), ("MessagesUnsupported", {})]


def test_non_utf8_bytes_are_refused(aws, post):
    status, answer, _ = post("mo", raw=b'{"id": "\xff\xfe"}', headers={"content-type": "application/json"})
    assert (status, answer["error"]) == (400, "invalid_encoding")
    assert aws.items() == []


def test_a_huge_body_is_refused_with_413(aws, post):
    body = mo_body(text="x" * (200 * 1024))
    status, answer, _ = post("mo", body)
    assert (status, answer["error"]) == (413, "payload_too_large")
    assert aws.items() == []


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "text/plain; charset=utf-8", "multipart/mixed"]
)
def test_a_body_that_is_not_json_by_media_type_is_refused_with_415(aws, post, content_type):
    raw = json.dumps(dlr("sent"))  # JSON all the same: the media type decides
    status, answer, _ = post("dlr", raw=raw, headers={"content-type": content_type})
    assert (status, answer["error"]) == (415, "unsupported_media_type")
    assert aws.items() == []


def test_a_compressed_body_is_refused_with_415_for_what_it_is(aws, post):
    import gzip

    raw = gzip.compress(json.dumps(mo_body()).encode())
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    status, answer, _ = post("mo", raw=raw, headers=headers)
    assert (status, answer["error"]) == (415, "unsupported_media_type")
    assert "uncompressed" in answer["message"]
    assert aws.items() == []


def test_a_body_without_a_content_type_is_refused_with_415(aws, post, callbacks):
    event = http_event("POST", "/callbacks/dlr", raw_body=json.dumps(dlr("sent")), headers={"authorization": basic()})
    event["headers"].pop("content-type", None)
    response = callbacks.lambda_handler(event, LambdaContext())
    assert (response["statusCode"], json.loads(response["body"])["error"]) == (415, "unsupported_media_type")
    assert aws.items() == []


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.x+json"]
)
def test_every_json_media_type_is_taken(aws, post, content_type):
    assert post("dlr", raw=json.dumps(dlr("sent")), headers={"content-type": content_type})[0] == 200


def test_text_is_stored_and_published_exactly_as_sent(aws, post):
    text = "ā ē ī ō ū 🇳🇿 '; DROP TABLE x; -- {{7*7}} <b>" + "y" * 4000
    assert post("mo", mo_body(text=text))[0] == 200
    assert aws.item(f"MSG#{MO_ID}")["content"]["text"]["body"] == text
    assert aws.published()[0]["detail"]["text"] == text


# --- DLR -------------------------------------------------------------------------------------------------------------


def dlr(status: str, message_id: str = MT_ID, reference: str = "order-7", **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "status": status, "reference": reference, **extra}


def status_events(aws) -> list[tuple[str, str]]:
    return [
        (event["detail"]["previous_status"], event["detail"]["status"])
        for event in aws.published()
        if event["detail-type"] == "WhatsApp Message Status Changed"
    ]


def test_statuses_move_forward_and_each_move_is_published_once(aws, post, sent):
    sent()
    assert post("dlr", dlr("sent"))[:2] == (200, {"status": "ok"})
    assert post("dlr", dlr("received"))[0] == 200

    item = aws.item(f"MSG#{MT_ID}")
    assert item["status"] == "received"
    assert [entry["status"] for entry in item["status_history"]] == ["accepted", "sent", "received"]
    assert item["reference"] == "order-7" and item["reference_key"] == reference_key("order-7", MT_ID)
    [first, second] = aws.published()
    assert first["detail"]["message_id"] == MT_ID and first["detail"]["reference"] == "order-7"
    assert [
        (first["detail"]["previous_status"], first["detail"]["status"]),
        (second["detail"]["previous_status"], second["detail"]["status"]),
    ] == [("accepted", "sent"), ("sent", "received")]


def test_sms_v2_shape_is_accepted(aws, post):
    assert (
        post("dlr", {"message_id": MT_ID, "status": "REJECTED", "detail": "carrier said no", "reference": ""})[0] == 200
    )
    item = aws.item(f"MSG#{MT_ID}")
    assert item["status"] == "rejected"
    assert item["status_history"][0]["detail"] == "carrier said no"
    assert "reference" not in item
    [event] = aws.published()
    assert event["detail"]["detail"] == "carrier said no"


def test_out_of_order_dlrs_end_in_the_final_status_with_one_event(aws, post):
    post("dlr", dlr("received"))
    post("dlr", dlr("sent"))

    item = aws.item(f"MSG#{MT_ID}")
    assert item["status"] == "received"
    assert [entry["status"] for entry in item["status_history"]] == ["received", "sent"]
    assert status_events(aws) == [("accepted", "received")]


def test_a_final_status_is_never_overwritten(aws, post):
    post("dlr", dlr("received"))
    post("dlr", dlr("expired"))
    post("dlr", dlr("rejected"))

    item = aws.item(f"MSG#{MT_ID}")
    assert item["status"] == "received"
    assert [entry["status"] for entry in item["status_history"]] == ["received", "expired", "rejected"]
    assert status_events(aws) == [("accepted", "received")]


def test_provider_retries_publish_nothing_new(aws, post):
    for _ in range(3):
        post("dlr", dlr("sent"))
    assert status_events(aws) == [("accepted", "sent")]
    assert len(aws.item(f"MSG#{MT_ID}")["status_history"]) == 1


def test_an_undocumented_status_is_kept_in_the_history_without_breaking_the_state(aws, post):
    post("dlr", dlr("sent"))
    post("dlr", dlr("held"))
    post("dlr", dlr("received"))

    item = aws.item(f"MSG#{MT_ID}")
    assert item["status"] == "received"
    assert [entry["status"] for entry in item["status_history"]] == ["sent", "held", "received"]
    assert status_events(aws) == [("accepted", "sent"), ("sent", "received")]


def test_a_read_receipt_is_published_once_and_never_moves_a_status_back(aws, post):
    post("dlr", dlr("sent"))
    post("dlr", dlr("received"))
    post("dlr", dlr("read"))
    post("dlr", dlr("read"))  # the provider's retry
    post("dlr", dlr("received"))  # a late duplicate

    assert aws.item(f"MSG#{MT_ID}")["status"] == "read"
    assert status_events(aws) == [("accepted", "sent"), ("sent", "received"), ("received", "read")]


def test_a_read_receipt_that_overtakes_the_delivery_report_still_reads_as_delivered(aws, post):
    post("dlr", dlr("read"))
    post("dlr", dlr("received"))
    post("dlr", dlr("sent"))

    assert aws.item(f"MSG#{MT_ID}")["status"] == "read"
    assert status_events(aws) == [("accepted", "read")]


def test_a_failed_message_is_never_read(aws, post):
    post("dlr", dlr("rejected"))
    post("dlr", dlr("read"))

    assert aws.item(f"MSG#{MT_ID}")["status"] == "rejected"
    assert status_events(aws) == [("accepted", "rejected")]


def test_a_dlr_before_the_send_is_stored_keeps_the_record_for_reconciliation(aws, post):
    post("dlr", dlr("sent", reference=""))
    item = aws.item(f"MSG#{MT_ID}")
    assert (item["direction"], item["status"]) == ("MT", "sent")
    assert "destination" not in item and "contact_key" not in item


# --- what a DLR may not do: forged statuses --------------------------------------------------------------------------


def test_a_dlr_for_an_unknown_id_creates_a_provisional_record_without_its_reference(aws, post):
    import time

    for number in range(20):
        assert post("dlr", dlr("sent", message_id=f"{MT_ID[:-2]}{number:02d}", reference="victim-order"))[0] == 200

    items = aws.items()
    assert len(items) == 20
    assert all("reference" not in item and "reference_key" not in item for item in items)
    assert all(item["expires_at"] <= time.time() + 86400 + 60 for item in items)  # a day, not the retention
    assert all("reference" not in event["detail"] for event in aws.published())
    for key in reference_keys("victim-order"):
        listing = boto3.client("dynamodb").query(
            TableName=aws.table_name,
            IndexName="by-reference",
            KeyConditionExpression="reference_key = :r",
            ExpressionAttributeValues={":r": {"S": key}},
        )
        assert listing["Items"] == []


def test_a_dlr_never_changes_a_reference(aws, post, sent):
    sent(MT_ID, reference="order-7")
    assert post("dlr", dlr("sent", reference="someone-elses"))[0] == 200

    assert aws.item(f"MSG#{MT_ID}")["reference"] == "order-7"
    [event] = aws.published()
    assert event["detail"]["reference"] == "order-7"


def test_a_dlr_for_an_inbound_message_is_refused_and_changes_nothing(aws, post):
    post("mo", mo_body())
    aws.published()
    before = aws.item(f"MSG#{MO_ID}")

    for status in ("sent", "rejected", "read"):
        got, answer, _ = post("dlr", dlr(status, message_id=MO_ID))
        assert (got, answer["error"]) == (409, "not_outbound")
    assert aws.item(f"MSG#{MO_ID}") == before
    assert aws.published() == []


@pytest.mark.parametrize("first", ["sent", "dlr"])
@pytest.mark.parametrize(
    "content", [{}, {"type": "edit", "edit": {"original_message_id": "wamid.X"}}], ids=["message", "edit"]
)
def test_an_mo_whose_id_names_a_sent_message_is_refused_and_changes_nothing(aws, post, sent, first, content):
    """Answering 200 while storing nothing would lose the customer's message unseen."""
    if first == "sent":
        sent(MT_ID)
    else:  # a DLR before its send: the provisional record of a message the gateway sent
        assert post("dlr", dlr("sent"))[0] == 200
    aws.published()
    before = aws.item(f"MSG#{MT_ID}")

    got, answer, _ = post("mo", mo_body(message_id=MT_ID, **content))

    assert (got, answer["error"]) == (409, "not_inbound")
    assert aws.item(f"MSG#{MT_ID}") == before
    assert aws.published() == []


def test_accepted_to_accepted_is_not_a_status_change(aws, post, sent):
    assert post("dlr", dlr("accepted", message_id=MO_ID[:-1] + "9"))[0] == 200  # unknown id: provisional
    assert aws.published() == []
    sent(MT_ID)
    assert post("dlr", dlr("accepted"))[0] == 200

    assert aws.published() == []
    assert aws.item(f"MSG#{MO_ID[:-1]}9")["status"] == "accepted"
    assert [entry["status"] for entry in aws.item(f"MSG#{MT_ID}")["status_history"]] == ["accepted"]


def test_made_up_statuses_are_bounded_and_the_documented_ones_always_apply(aws, post, sent):
    from wab.callbacks import MAX_UNDOCUMENTED_STATUSES

    sent(MT_ID)
    detail = "d" * 1024  # the longest detail kept
    for number in range(MAX_UNDOCUMENTED_STATUSES):
        made_up = "x" * 30 + chr(ord("a") + number // 26) + chr(ord("a") + number % 26)  # 32 letters, the most
        assert post("dlr", dlr(made_up, detail=detail))[0] == 200
    for number in range(3):
        got, answer, _ = post("dlr", dlr(f"madeup_{'x' * 20}{chr(ord('a') + number)}", detail=detail))
        assert (got, answer["error"]) == (422, "too_many_statuses")

    assert post("dlr", dlr("sent", detail=detail))[0] == 200
    assert post("dlr", dlr("received", detail=detail))[0] == 200
    assert post("dlr", dlr("rejected", detail=detail))[0] == 200
    assert post("dlr", dlr("expired", detail=detail))[0] == 200

    item = aws.item(f"MSG#{MT_ID}")
    assert item["status"] == "received"
    assert len(item["status_history"]) == 1 + MAX_UNDOCUMENTED_STATUSES + 4
    assert status_events(aws) == [("accepted", "sent"), ("sent", "received")]


# --- dependency failures, retries, races ------------------------------------------------------------------------------


def fail_put_events(monkeypatch, *, partially: bool = False) -> list[int]:
    """Make the events client fail; returns a list counting the calls made."""
    from wab import aws as wab_aws

    client = wab_aws.client("events")
    calls: list[int] = []

    def put_events(**kwargs):
        calls.append(len(kwargs["Entries"]))
        if partially:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "PutEvents")

    monkeypatch.setattr(client, "put_events", put_events)
    return calls


@pytest.mark.parametrize("partially", [False, True])
def test_a_publish_failure_gets_503_and_the_retry_completes_without_duplicates(aws, post, monkeypatch, partially):
    with monkeypatch.context() as patch:
        fail_put_events(patch, partially=partially)
        status, answer, headers = post("mo", mo_body())
    assert (status, answer["error"]) == (503, "dependency_failed")
    assert headers["Retry-After"]
    stored = aws.item(f"MSG#{MO_ID}")
    assert stored["outbox"]["received"]["lease_until"] == 0
    assert "detail" not in stored["outbox"]["received"]  # the record holds the content once; the event restates it
    assert aws.published() == []

    assert post("mo", mo_body())[0] == 200
    [event] = aws.published()
    assert event["detail"]["message_id"] == MO_ID
    assert (event["detail"]["content"], event["detail"]["text"]) == (stored["content"], stored["text"])
    assert aws.item(f"MSG#{MO_ID}")["outbox"] == {}
    assert post("mo", mo_body())[0] == 200
    assert aws.published() == []


def test_an_eventbridge_outage_delays_a_dlr_event_and_loses_or_repeats_nothing(aws, post, monkeypatch):
    post("dlr", dlr("sent"))
    aws.published()
    with monkeypatch.context() as patch:
        fail_put_events(patch)
        assert post("dlr", dlr("received"))[0] == 200  # stored: the table's stream publishes it
        assert aws.published() == []
    assert aws.item(f"MSG#{MT_ID}")["status"] == "received"

    assert post("dlr", dlr("received"))[0] == 200
    assert status_events(aws) == [("sent", "received")]
    assert aws.published() == []


def test_a_storage_failure_gets_503_and_stores_or_publishes_nothing(aws, post, monkeypatch):
    from botocore.exceptions import ClientError
    from wab import aws as wab_aws

    def unavailable(**_):
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem"
        )

    with monkeypatch.context() as patch:
        patch.setattr(wab_aws.client("dynamodb"), "put_item", unavailable)
        assert post("mo", mo_body())[0] == 503
    assert aws.items() == [] and aws.published() == []

    assert post("mo", mo_body())[0] == 200
    assert len(aws.published()) == 1


def test_a_window_update_failure_is_retried_before_anything_is_published(aws, post, monkeypatch):
    from botocore.exceptions import ClientError
    from wab import aws as wab_aws

    def unavailable(**_):
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "UpdateItem")

    client = wab_aws.client("dynamodb")
    real_update = client.update_item
    with monkeypatch.context() as patch:
        patch.setattr(
            client,
            "update_item",
            lambda **kw: unavailable() if kw["Key"]["pk"]["S"].startswith("CONTACT#") else real_update(**kw),
        )
        assert post("mo", mo_body())[0] == 503
    assert aws.published() == []
    assert aws.item(f"CONTACT#{CUSTOMER}") is None

    assert post("mo", mo_body())[0] == 200
    assert aws.item(f"CONTACT#{CUSTOMER}") is not None
    assert len(aws.published()) == 1


def test_a_duplicate_arriving_while_the_original_is_publishing_is_asked_to_retry(aws, post, monkeypatch):
    from wab.publisher import EventPublisher

    answers = []
    real_publish = EventPublisher.publish

    def publish_after_a_duplicate_arrives(self, events):
        if not answers:
            answers.append(post("mo", mo_body())[:2])
        return real_publish(self, events)

    monkeypatch.setattr(EventPublisher, "publish", publish_after_a_duplicate_arrives)
    assert post("mo", mo_body())[0] == 200
    assert answers == [
        (503, {"error": "in_progress", "message": "this callback is being processed by another invocation; retry"})
    ]
    assert len(aws.published()) == 1


def test_concurrent_dlrs_for_one_message_lose_no_update(aws, post):
    statuses = ["sent", "received", "read", "sent", "received"]
    results: list[int] = []

    # Each concurrent DLR in an execution environment of its own, as Lambda runs them.
    environments = [load_handler("callbacks", environment) for environment in range(1, len(statuses) + 1)]

    def deliver(status: str, handler: Any) -> None:
        event = http_event("POST", "/callbacks/dlr", body=dlr(status), headers={"authorization": basic()})
        results.append(handler.lambda_handler(event, LambdaContext())["statusCode"])

    threads = [threading.Thread(target=deliver, args=pair) for pair in zip(statuses, environments, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(code in (200, 503) for code in results)
    for status in statuses:  # the provider retries whatever was not answered 200
        assert post("dlr", dlr(status))[0] == 200
    item = aws.item(f"MSG#{MT_ID}")
    assert item["status"] == "read"
    assert sorted(entry["status"] for entry in item["status_history"]) == ["read", "received", "sent"]
    events = status_events(aws)
    assert len([event for event in events if event[1] == "read"]) == 1
    assert len([event for event in events if event[1] == "received"]) <= 1
    assert len(events) <= 3


# --- values DynamoDB or EventBridge cannot hold as they are ----------------------------------------------------------


@pytest.mark.parametrize(
    "number", ["1e400", "1e-400", "1234567890123456789012345678901234567890", "18446744073709551616"]
)
def test_a_number_dynamodb_cannot_hold_is_stored_and_published_as_its_exact_text(aws, post, sent_entries, number):
    raw = (
        '{"id": "%s", "source": "%s", "destination": "%s", "content": {"type": "text", "text": {"body": "hi"}, '  # noqa: UP031
        '"future": {"value": %s, "list": [%s, 1.5]}}}' % (MO_ID, CUSTOMER, BUSINESS, number, number)
    )

    assert post("mo", raw=raw, headers={"content-type": "application/json"})[:2] == (200, {"status": "ok"})

    assert aws.item(f"MSG#{MO_ID}")["content"]["future"] == {"value": number, "list": [number, Decimal("1.5")]}
    [entry] = sent_entries
    assert f'"future":{{"value":"{number}","list":["{number}",1.5]}}' in entry["Detail"]
    assert len(aws.published()) == 1


@pytest.mark.parametrize(
    "content",
    [
        '{"type": "order", "order": {"catalog_id": "c", "product_items": [{"product_retailer_id": "p", '
        '"quantity": 1e400, "item_price": 1e-400, "currency": "NZD"}]}}',
        '{"type": "text", "text": {"body": "hi"}, "errors": [{"code": 99999999999999999999999}]}',
    ],
)
def test_a_number_a_model_would_turn_back_into_one_too_large_keeps_the_content_as_unsupported(
    aws, post, sent_entries, content
):
    raw = '{"id": "%s", "source": "%s", "destination": "%s", "content": %s}' % (MO_ID, CUSTOMER, BUSINESS, content)  # noqa: UP031

    assert post("mo", raw=raw, headers={"content-type": "application/json"})[:2] == (200, {"status": "ok"})

    item = aws.item(f"MSG#{MO_ID}")
    assert (item["type"], item["reason"]) == (
        "unsupported",
        "content has a number DynamoDB or EventBridge cannot take as a number",
    )
    assert "1e400" in repr(item["content"]) or "99999999999999999999999" in repr(item["content"])
    assert len(sent_entries) == 1


def test_a_dlr_detail_that_is_a_huge_number_is_kept_as_text(aws, post):
    raw = '{"id": "%s", "status": "sent", "detail": 1e400}' % MT_ID  # noqa: UP031
    assert post("dlr", raw=raw, headers={"content-type": "application/json"})[0] == 200
    assert aws.item(f"MSG#{MT_ID}")["status_history"][0]["detail"] == "1e400"


# --- at the size limits: stored within DynamoDB's item size and EventBridge's entry size, or refused with 413 --------


def body_of_size(content_prefix: str, filler: str, content_suffix: str, size: int = 128 * 1024) -> str:
    """An MO body of exactly `size` bytes: the content starts with `content_prefix`, then `filler` as often as fits."""
    head = '{"id": "%s", "source": "%s", "destination": "%s", "content": %s' % (  # noqa: UP031
        MO_ID,
        CUSTOMER,
        BUSINESS,
        content_prefix,
    )
    tail = content_suffix + "}"
    room = size - len(head.encode()) - len(tail.encode())
    repeats = room // len(filler.encode())
    body = head + filler * repeats + tail
    return body + " " * (size - len(body.encode()))


def assert_within_limits(aws, sent_entries) -> None:
    from wab import limits

    assert limits.item_size(aws.item(f"MSG#{MO_ID}")) <= limits.ITEM_BUDGET
    assert all(len(entry["Detail"].encode()) <= limits.EVENT_BUDGET for entry in sent_entries)


@pytest.mark.parametrize(
    "prefix, filler, suffix, keeps_text",
    [
        ('{"type": "text", "text": {"body": "', "y", '"}}', False),  # the whole body one text: no room for copies
        ('{"type": "text", "text": {"body": "', "ā🇳🇿", '"}}', False),
        ('{"type": "text", "text": {"body": "', "\\\\", '"}}', False),  # each escaped twice over in the event
        ('{"type": "text", "text": {"body": "', "\\u0001", '"}}', False),
        ('{"type": "text", "text": {"body": "short"}, "numbers": [', "1e400, ", "1]}", True),  # numbers kept as text
        ('{"type": "text", "text": {"body": "short"}, "lists": [', "[], ", "[]]}", True),
        ('{"type": "', "x", '", "x": {}}', False),  # a type name of 128 KiB: unsupported, kept once
    ],
)
def test_a_body_at_the_limit_is_stored_within_dynamodb_and_eventbridge_limits(
    aws, post, sent_entries, prefix, filler, suffix, keeps_text
):
    raw = body_of_size(prefix, filler, suffix)

    assert post("mo", raw=raw, headers={"content-type": "application/json"})[:2] == (200, {"status": "ok"})

    assert_within_limits(aws, sent_entries)
    item = aws.item(f"MSG#{MO_ID}")
    [event] = aws.published()
    assert ("text" in item, "text" in event["detail"]) == (keeps_text, keeps_text)
    assert item["outbox"] == {}


def test_text_that_fits_twice_is_kept_in_the_record_and_the_event(aws, post, sent_entries):
    text = "ā" * 20_000  # 40,000 bytes of UTF-8 (the test client sends it \u-escaped: 120,000 bytes of body)
    assert post("mo", mo_body(text=text))[0] == 200
    assert_within_limits(aws, sent_entries)
    assert aws.item(f"MSG#{MO_ID}")["text"] == text
    assert aws.published()[0]["detail"]["text"] == text


def test_content_that_grows_on_decoding_is_stored_once_within_the_limits(aws, post, sent_entries):
    # 128 KiB of `[0],` takes 1.75 times its size in DynamoDB: twice over (record and outbox) it would not fit an item
    raw = body_of_size('{"type": "text", "text": {"body": "hi"}, "numbers": [', "[0],", "[0]]}")

    assert post("mo", raw=raw, headers={"content-type": "application/json"})[:2] == (200, {"status": "ok"})

    assert_within_limits(aws, sent_entries)
    [event] = aws.published()
    assert len(event["detail"]["content"]["numbers"]) == len(aws.item(f"MSG#{MO_ID}")["content"]["numbers"]) > 30_000


@pytest.mark.parametrize("encoded", [False, True], ids=["object", "json-string"])
def test_text_no_store_can_hold_is_mended_not_refused(aws, post, encoded):
    """A NUL or half an emoji (a lone surrogate: JSON escapes can say it, UTF-8 cannot) would be refused by DynamoDB
    and EventBridge; the customer's message is kept with U+FFFD in their place, however its content is encoded."""
    content = '{"from": "64211234567", "id": "wamid.ABC123", "type": "text", "text": {"body": "a\\u0000b \\ud83d"}}'
    if encoded:
        content = json.dumps(content)
    raw = (
        f'{{"id": "{MO_ID}", "source": "{CUSTOMER}", "destination": "{BUSINESS}", "operator": "x\\udc00", '
        f'"content": {content}}}'
    )
    assert post("mo", raw=raw, headers={"content-type": "application/json"})[:2] == (200, {"status": "ok"})

    stored = aws.item(f"MSG#{MO_ID}")
    assert (stored["type"], stored["text"]) == ("text", "a\ufffdb \ufffd")
    [received] = aws.published()
    assert received["detail"]["text"] == "a\ufffdb \ufffd"


def test_a_message_the_provider_sends_again_under_another_id_is_published_once(aws, post):
    """WhatsApp's id names the message: a second callback id for it is the same message, not a new one."""
    assert post("mo", mo_body())[0] == 200
    [received] = aws.published()

    again = mo_body(message_id="c1fc05e6-863e-43bf-86dc-000000000002")
    assert post("mo", again)[:2] == (200, {"status": "ok"})
    assert post("mo", again)[0] == 200  # and its own retry

    assert aws.published() == []
    assert aws.item("WAMID#wamid.ABC123")["record_id"] == received["detail"]["message_id"] == MO_ID
    assert aws.item(f"MSG#{again['id']}") is None  # one message, one record: its edits and deletions change that one


def test_a_message_sent_again_under_another_id_publishes_what_the_first_callback_could_not(aws, post, monkeypatch):
    """A 200 says the message is stored and published: also when the provider, instead of retrying the callback that
    failed, sends the message again under a new callback id."""
    with monkeypatch.context() as patch:
        fail_put_events(patch)
        assert post("mo", mo_body())[0] == 503
    assert aws.published() == []

    again = mo_body(message_id="c1fc05e6-863e-43bf-86dc-000000000002")
    assert post("mo", again)[:2] == (200, {"status": "ok"})
    [received] = aws.published()
    assert (received["detail-type"], received["detail"]["message_id"]) == ("WhatsApp Message Received", MO_ID)
    assert aws.item(f"MSG#{MO_ID}")["outbox"] == {}
    assert aws.item(f"MSG#{again['id']}") is None

    assert post("mo", mo_body())[0] == 200  # the first callback's own retry, late
    assert post("mo", again)[0] == 200
    assert aws.published() == []


def test_a_key_named_twice_inside_the_content_is_the_customer_s_message_all_the_same(aws, post):
    raw = (
        f'{{"id": "{MO_ID}", "source": "{CUSTOMER}", "destination": "{BUSINESS}", "content": {{"from": "{CUSTOMER}", '
        '"id": "wamid.D", "timestamp": "1795600000", "type": "text", "text": {"body": "first", "body": "second"}}}'
    )

    assert post("mo", raw=raw, headers={"content-type": "application/json"})[:2] == (200, {"status": "ok"})
    assert aws.item(f"MSG#{MO_ID}")["text"] == "second"  # as any JSON reader takes it
