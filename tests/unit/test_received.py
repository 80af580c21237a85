"""The customer's edits and deletions applied to the record of their message (pure logic: no AWS)."""

import pytest
from wab.errors import InvalidPayload
from wab.models.events.inbound import MessageReceived
from wab.models.records import MessageRecord, PendingChange, PendingEvent, StatusEntry
from wab.received import MAX_CONTENT_VERSIONS, RECEIVED_KEY, apply_changes, fitted

CUSTOMER = "+64211234567"
RECEIVED_AT = "2026-11-25T09:46:40.000000Z"


def record(text: str = "original", **fields) -> MessageRecord:
    return MessageRecord(
        id="mo-1",
        direction="MO",
        source=CUSTOMER,
        destination="1234567890",
        type="text",
        whatsapp_message_id="wamid.1",
        text=text,
        content={"type": "text", "text": {"body": text}},
        status_history=[StatusEntry(status="received", at=RECEIVED_AT)],
        created_at=RECEIVED_AT,
        updated_at=RECEIVED_AT,
        contact=CUSTOMER,
        **fields,
    )


def edit(text: str, at: str, change_id: str | None = None, contact: str = CUSTOMER) -> PendingChange:
    return PendingChange(
        kind="edit",
        change_id=change_id or f"edit-{at}",
        at=at,
        contact=contact,
        content={"type": "text", "text": {"body": text}},
        text=text,
    )


def revoke(at: str, contact: str = CUSTOMER) -> PendingChange:
    return PendingChange(kind="revoke", change_id=f"revoke-{at}", at=at, contact=contact)


def test_an_edit_replaces_the_content_and_keeps_the_one_before():
    stored = record()
    assert apply_changes(stored, [edit("new", "2026-11-25T09:47:00.000000Z")])
    assert (stored.text, stored.edited_at) == ("new", "2026-11-25T09:47:00.000000Z")
    assert [(version.at, version.text) for version in stored.content_history] == [(RECEIVED_AT, "original")]


def test_each_change_applies_once():
    stored = record()
    change = edit("new", "2026-11-25T09:47:00.000000Z")
    apply_changes(stored, [change])
    assert not apply_changes(stored, [change])
    assert len(stored.content_history) == 1


def test_edits_in_any_order_end_with_the_latest():
    stored = record()
    apply_changes(stored, [edit("third", "2026-11-25T09:49:00.000000Z")])
    apply_changes(stored, [edit("first", "2026-11-25T09:47:00.000000Z"), edit("second", "2026-11-25T09:48:00.000000Z")])
    assert stored.text == "third"
    assert [version.text for version in stored.content_history] == ["original", "first", "second"]


def test_the_history_keeps_the_first_content_and_the_latest_others():
    stored = record()
    changes = [edit(f"edit {n}", f"2026-11-25T10:{n:02d}:00.000000Z") for n in range(MAX_CONTENT_VERSIONS + 5)]
    apply_changes(stored, changes)
    assert len(stored.content_history) == MAX_CONTENT_VERSIONS
    assert stored.content_history[0].text == "original"
    assert stored.content_history[-1].text == f"edit {MAX_CONTENT_VERSIONS + 3}"


def test_a_deletion_removes_every_content_and_later_edits_bring_none_back():
    stored = record()
    apply_changes(stored, [edit("new", "2026-11-25T09:47:00.000000Z"), revoke("2026-11-25T09:48:00.000000Z")])
    apply_changes(stored, [edit("after", "2026-11-25T09:49:00.000000Z")])
    assert (stored.content, stored.text, stored.content_history) == (None, None, [])
    assert stored.deleted_at == "2026-11-25T09:48:00.000000Z"
    assert (stored.id, stored.whatsapp_message_id, stored.type) == ("mo-1", "wamid.1", "text")


def test_someone_else_s_changes_are_ignored():
    stored = record()
    assert not apply_changes(stored, [edit("forged", "2026-11-25T09:47:00.000000Z", contact="+64229999999")])
    assert not apply_changes(stored, [revoke("2026-11-25T09:47:00.000000Z", contact="+64229999999")])
    assert stored.text == "original" and stored.deleted_at is None


def test_a_received_not_yet_published_goes_out_as_the_record_stands():
    stored = record()
    # as an earlier release stored it: the event copied whole into the outbox
    stored.outbox[RECEIVED_KEY] = PendingEvent(
        detail_type="WhatsApp Message Received", detail=MessageReceived.of(stored).as_dict(), lease_until=5
    )
    apply_changes(stored, [revoke("2026-11-25T09:48:00.000000Z")])
    assert stored.outbox[RECEIVED_KEY].detail is None  # built from the record when it goes out
    detail = MessageReceived.of(stored).as_dict()
    assert "content" not in detail and "text" not in detail
    assert detail["deleted_at"] == "2026-11-25T09:48:00.000000Z"
    assert stored.outbox[RECEIVED_KEY].lease_until == 5


def test_earlier_contents_that_do_not_fit_are_left_out_oldest_first():
    big = "x" * 150_000
    stored = record(big)
    apply_changes(stored, [edit("y" * 150_000, "2026-11-25T09:47:00.000000Z")])
    assert stored.text == "y" * 150_000
    [version] = stored.content_history
    assert (version.at, version.content, version.text) == (RECEIVED_AT, None, None)


def test_a_text_that_does_not_fit_twice_in_the_event_is_left_out_of_record_and_event():
    stored = record("x" * 140_000)  # content and text: 280,000 bytes, over EventBridge's 256 KiB
    change = fitted(stored, RECEIVED_KEY, MessageReceived.of)
    assert change.record.text is None and "text" not in change.events[RECEIVED_KEY].as_dict()
    assert change.record.content["text"]["body"] == "x" * 140_000


def test_content_that_fits_neither_item_nor_event_is_refused_as_too_large():
    stored = record("x" * 300_000)
    with pytest.raises(InvalidPayload) as refused:
        fitted(stored, RECEIVED_KEY, MessageReceived.of)
    assert refused.value.code == "payload_too_large"
