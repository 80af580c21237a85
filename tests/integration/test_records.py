"""The record API against moto: records by id, listings by reference and contact, newest first, paged."""

from typing import Any
from urllib.parse import unquote

import pytest

from tests.helpers import LambdaContext, answer_json, basic, http_event, load_handler
from tests.integration.conftest import template_resources

CUSTOMER = "+64211234567"
# Each route's path parameter, named as the template names it (API Gateway passes it under that name): by first word.
PATH_PARAMETERS = {
    event["Properties"]["Path"].split("/")[1]: event["Properties"]["Path"].split("{")[1].split("}")[0]
    for event in template_resources()["MessagesFunction"]["Properties"]["Events"].values()
}


@pytest.fixture
def deliver(aws):
    callbacks = load_handler("callbacks")
    callbacks.dependencies.cache_clear()

    def deliver(route: str, body: dict[str, Any]) -> None:
        event = http_event("POST", f"/callbacks/{route}", body=body, headers={"authorization": basic()})
        assert callbacks.lambda_handler(event, LambdaContext())["statusCode"] == 200

    return deliver


@pytest.fixture
def get(aws):
    messages = load_handler("messages")
    messages.store.cache_clear()

    def get(path: str, query: dict[str, str] | None = None) -> tuple[int, Any]:
        parts = path.split("/")  # API Gateway decodes a path parameter; the resolver matches the raw path
        name = PATH_PARAMETERS[parts[1]]
        parameters = {name: unquote(parts[2])}
        event = http_event("GET", path, query=query, path_parameters=parameters)
        response = messages.lambda_handler(event, LambdaContext())
        return response["statusCode"], answer_json(response)

    return get


def inbound(number: int, source: str = CUSTOMER) -> dict[str, Any]:
    return {
        "id": f"c1fc05e6-863e-43bf-86dc-{number:012d}",
        "source": source,
        "destination": "1234567890",
        "content": {
            "from": source,
            "id": f"wamid.{number}",
            "timestamp": str(1795600000 + number),
            "type": "text",
            "text": {"body": f"message {number}"},
        },
    }


def test_a_record_is_returned_in_the_documented_shape(deliver, get, sent):
    sent("b95fc11e-37f0-4770-a082-6ea22d4c4d12", reference="order-7")
    deliver("dlr", {"id": "b95fc11e-37f0-4770-a082-6ea22d4c4d12", "status": "sent", "reference": "order-7"})
    deliver("dlr", {"id": "b95fc11e-37f0-4770-a082-6ea22d4c4d12", "status": "received", "reference": "order-7"})

    status, record = get("/messages/b95fc11e-37f0-4770-a082-6ea22d4c4d12")

    assert status == 200
    assert set(record) == {
        "id",
        "direction",
        "source",
        "destination",
        "type",
        "status",
        "reference",
        "content",
        "status_history",
        "created_at",
        "updated_at",
    }
    assert (record["id"], record["direction"], record["status"], record["reference"]) == (
        "b95fc11e-37f0-4770-a082-6ea22d4c4d12",
        "MT",
        "received",
        "order-7",
    )
    assert [entry["status"] for entry in record["status_history"]] == ["accepted", "sent", "received"]
    assert set(record["status_history"][0]) == {"status", "at"}


def test_an_mo_record_keeps_its_normalised_content(deliver, get):
    deliver("mo", inbound(1))
    status, record = get("/messages/c1fc05e6-863e-43bf-86dc-000000000001")
    assert status == 200
    assert record["direction"] == "MO" and record["source"] == CUSTOMER
    assert record["content"]["text"] == {"body": "message 1"}


@pytest.mark.parametrize("bad_id", ["has space", "a" * 201, "-leading-dash", "semi;colon"])
def test_an_id_that_cannot_be_a_message_id_is_a_400(get, bad_id):
    status, answer = get(f"/messages/{bad_id}")
    assert (status, answer["error"]) == (400, "invalid_id")


def test_an_id_is_found_however_the_caller_encoded_it(deliver, get):
    callback = {**inbound(1), "id": "PLUS+1=:a"}
    deliver("mo", callback)

    for path in ("/messages/PLUS+1=:a", "/messages/PLUS%2B1%3D%3Aa"):
        status, record = get(path)
        assert (status, record["id"]) == (200, "PLUS+1=:a")


def test_listing_by_contact_is_newest_first_and_paged(deliver, get):
    for number in range(1, 6):
        deliver("mo", inbound(number))
    deliver("mo", inbound(99, source="+64229999999"))

    status, page = get("/contacts/64211234567/messages", {"limit": "2"})
    assert status == 200
    assert [item["content"]["text"]["body"] for item in page["items"]] == ["message 5", "message 4"]
    seen = [item["id"] for item in page["items"]]
    while page["next_cursor"]:
        status, page = get("/contacts/%2B64211234567/messages", {"limit": "2", "cursor": page["next_cursor"]})
        assert status == 200
        seen += [item["id"] for item in page["items"]]
    assert seen == [f"c1fc05e6-863e-43bf-86dc-{n:012d}" for n in (5, 4, 3, 2, 1)]


def test_listing_by_reference(aws, get):
    from wab.models.records import MessageRecord
    from wab.store import MessageStore

    store = MessageStore(aws.table_name)
    for number, reference in ((12, "campaign-9"), (13, "campaign-9"), (14, "other")):
        stamp = f"2026-11-30T10:00:{number:02d}.000000Z"
        store.save(
            MessageRecord(
                id=f"b95fc11e-37f0-4770-a082-6ea22d4c4d{number}",
                direction="MT",
                reference=reference,
                created_at=stamp,
                updated_at=stamp,
            ),
            expected_version=None,
        )

    status, page = get("/references/campaign-9/messages")

    assert status == 200
    assert [item["id"] for item in page["items"]] == [
        "b95fc11e-37f0-4770-a082-6ea22d4c4d13",
        "b95fc11e-37f0-4770-a082-6ea22d4c4d12",
    ]
    assert page["next_cursor"] is None


@pytest.mark.parametrize(
    "path, query, error",
    [
        ("/contacts/not-a-number/messages", {}, "invalid_query"),
        ("/contacts/+64211234567/messages", {"limit": "0"}, "invalid_query"),
        ("/contacts/+64211234567/messages", {"limit": "101"}, "invalid_query"),
        ("/contacts/+64211234567/messages", {"limit": "ten"}, "invalid_query"),
        ("/contacts/+64211234567/messages", {"cursor": "garbage"}, "invalid_cursor"),
        ("/contacts/+64211234567/messages", {"cursor": "eyJwayI6IngifQ"}, "invalid_cursor"),
        ("/contacts/+64211234567/messages", {"sort": "asc"}, "invalid_query"),
        ("/references/campaign-9/messages", {"contact": "+64211234567"}, "invalid_query"),
        ("/references/" + "r" * 257 + "/messages", {}, "invalid_query"),
        ("/references/campaign-9/summary", {"limit": "5"}, "invalid_query"),  # a parameter no route here takes
        ("/references/campaign%009/messages", {}, "invalid_query"),  # no message can carry a NUL character
        ("/references/%00/summary", {}, "invalid_query"),
        ("/messages/b95fc11e-37f0-4770-a082-6ea22d4c4d12", {"fields": "id"}, "invalid_query"),
    ],
)
def test_bad_record_requests_are_a_400(get, path, query, error):
    status, answer = get(path, query)
    assert (status, answer["error"]) == (400, error)


def test_the_old_query_form_is_gone(get):
    """One query route served references and contacts alike, and IAM cannot tell query strings apart."""
    messages = load_handler("messages")
    answer = messages.lambda_handler(http_event("GET", "/messages", query={"contact": CUSTOMER}), LambdaContext())
    assert answer["statusCode"] == 404


def test_a_cursor_from_another_listing_is_refused(deliver, get):
    for number in range(1, 4):
        deliver("mo", inbound(number))
    _, page = get(f"/contacts/{CUSTOMER}/messages", {"limit": "1"})
    status, answer = get("/contacts/+64220000000/messages", {"cursor": page["next_cursor"]})
    assert (status, answer["error"]) == (400, "invalid_cursor")


# --- listings read the index's keys, then the records; a reference's records are spread over shards ----------------

CAMPAIGN = "campaign-42"


def mt_id(number: int) -> str:
    return f"b95fc11e-37f0-4770-a082-{number:012d}"


def accept(aws, reference: str, numbers: range, at: str, destination: str = CUSTOMER) -> None:
    """MT records as the sender writes a broadcast chunk's: one batch, one creation time for all of them."""
    from wab.acceptance import record_accepted
    from wab.models.commands import validate_command
    from wab.outcomes import Accepted
    from wab.publisher import EventPublisher
    from wab.store import MessageStore

    command = validate_command(
        {"destination": destination, "type": "text", "text": {"body": "Spring sale"}, "reference": reference}
    )
    record_accepted(
        MessageStore(aws.table_name),
        EventPublisher(aws.bus_name),
        command,  # type: ignore[arg-type]
        [Accepted(message_id=mt_id(number), destination=destination) for number in numbers],
        source="1234567890",
        at=at,
        retention_days=30,
        lease_until=2**62,
    )
    aws.published()


def every_page(get, path: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every item of a listing, following `next_cursor` with pages of `limit`; and how many pages it took."""
    items: list[dict[str, Any]] = []
    query = {"limit": str(limit)}
    for pages in range(1, 1000):
        status, page = get(path, query)
        assert status == 200, page
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["next_cursor"] is None:
            return items, pages
        query = {"limit": str(limit), "cursor": page["next_cursor"]}
    raise AssertionError("the listing never ended")


def test_a_broadcast_is_listed_across_its_shards_newest_first_page_by_page(aws, get):
    from wab.store import REFERENCE_SHARDS

    for chunk, numbers in enumerate((range(0, 40), range(40, 80), range(80, 83))):
        accept(aws, CAMPAIGN, numbers, at=f"2026-11-30T10:00:0{chunk}.000000Z")
    accept(aws, "another-campaign", range(100, 105), at="2026-11-30T10:00:01.000000Z")

    items, pages = every_page(get, f"/references/{CAMPAIGN}/messages", 7)

    assert sorted(item["id"] for item in items) == [mt_id(number) for number in range(83)]  # each once, no other
    assert pages == 12  # 11 full pages and 6 records
    assert {item["reference"] for item in items} == {CAMPAIGN}
    stamps = [item["created_at"] for item in items]
    assert stamps == sorted(stamps, reverse=True)
    _, whole = get(f"/references/{CAMPAIGN}/messages", {"limit": "100"})
    assert [item["id"] for item in whole["items"]] == [item["id"] for item in items]  # one order, whatever the page
    assert whole["next_cursor"] is None
    stored_keys = {item["reference_key"] for item in aws.items() if item.get("reference") == CAMPAIGN}
    assert len(stored_keys) == REFERENCE_SHARDS


def test_a_listing_shows_each_record_as_it_is_now(aws, deliver, get):
    accept(aws, CAMPAIGN, range(3), at="2026-11-30T10:00:00.000000Z")
    deliver("dlr", {"id": mt_id(1), "status": "sent"})
    deliver("dlr", {"id": mt_id(1), "status": "received"})
    deliver("dlr", {"id": mt_id(2), "status": "sent"})

    for path in (f"/references/{CAMPAIGN}/messages", f"/contacts/{CUSTOMER}/messages"):
        status, page = get(path)
        assert status == 200
        statuses = {item["id"]: (item["status"], len(item["status_history"])) for item in page["items"]}
        assert statuses == {mt_id(0): ("accepted", 1), mt_id(1): ("received", 3), mt_id(2): ("sent", 2)}


def test_a_contact_is_listed_page_by_page_across_messages_in_and_out(aws, deliver, get):
    for number in range(1, 9):
        deliver("mo", inbound(number))
    accept(aws, CAMPAIGN, range(5), at="2026-11-30T10:00:00.000000Z")
    accept(aws, CAMPAIGN, range(5, 8), at="2026-11-30T10:00:00.000000Z", destination="+64229999999")

    items, pages = every_page(get, f"/contacts/{CUSTOMER}/messages", 3)

    assert sorted(item["id"] for item in items) == sorted(
        [f"c1fc05e6-863e-43bf-86dc-{n:012d}" for n in range(1, 9)] + [mt_id(n) for n in range(5)]
    )
    assert pages >= 5  # 13 records, 3 a page
    stamps = [item["created_at"] for item in items]
    assert stamps == sorted(stamps, reverse=True)


def put_before_the_shards(aws, number: int, reference: str, at: str) -> None:
    """An MT record as the gateway wrote it before the shards: its `by-reference` key the plain reference."""
    import boto3
    from wab.models.records import MessageRecord
    from wab.store import item_values

    item = item_values(
        MessageRecord(id=mt_id(number), direction="MT", reference=reference, created_at=at, updated_at=at)
    )
    item["reference_key"] = reference
    boto3.resource("dynamodb").Table(aws.table_name).put_item(Item=item)


def test_records_written_before_the_shards_are_listed_with_the_others(aws, get):
    accept(aws, CAMPAIGN, range(0, 3), at="2026-11-30T10:00:01.000000Z")
    put_before_the_shards(aws, 10, CAMPAIGN, "2026-11-30T10:00:02.000000Z")
    accept(aws, CAMPAIGN, range(3, 5), at="2026-11-30T10:00:03.000000Z")
    # A reference whose plain key is also a shard's key of CAMPAIGN: listed under its own reference only.
    put_before_the_shards(aws, 20, f"{CAMPAIGN}#3", "2026-11-30T10:00:04.000000Z")

    items, _ = every_page(get, f"/references/{CAMPAIGN}/messages", 2)

    assert [item["created_at"][17:19] for item in items] == ["03", "03", "02", "01", "01", "01"]
    assert sorted(item["id"] for item in items) == sorted(mt_id(n) for n in (0, 1, 2, 3, 4, 10))
    other, _ = every_page(get, f"/references/{CAMPAIGN}%233/messages", 2)
    assert [item["id"] for item in other] == [mt_id(20)]


def reference_cursor(aws, get) -> dict[str, Any]:
    """The decoded cursor of a first page of CAMPAIGN (a test may tamper with it: callers only pass it back)."""
    import base64
    import json

    accept(aws, CAMPAIGN, range(12), at="2026-11-30T10:00:00.000000Z")
    _, page = get(f"/references/{CAMPAIGN}/messages", {"limit": "5"})
    cursor = page["next_cursor"]
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def encoded(plain: Any) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda cursor: {**cursor, "v": 2},
        lambda cursor: {**cursor, "v": True},
        lambda cursor: {**cursor, "reference": "campaign-43"},
        lambda cursor: {**cursor, "at": cursor["at"][:-1]},
        lambda cursor: {**cursor, "at": [*cursor["at"][:-1], ["", mt_id(1)]]},
        lambda cursor: {**cursor, "at": [*cursor["at"][:-1], ["2026-11-30T10:00:00.000000Z", "not an id"]]},
        lambda cursor: {**cursor, "at": [*cursor["at"][:-1], ["2026-11-30T10:00:00.000000Z"]]},
        lambda cursor: {**cursor, "at": [*cursor["at"][:-1], 0]},
        lambda cursor: {**cursor, "at": [*cursor["at"][:-1], "started"]},
        lambda cursor: {key: value for key, value in cursor.items() if key != "v"},
        lambda cursor: {**cursor, "extra": 1},
        lambda cursor: cursor["at"],
    ],
)
def test_a_reference_cursor_that_is_not_one_the_listing_returned_is_a_400(aws, get, tamper):
    cursor = reference_cursor(aws, get)
    status, _ = get(f"/references/{CAMPAIGN}/messages", {"limit": "5", "cursor": encoded(cursor)})
    assert status == 200  # the cursor as it came is fine

    status, answer = get(f"/references/{CAMPAIGN}/messages", {"limit": "5", "cursor": encoded(tamper(cursor))})

    assert (status, answer["error"]) == (400, "invalid_cursor")


def test_cursors_are_not_interchangeable_between_listings(aws, get):
    accept(aws, CAMPAIGN, range(4), at="2026-11-30T10:00:00.000000Z")
    accept(aws, "campaign-43", range(4, 8), at="2026-11-30T10:00:00.000000Z")
    _, by_reference = get(f"/references/{CAMPAIGN}/messages", {"limit": "1"})
    _, by_contact = get(f"/contacts/{CUSTOMER}/messages", {"limit": "1"})

    for path, cursor in (
        ("/references/campaign-43/messages", by_reference["next_cursor"]),
        (f"/contacts/{CUSTOMER}/messages", by_reference["next_cursor"]),
        (f"/references/{CAMPAIGN}/messages", by_contact["next_cursor"]),
        (f"/references/{CAMPAIGN}/messages", "garbage"),
    ):
        status, answer = get(path, {"cursor": cursor})
        assert (status, answer["error"]) == (400, "invalid_cursor"), path


@pytest.fixture
def batch_gets(aws):
    """Every BatchGetItem the record API makes (its keys), and a switch that has DynamoDB leave all keys unread."""
    from botocore.awsrequest import AWSResponse
    from wab import aws as wab_aws

    calls: list[dict[str, Any]] = []
    unread: dict[str, int] = {"times": 0}

    def requested(params: dict[str, Any], **_: Any) -> None:
        calls.append(params["RequestItems"])

    def throttled(**_: Any) -> Any:
        if unread["times"] > 0:
            unread["times"] -= 1
            return AWSResponse("https://dynamodb.test", 200, {}, None), {
                "Responses": {},
                "UnprocessedKeys": calls[-1],
            }
        return None

    dynamodb = wab_aws.client("dynamodb")
    hooks = [
        ("provide-client-params.dynamodb.BatchGetItem", requested),
        ("before-call.dynamodb.BatchGetItem", throttled),
    ]
    for event_name, hook in hooks:
        dynamodb.meta.events.register(event_name, hook)
    yield calls, unread
    for event_name, hook in hooks:
        dynamodb.meta.events.unregister(event_name, hook)


def test_a_listing_reads_again_what_dynamodb_leaves_unprocessed(aws, get, batch_gets, monkeypatch):
    from wab import store

    monkeypatch.setattr(store.time, "sleep", lambda seconds: None)
    calls, unread = batch_gets
    accept(aws, CAMPAIGN, range(6), at="2026-11-30T10:00:00.000000Z")
    calls.clear()
    unread["times"] = 2

    status, page = get(f"/references/{CAMPAIGN}/messages")

    assert status == 200
    assert sorted(item["id"] for item in page["items"]) == [mt_id(number) for number in range(6)]
    assert len(calls) == 3 and calls[0] == calls[1] == calls[2]


def test_a_listing_is_a_503_when_dynamodb_keeps_leaving_keys_unread(aws, get, batch_gets, monkeypatch):
    from wab import store

    monkeypatch.setattr(store.time, "sleep", lambda seconds: None)
    calls, unread = batch_gets
    accept(aws, CAMPAIGN, range(2), at="2026-11-30T10:00:00.000000Z")
    calls.clear()
    unread["times"] = 1000

    status, answer = get(f"/contacts/{CUSTOMER}/messages")

    assert (status, answer["error"]) == (503, "dependency_failed")
    assert len(calls) == store.BATCH_ATTEMPTS


@pytest.mark.parametrize(
    "tamper",
    [
        lambda cursor: {**cursor, "pk": "CONTACT#+64211234567"},
        lambda cursor: {**cursor, "pk": "MSG#" + "x" * 3000},  # DynamoDB refuses a key over 2,048 bytes: not a 5xx
        lambda cursor: {**cursor, "pk": "MSG#not an id"},
        lambda cursor: {**cursor, "created_at": ""},
        lambda cursor: {**cursor, "created_at": "x" * 3000},
        lambda cursor: {**cursor, "contact_key": "+64219876543"},
    ],
)
def test_a_contact_cursor_that_is_not_one_the_listing_returned_is_a_400(aws, get, tamper):
    import base64
    import json

    accept(aws, CAMPAIGN, range(4), at="2026-11-30T10:00:00.000000Z")
    _, page = get(f"/contacts/{CUSTOMER}/messages", {"limit": "1"})
    cursor = json.loads(base64.urlsafe_b64decode(page["next_cursor"] + "=" * (-len(page["next_cursor"]) % 4)))

    status, answer = get(f"/contacts/{CUSTOMER}/messages", {"cursor": encoded(tamper(cursor))})

    assert (status, answer["error"]) == (400, "invalid_cursor")


def test_an_empty_cursor_is_a_400_not_the_first_page(aws, get):
    for path in (f"/contacts/{CUSTOMER}/messages", f"/references/{CAMPAIGN}/messages"):
        status, answer = get(path, {"cursor": ""})
        assert (status, answer["error"]) == (400, "invalid_cursor"), path
