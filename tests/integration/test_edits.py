"""Edits and deletions of customers' messages against moto: in order, out of order, repeated, interleaved, failing
half-way; each stored once, each event published once, withdrawn content gone from the store."""

from datetime import UTC, datetime
from typing import Any

import pytest
from wab.edits import POINTER_DAYS

CUSTOMER = "+64211234567"
BUSINESS = "1234567890"
ORIGINAL_ID = "c1fc05e6-863e-43bf-86dc-000000000001"
ORIGINAL_WAMID = "wamid.HBgLNjQyMTEyMzQ1NjcVAgASGBQzQTRBNjU5"
EDIT_ID = "c1fc05e6-863e-43bf-86dc-0000000000e1"
LATER_EDIT_ID = "c1fc05e6-863e-43bf-86dc-0000000000e2"
REVOKE_ID = "c1fc05e6-863e-43bf-86dc-0000000000d1"
RECEIVED, EDITED, DELETED = (f"WhatsApp Message {what}" for what in ("Received", "Edited", "Deleted"))


def envelope(callback_id: str, content: dict[str, Any], source: str = CUSTOMER) -> dict[str, Any]:
    return {"id": callback_id, "source": source, "destination": BUSINESS, "content": content}


def original(text: str = "Deliver on Tuesday", timestamp: int = 1795600000) -> dict[str, Any]:
    return envelope(
        ORIGINAL_ID,
        {
            "from": CUSTOMER[1:],
            "id": ORIGINAL_WAMID,
            "timestamp": str(timestamp),
            "type": "text",
            "text": {"body": text},
        },
    )


def edit(text: str = "Deliver on Wednesday", callback_id: str = EDIT_ID, timestamp: int = 1795600060, **extra):
    content = {
        "from": CUSTOMER[1:],
        "id": f"wamid.edit-{callback_id[-2:]}",
        "timestamp": str(timestamp),
        "type": "edit",
        "edit": {"original_message_id": ORIGINAL_WAMID, "message": {"type": "text", "text": {"body": text}}},
    }
    return envelope(callback_id, content, **extra)


def revoke(callback_id: str = REVOKE_ID, timestamp: int = 1795600120, **extra: Any) -> dict[str, Any]:
    content = {
        "from": CUSTOMER[1:],
        "id": f"wamid.revoke-{callback_id[-2:]}",
        "timestamp": str(timestamp),
        "type": "revoke",
        "revoke": {"original_message_id": ORIGINAL_WAMID},
    }
    return envelope(callback_id, content, **extra)


@pytest.fixture
def deliver(post):
    def deliver(*bodies: dict[str, Any]) -> None:
        for body in bodies:
            assert post("mo", body)[:2] == (200, {"status": "ok"}), body["content"]["type"]

    return deliver


def by_type(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        found.setdefault(event["detail-type"], []).append(event["detail"])
    return found


def assert_withdrawn(aws) -> None:
    """Nothing the customer wrote in the deleted message is left in the table: not in its record, not elsewhere."""
    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert record["deleted_at"]
    assert not {"content", "text", "content_history"} & set(record)
    assert (record["id"], record["whatsapp_message_id"], record["type"]) == (ORIGINAL_ID, ORIGINAL_WAMID, "text")
    everything = repr(aws.items())
    assert "Deliver on" not in everything


# --- in order ----------------------------------------------------------------------------------------------------


def test_an_edit_replaces_the_content_keeps_the_history_and_is_published_once(aws, deliver):
    deliver(original())
    [received] = aws.published()
    deliver(edit(), edit(), edit())  # the provider's retries

    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert record["content"] == {"type": "text", "text": {"body": "Deliver on Wednesday"}}
    assert record["text"] == "Deliver on Wednesday"
    assert record["edited_at"] == "2026-11-25T09:47:40.000000Z"
    assert record["content_history"] == [
        {"at": "2026-11-25T09:46:40.000000Z", "content": received["detail"]["content"], "text": "Deliver on Tuesday"}
    ]
    [edited] = aws.published()
    assert edited["detail-type"] == EDITED
    assert edited["detail"] == {
        "message_id": ORIGINAL_ID,
        "original_message_id": ORIGINAL_WAMID,
        "source": CUSTOMER,
        "destination": BUSINESS,
        "type": "text",
        "text": "Deliver on Wednesday",
        "content": {"type": "text", "text": {"body": "Deliver on Wednesday"}},
        "edited_at": "2026-11-25T09:47:40.000000Z",
    }
    own = aws.item(f"MSG#{EDIT_ID}")  # the edit is an inbound message of its own, without the new content
    assert (own["type"], own["original_whatsapp_message_id"]) == ("edit", ORIGINAL_WAMID)
    assert own["content"]["edit"] == {"original_message_id": ORIGINAL_WAMID}
    assert "Wednesday" not in repr(own)


def test_a_deletion_removes_the_content_keeps_the_fact_and_is_published_once(aws, deliver):
    deliver(original(), edit())
    aws.published()
    deliver(revoke(), revoke())

    assert_withdrawn(aws)
    assert aws.item(f"MSG#{ORIGINAL_ID}")["deleted_at"] == "2026-11-25T09:48:40.000000Z"
    [deleted] = aws.published()
    assert (deleted["detail-type"], deleted["detail"]) == (
        DELETED,
        {
            "message_id": ORIGINAL_ID,
            "original_message_id": ORIGINAL_WAMID,
            "source": CUSTOMER,
            "destination": BUSINESS,
            "deleted_at": "2026-11-25T09:48:40.000000Z",
        },
    )


def test_an_edit_after_the_deletion_brings_no_content_back(aws, deliver):
    deliver(original(), revoke(), edit(timestamp=1795600060))
    assert_withdrawn(aws)
    events = by_type(aws.published())
    assert sorted(events) == [DELETED, EDITED, RECEIVED]
    [edited] = events[EDITED]  # the edit is told, not what it said: the customer withdrew the message
    assert (edited["message_id"], edited["content"], edited.get("text")) == (ORIGINAL_ID, {}, None)


def test_an_edit_after_a_deletion_that_came_first_brings_no_content_back_either(aws, deliver):
    deliver(revoke(), edit(timestamp=1795600060))
    [edited] = by_type(aws.published())[EDITED]
    assert (edited["content"], edited.get("text")) == ({}, None)


def test_edits_out_of_order_end_with_the_latest_content(aws, deliver):
    deliver(original(), edit("second", LATER_EDIT_ID, timestamp=1795600090), edit("first", timestamp=1795600060))

    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert record["text"] == "second"
    assert [version["text"] for version in record["content_history"]] == ["Deliver on Tuesday", "first"]
    assert [event["text"] for event in by_type(aws.published())[EDITED]] == ["second", "first"]


def test_only_the_author_can_edit_or_delete_a_message(aws, deliver, post):
    deliver(original())
    aws.published()
    for forged in (edit("forged", source="+64229999999"), revoke(source="+64229999999")):
        status, answer, _ = post("mo", forged)
        assert (status, answer["error"]) == (409, "not_author")

    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert (record["text"], record.get("content_history", []), record.get("deleted_at")) == (
        "Deliver on Tuesday",
        [],
        None,
    )
    assert aws.published() == []  # nothing that names the author's message as changed


def test_a_change_by_another_contact_before_the_message_arrives_is_not_applied(aws, deliver):
    deliver(edit("forged", source="+64229999999"), revoke(source="+64229999999"), original())

    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert (record["text"], record.get("content_history", []), record.get("deleted_at")) == (
        "Deliver on Tuesday",
        [],
        None,
    )


@pytest.mark.parametrize("author_first", [True, False])
def test_another_contact_s_deletion_kept_before_the_message_leaves_the_author_s_edit_alone(aws, deliver, author_first):
    changes = [edit("edited by its author"), revoke(source="+64229999999")]
    deliver(*(changes if author_first else changes[::-1]), original())

    [edited] = by_type(aws.published())[EDITED]
    assert (edited["text"], edited["content"]["text"]) == ("edited by its author", {"body": "edited by its author"})
    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert (record["text"], record.get("deleted_at")) == ("edited by its author", None)


def test_a_change_dated_ahead_of_its_arrival_is_taken_as_arrived_and_the_customer_s_later_edit_wins(aws, deliver):
    now = int(datetime.now(UTC).timestamp())
    deliver(original(timestamp=now - 120))
    deliver(edit("from a clock an hour ahead", timestamp=now + 3600))
    ahead = int(datetime.now(UTC).timestamp()) + 1  # ahead of its arrival by under a second, after the first's
    deliver(edit("the customer's latest", LATER_EDIT_ID, timestamp=ahead))

    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert record["text"] == "the customer's latest"
    assert record["edited_at"][:19] <= datetime.now(UTC).isoformat()[:19]  # never the hour ahead
    assert [version["text"] for version in record["content_history"]][-1] == "from a clock an hour ahead"
    deliver(revoke(timestamp=now + 400 * 86400))
    assert aws.item(f"MSG#{ORIGINAL_ID}")["deleted_at"][:19] <= datetime.now(UTC).isoformat()[:19]


def test_an_edit_that_changes_what_the_message_is_changes_its_type(aws, deliver):
    image = edit()
    image["content"]["edit"]["message"] = {"type": "image", "image": {"id": "9", "caption": "now an image"}}
    deliver(original(), image)

    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert (record["type"], record["content"]["type"], record["text"]) == ("image", "image", "now an image")
    [edited] = by_type(aws.published())[EDITED]
    assert edited["type"] == "image"


def test_edits_and_deletions_do_not_move_the_24_hour_window(aws, deliver):
    deliver(original())
    window = aws.item(f"CONTACT#{CUSTOMER}")["last_inbound_at"]
    deliver(edit(timestamp=1795690000), revoke(timestamp=1795690100))
    assert aws.item(f"CONTACT#{CUSTOMER}")["last_inbound_at"] == window


def test_a_deletion_arriving_while_its_message_is_published_waits_its_turn(aws, post, monkeypatch):
    """The message's `Received` is built from the record as its own callback read it: a deletion applied meanwhile
    would be followed by the withdrawn text. It is answered 503 and, retried, deletes after the `Received`."""
    from wab.publisher import EventPublisher

    publish = EventPublisher.publish
    during: list[int] = []

    def deletion_arrives_first(self: EventPublisher, events: dict) -> set:
        if not during and any(event.detail_type == RECEIVED for event in events.values()):
            during.append(post("mo", revoke())[0])
        return publish(self, events)

    monkeypatch.setattr(EventPublisher, "publish", deletion_arrives_first)
    assert post("mo", original())[0] == 200
    assert during == [503]
    assert post("mo", revoke())[0] == 200  # the provider's retry

    assert [event["detail-type"] for event in aws.published()] == [RECEIVED, DELETED]
    assert_withdrawn(aws)


# --- sent again under another callback id ------------------------------------------------------------------------
AGAIN_ID = "c1fc05e6-863e-43bf-86dc-0000000000a9"


def under_another_id(body: dict[str, Any]) -> dict[str, Any]:
    """The same WhatsApp message (same WhatsApp id, same content), in a callback of another id."""
    return {**body, "id": AGAIN_ID}


@pytest.mark.parametrize("change", [edit, revoke], ids=["edit", "deletion"])
def test_a_change_sent_again_under_another_id_is_applied_and_published_once(aws, deliver, change):
    deliver(original())
    aws.published()
    deliver(change(), under_another_id(change()), change())

    events = aws.published()
    assert [event["detail-type"] for event in events] == [EDITED if change is edit else DELETED]
    record = aws.item(f"MSG#{ORIGINAL_ID}")
    if change is edit:
        assert record["text"] == "Deliver on Wednesday"
        assert [version["text"] for version in record["content_history"]] == ["Deliver on Tuesday"]
    else:
        assert_withdrawn(aws)
    assert aws.item(f"MSG#{AGAIN_ID}") is None


@pytest.mark.parametrize("again_first", [True, False], ids=["again-before-deletion", "again-after-deletion"])
def test_a_deletion_withdraws_the_message_whatever_callback_id_it_came_under(aws, deliver, again_first):
    """Nothing of a deleted message is left readable, however many callback ids the provider sent it under."""
    if again_first:
        deliver(original(), under_another_id(original()), revoke())
    else:
        deliver(original(), revoke(), under_another_id(original()))

    assert_withdrawn(aws)
    assert aws.item(f"MSG#{AGAIN_ID}") is None
    assert [event["detail-type"] for event in aws.published()] == [RECEIVED, DELETED]


# --- before the original -----------------------------------------------------------------------------------------


def test_an_edit_before_its_original_is_applied_when_the_original_arrives(aws, deliver):
    deliver(edit(), edit())
    [edited] = aws.published()
    assert "message_id" not in edited["detail"]  # the gateway does not know the original yet
    pointer = aws.item(f"WAMID#{ORIGINAL_WAMID}")
    assert [change["change_id"] for change in pointer["pending"]] == [EDIT_ID] and "record_id" not in pointer

    deliver(original(), original())

    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert (record["text"], record["edited_at"]) == ("Deliver on Wednesday", "2026-11-25T09:47:40.000000Z")
    assert [version["text"] for version in record["content_history"]] == ["Deliver on Tuesday"]
    [received] = aws.published()
    assert received["detail-type"] == RECEIVED
    assert (received["detail"]["text"], received["detail"]["edited_at"]) == (
        "Deliver on Wednesday",
        "2026-11-25T09:47:40.000000Z",
    )
    pointer = aws.item(f"WAMID#{ORIGINAL_WAMID}")
    assert (pointer["record_id"], pointer.get("pending", [])) == (ORIGINAL_ID, [])
    assert record["outbox"] == {}
    # The record is kept RetentionDays (30 here); its pointer only as long as a change can still come for it.
    assert record["expires_at"] - pointer["expires_at"] == (30 - POINTER_DAYS) * 86400


def test_a_deletion_before_its_original_is_applied_when_the_original_arrives(aws, deliver):
    deliver(edit(), revoke(), revoke())
    assert "Deliver on" not in repr(aws.item(f"WAMID#{ORIGINAL_WAMID}"))  # the kept edit lost its content
    assert sorted(by_type(aws.published())) == [DELETED, EDITED]

    deliver(original(), original(), edit(callback_id=LATER_EDIT_ID, timestamp=1795600100))

    assert_withdrawn(aws)
    events = by_type(aws.published())
    [received] = events[RECEIVED]
    assert received["deleted_at"] == "2026-11-25T09:48:40.000000Z"
    assert "content" not in received and "text" not in received
    assert [event["message_id"] for event in events[EDITED]] == [ORIGINAL_ID]  # the late edit, now known


# --- interleaved and failing half-way ----------------------------------------------------------------------------


def test_an_edit_kept_while_the_original_is_being_stored_is_not_lost(aws, deliver, post, monkeypatch):
    from wab import edits

    real_link = edits.link
    calls: list[int] = []

    def edit_arrives_first(store, record, handling):
        if not calls:
            calls.append(1)
            assert post("mo", edit())[0] == 200  # sees no pointer yet: kept for the original
        return real_link(store, record, handling)

    monkeypatch.setattr(edits, "link", edit_arrives_first)
    deliver(original())

    assert aws.item(f"MSG#{ORIGINAL_ID}")["text"] == "Deliver on Wednesday"
    assert aws.item(f"WAMID#{ORIGINAL_WAMID}").get("pending", []) == []
    events = by_type(aws.published())
    assert (len(events[RECEIVED]), len(events[EDITED])) == (1, 1)


def test_an_original_linked_while_an_edit_is_being_kept_gets_the_edit(aws, deliver, post, monkeypatch):
    from wab import edits

    real_keep = edits.keep
    calls: list[int] = []

    def original_arrives_meanwhile(pointer, change):
        if not calls:
            calls.append(1)
            assert post("mo", original())[0] == 200  # links its pointer before the edit writes it
        return real_keep(pointer, change)

    monkeypatch.setattr(edits, "keep", original_arrives_meanwhile)
    deliver(edit())

    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert (record["text"], [version["text"] for version in record["content_history"]]) == (
        "Deliver on Wednesday",
        ["Deliver on Tuesday"],
    )
    events = by_type(aws.published())
    assert (len(events[RECEIVED]), len(events[EDITED])) == (1, 1)


def test_a_pointer_write_failure_is_retried_and_completes_once(aws, post, deliver, monkeypatch):
    from botocore.exceptions import ClientError
    from wab import aws as wab_aws

    client = wab_aws.client("dynamodb")
    real_put = client.put_item

    def failing(**kwargs):
        if kwargs["Item"]["pk"]["S"].startswith("WAMID#"):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "PutItem")
        return real_put(**kwargs)

    deliver(edit())
    with monkeypatch.context() as patch:
        patch.setattr(client, "put_item", failing)
        assert post("mo", original())[0] == 503
        assert post("mo", revoke())[0] == 503
    assert "Deliver on" in repr(aws.item(f"MSG#{ORIGINAL_ID}"))  # stored, its event not out yet

    deliver(revoke(), original())  # the failed attempts released their leases: the retries take over at once

    assert_withdrawn(aws)
    events = by_type(aws.published())
    assert {kind: len(found) for kind, found in events.items()} == {EDITED: 1, RECEIVED: 1, DELETED: 1}
    assert "content" not in events[RECEIVED][0]


def test_content_the_models_cannot_type_can_be_edited_and_deleted_too(aws, deliver):
    body = original()
    body["content"]["type"] = "interactive"  # without its interactive object: unsupported
    deliver(body, edit("now it is text"))
    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert (record["type"], record["text"]) == ("text", "now it is text")  # the type is its content's
    assert "reason" not in record
    deliver(revoke())
    assert_withdrawn_type = aws.item(f"MSG#{ORIGINAL_ID}")
    assert "content" not in assert_withdrawn_type and assert_withdrawn_type["deleted_at"]


def test_an_edit_or_deletion_without_the_original_s_id_is_kept_as_unsupported(aws, deliver):
    broken = revoke()
    broken["content"]["revoke"] = {}
    deliver(broken)
    [event] = aws.published()
    assert (event["detail-type"], event["detail"]["type"]) == (RECEIVED, "unsupported")
    assert event["detail"]["reason"] == "content.revoke.original_message_id: Field required"


def test_an_edit_whose_new_content_the_models_cannot_type_is_applied_as_unsupported(aws, deliver):
    broken = edit()
    broken["content"]["edit"]["message"] = {"type": ["text"], "text": {"body": "odd"}}
    deliver(original(), broken)

    edited = by_type(aws.published())[EDITED][0]
    assert (edited["type"], edited["content"]) == ("unsupported", {"type": ["text"], "text": {"body": "odd"}})
    assert edited["reason"].startswith("edit.message.type")
    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert record["content"] == {"type": ["text"], "text": {"body": "odd"}}
    assert (record["type"], record["reason"]) == ("unsupported", edited["reason"])


@pytest.mark.parametrize("change", [revoke, edit])
def test_an_edit_whose_new_content_is_itself_a_change_is_applied_as_unsupported_and_changes_nothing_else(
    aws, deliver, change
):
    nested = edit()
    nested["content"]["edit"]["message"] = {key: value for key, value in change()["content"].items() if key != "id"}
    deliver(original(), nested)

    edited = by_type(aws.published())[EDITED][0]
    assert edited["type"] == "unsupported" and edited["reason"].startswith("edit.message is itself a change")
    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert (record["type"], record["content"]["type"]) == ("unsupported", change()["content"]["type"])
    assert "deleted_at" not in record  # a deletion inside an edit deletes nothing
    assert record["content_history"][0]["text"] == "Deliver on Tuesday"


def test_a_change_as_an_edit_s_new_content_with_a_key_dynamodb_refuses_is_kept_as_its_json_text(aws, deliver):
    nested = edit()
    nested["content"]["edit"]["message"] = {"type": "revoke", "revoke": {"original_message_id": "x"}, "": {"x": 1}}
    deliver(original(), nested)

    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert record["type"] == "unsupported" and isinstance(record["content"]["raw"], str)
    assert record["reason"].startswith("edit.message has a key DynamoDB cannot store")


def test_more_edits_than_are_kept_before_the_message_arrives_still_end_with_the_latest(deliver, aws, sender):
    edits = [edit(f"version {n}", f"c1fc05e6-863e-43bf-86dc-0000000001{n:02d}", 1795600060 + n) for n in range(20)]
    deliver(*edits, edits[0])  # the first again: the provider's retry of an edit no longer kept
    deliver(original())

    record = aws.item(f"MSG#{ORIGINAL_ID}")
    assert record["text"] == "version 19"
    received = by_type(sender.published())[RECEIVED]
    assert received[-1]["text"] == "version 19"
