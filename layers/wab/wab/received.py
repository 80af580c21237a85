"""An inbound message's record and its `WhatsApp Message Received` event: fitted to what DynamoDB and EventBridge
hold, and changed by the customer's edits and deletions.

An edit moves the record's content into `content_history` (earlier contents, oldest first) and puts the new one in
its place; edits arriving out of order end with the latest as the content. A deletion ("delete for everyone")
removes the content, its text and every earlier content from the store, keeping the fact (ids, type, times). When
the record's `Received` has not gone out yet (an edit or deletion came first), it is rewritten to match, so nothing
withdrawn is published afterwards.
"""

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wab.clock import from_epoch_seconds, iso
from wab.errors import InvalidPayload
from wab.models.callbacks import MoCallback
from wab.models.events import EventDetail
from wab.models.inbound import InboundBase, dump_message
from wab.models.records import ContentVersion, MessageRecord, PendingChange, StatusEntry
from wab.outbox import Change, fits

if TYPE_CHECKING:
    from wab.callbacks import Handling

RECEIVED_KEY = "received"
MAX_CONTENT_VERSIONS = 16  # earlier contents kept per message: the first one and the latest others
MAX_CHANGES_APPLIED = 64  # ids of the edits and deletions applied, remembered so that a retry applies none twice


def customer_time(timestamp: str | int | None, now: datetime) -> str:
    """When the customer sent a message, edit or deletion, as WhatsApp says; never later than its arrival (`now`): a
    time ahead would hold the 24-hour window open for as long as it says, outrank the customer's later opt-in or
    opt-out, and make an edit outlast the customer's later ones."""
    return iso(min(from_epoch_seconds(timestamp) or now, now))


def already_received(current: MessageRecord | None) -> bool:
    """Whether an inbound message's record is already stored (its callback came again). An id that names a message the
    gateway sent is refused (`not_inbound`): storing nothing while answering 200 would lose the message unseen."""
    if current is None:
        return False
    if current.direction != "MO":
        raise InvalidPayload(
            "this id names a sent message; an inbound message needs an id of its own", code="not_inbound"
        )
    return True


def fitted(record: MessageRecord, key: str, event: Callable[[MessageRecord], EventDetail]) -> Change:
    """The record with its event under `key`, made to fit DynamoDB's item and EventBridge's entry sizes.

    The 128 KiB body limit keeps any message's content well inside both (the record holds it once: its event in the
    outbox is built from the record, `wab.outbox.restated`), but the record and the event each hold the text too:
    so when they do not fit, the `text` (a copy of what the content holds) is left out of the record and the event. A
    message that still does not fit is refused with 413, never answered 5xx for ever.
    """
    for _ in range(2):
        detail = event(record)
        if fits(record, {key: detail}):
            return Change(record=record, events={key: detail})
        record.text = None
    raise InvalidPayload("the message is too large to store and publish", code="payload_too_large")


def apply_changes(record: MessageRecord, changes: Iterable[PendingChange]) -> bool:
    """Apply the customer's edits and deletions to the record of their inbound message, each once, in the order the
    customer made them; True when the record changed. Only the author's own message is changed."""
    changed = False
    for change in sorted(changes, key=lambda change: (change.at, change.kind == "revoke")):
        if record.direction != "MO" or change.contact != record.contact or change.change_id in record.changes_applied:
            continue
        if change.kind == "revoke":
            withdraw(record, change.at)
        elif record.deleted_at is None and change.content is not None:
            edit(record, change)
        record.changes_applied = [*record.changes_applied, change.change_id][-MAX_CHANGES_APPLIED:]
        changed = True
    if changed:
        refit(record)
    return changed


def edit(record: MessageRecord, change: PendingChange) -> None:
    current_at = record.edited_at or (record.status_history[0].at if record.status_history else record.created_at)
    if change.at >= current_at:
        record.content_history.append(ContentVersion(at=current_at, content=record.content, text=record.text))
        record.content, record.text, record.edited_at = change.content, change.text, change.at
        if change.type is not None:  # an edit may change what the message is (a text edited into an image)
            record.type, record.reason = change.type, change.reason
    else:  # an older edit arriving late: an earlier content, not the current one
        record.content_history.append(ContentVersion(at=change.at, content=change.content, text=change.text))
    record.content_history.sort(key=lambda version: version.at)
    if len(record.content_history) > MAX_CONTENT_VERSIONS:
        record.content_history = [record.content_history[0], *record.content_history[1 - MAX_CONTENT_VERSIONS :]]


def withdraw(record: MessageRecord, at: str) -> None:
    """The customer deleted the message: its content leaves the store; the fact that it was sent stays."""
    record.content = None
    record.text = None
    record.content_history = []
    record.deleted_at = record.deleted_at or at


def refit(record: MessageRecord) -> None:
    """Make a `Received` still in the outbox go out as the record stands (an entry an earlier release stored whole is
    turned into one built from the record), and leave out what does not fit: the earlier contents, oldest first, then
    the text. (An edit's content was checked to fit a record before it was taken, so this ends within the budget.)"""
    while True:
        received = record.outbox.get(RECEIVED_KEY)
        if received is not None:
            received.detail = None  # built from the record as it stands when it goes out (`wab.outbox.restated`)
        if fits(record, {}):
            return
        version = next((version for version in record.content_history if version.content or version.text), None)
        if version is not None:
            version.content = version.text = None
        elif record.text is not None:
            record.text = None
        else:
            return


def inbound_record(
    callback: MoCallback,
    message: InboundBase,
    *,
    received_at: str,
    stored_at: str,
    contact: str,
    expires_at: int | None,
    **fields: Any,
) -> MessageRecord:
    """The record of an inbound message as it is first stored (`fields`: what its kind adds)."""
    return MessageRecord(
        id=callback.id,
        direction="MO",
        source=callback.source,
        destination=callback.destination,
        type=message.type,
        status="received",
        reference=callback.reference or None,
        whatsapp_message_id=message.id,
        content=dump_message(message),
        status_history=[StatusEntry(status="received", at=received_at)],
        created_at=stored_at,
        updated_at=stored_at,
        contact=contact,
        expires_at=expires_at,
        **fields,
    )


def receive_again(
    callback: MoCallback, first_id: str, handling: "Handling", finish: Callable[[MoCallback], bool]
) -> bool:
    """The provider sent this message (or edit, or deletion) before, under the callback id `first_id`. The record this
    callback stored is dropped, so that one WhatsApp message has one record, which its edits and deletions change; and
    the first callback's work is finished (`finish`) as its own retry would: an event it left unpublished goes out now,
    as the 200 this callback gets promises."""
    handling.store.forget(callback.id)
    return finish(callback.model_copy(update={"id": first_id}))
