"""Customers' edits and deletions ("delete for everyone") of the messages they sent.

WhatsApp reports both as inbound messages, of type `edit` and `revoke`, naming the changed message by its WhatsApp id
(`wamid…`), while the gateway keys records by the provider's callback id. So every inbound message with a WhatsApp id
has a pointer item, `WAMID#<id>` → its record id, written after the record and before its event goes out, and kept
as long as a change can still come for it (`POINTER_DAYS`).

An edit or deletion is an inbound message of its own: stored once as its own record (which names the message it
changes, without the new content) with its event, `WhatsApp Message Edited` or `WhatsApp Message Deleted`, in that
record's outbox, so each is published once however often the provider retries it. Then it is applied to the changed
message's record (`wab.received.apply_changes`), found through the pointer. When that message has not arrived yet,
the change is kept on the pointer (like a DLR before its send), and the message's own callback applies it before
its `Received` goes out: the record is stored edited or withdrawn, and its event says so.

The pointer is written under a version, like the records: whoever finds it changed reads it again, so a change kept
while the message arrives is never lost, and a retry at any step completes the work without doing any twice.
"""

from typing import TYPE_CHECKING, NamedTuple

from wab import clock, limits
from wab.clock import iso
from wab.errors import InProgress, InvalidPayload, MessageErased
from wab.models.callbacks import MoCallback
from wab.models.events import EventDetail
from wab.models.events.inbound import MessageDeleted, MessageEdited, MessageReceived
from wab.models.inbound import UntypedMessage, dump_message
from wab.models.inbound.changes import EditMessage, RevokeMessage
from wab.models.records import MessageRecord, PendingChange, StatusEntry, WhatsAppPointer
from wab.models.types import canonical_number
from wab.observability import logger
from wab.outbox import Change, Outgoing, Pending, commit, deliver, fits, release
from wab.received import (
    RECEIVED_KEY,
    already_received,
    apply_changes,
    customer_time,
    fitted,
    inbound_record,
    receive_again,
)
from wab.store import MessageStore, PointerConflict

if TYPE_CHECKING:
    from wab.callbacks import Handling

EDITED_KEY = "edited"
DELETED_KEY = "deleted"
APPLY_KEY = "apply"  # an outbox key no event uses: applying a change publishes nothing of its own
MAX_POINTER_ATTEMPTS = 6
MAX_PENDING_EDITS = 16  # edits kept for a message that has not arrived; later ones are published but not kept
# How long a pointer is kept (or RetentionDays, if shorter). WhatsApp lets a customer edit a message for 15 minutes and
# delete it for everyone for about 2 days, and a provider retries a callback for days at most (Meta's Cloud API: 7):
# no change can come for a message after that, and the pointer would only be paid for.
POINTER_DAYS = 14


def receive_change(
    callback: MoCallback, message: EditMessage | RevokeMessage, handling: "Handling", *, expect_new: bool = False
) -> bool:
    """Store the edit or deletion once, apply it to the message it changes (or keep it until that arrives), publish
    `WhatsApp Message Edited` or `Deleted`. True when this call published it; False for a duplicate already out."""
    store, now = handling.store, handling.now
    at = customer_time(message.timestamp, now)
    contact = canonical_number(callback.source)
    stamp = iso(now)
    # An edit's new content: its type, and why the models cannot type it when they cannot.
    new_type: str = message.type
    reason: str | None = None
    if isinstance(message, EditMessage):
        target, key = message.edit.original_message_id, EDITED_KEY
        new = message.new_message()
        # The new content takes the place of the message's content: it must fit a record as that did (or is 413).
        probe = MessageRecord(
            id=callback.id,
            direction="MO",
            source=callback.source,
            destination=callback.destination,
            type=new.type,
            content=dump_message(new),
            text=new.summary_text(),
            status_history=[StatusEntry(status="received", at=at)],
            created_at=stamp,
            updated_at=stamp,
        )
        fitted(probe, RECEIVED_KEY, MessageReceived.of)
        new_type, reason = new.type, new.reason if isinstance(new, UntypedMessage) else None
        change = PendingChange(
            kind="edit",
            change_id=callback.id,
            at=at,
            contact=contact,
            content=probe.content,
            text=probe.text,
            type=new_type,
            reason=reason,
        )
    else:
        target, key = message.revoke.original_message_id, DELETED_KEY
        change = PendingChange(kind="revoke", change_id=callback.id, at=at, contact=contact)
    try:
        pointer = store.get_pointer(target)
        original_id = pointer.record_id if pointer else None
        original = store.get(original_id) if original_id else None
    except MessageErased:  # the message was erased with its contact: nothing to change, nothing to keep for it
        pointer, original_id, original, erased = None, None, None, True
    else:
        erased = False
    if original is not None and original.contact != contact:
        raise InvalidPayload(
            "the message this changes was sent by another contact; only its author can change it", code="not_author"
        )
    if change.kind == "edit" and withdrawn(original, pointer, contact):
        change.content = change.text = None  # a deletion stands: the edit's event names the edit, not its content

    def event() -> EventDetail:
        if change.kind == "edit":
            return MessageEdited(
                message_id=original_id,
                original_message_id=target,
                source=callback.source,
                destination=callback.destination,
                type=new_type,
                text=change.text,
                content=change.content or {},
                reason=reason,
                edited_at=at,
            )
        return MessageDeleted(
            message_id=original_id,
            original_message_id=target,
            source=callback.source,
            destination=callback.destination,
            deleted_at=at,
        )

    def evolve(current: MessageRecord | None) -> Change | None:
        if already_received(current):
            return None
        record = inbound_record(
            callback,
            message,
            received_at=at,
            stored_at=stamp,
            contact=contact,
            expires_at=handling.expires_at,
            original_whatsapp_message_id=target,
        )
        events: dict[str, Outgoing] = {key: event()}
        if not fits(record, events):  # cannot happen after the probe; refused rather than retried for ever
            raise InvalidPayload("the message is too large to store and publish", code="payload_too_large")
        return Change(record=record, events=events)

    own = commit(store, callback.id, evolve, own_key=key, lease_until=handling.lease_until, expect_new=expect_new)
    if not own:
        return False
    try:
        # The change's own WhatsApp id is pointed at its record, as a message's is: a change the provider sent again
        # under another callback id is found here, before it could be applied or published a second time.
        linked = link(store, own.record, handling)
    except Exception:
        release(store, [own])
        raise
    if linked.erased:  # sent again after its contact was erased: it is erased again
        store.erase_record(own.record.id, now=int(now.timestamp()))
        return False
    if linked.held_by is not None:
        return receive_again(callback, linked.held_by, handling, lambda first: receive_change(first, message, handling))
    try:
        applied = [] if erased else apply_or_keep(store, target, change, pointer, handling)
    except Exception:
        release(store, [own])
        raise
    deliver(store, handling.publisher, [own, *applied])
    return key in own.keys


def withdrawn(original: MessageRecord | None, pointer: WhatsAppPointer | None, contact: str) -> bool:
    """Whether the contact has already deleted the message (received, or still to come: a deletion of theirs kept for
    it; another contact's deletion of a message not yet arrived is kept too, but can never apply to this one's)."""
    if original is not None:
        return original.deleted_at is not None
    return pointer is not None and any(_is_deletion_by(pending, contact) for pending in pointer.pending)


def _is_deletion_by(pending: PendingChange, contact: str) -> bool:
    return pending.kind == "revoke" and pending.contact == contact


def apply_or_keep(
    store: MessageStore, target: str, change: PendingChange, pointer: WhatsAppPointer | None, handling: "Handling"
) -> list[Pending]:
    """Apply the change to the record the pointer names, or keep it on the pointer until that record exists.

    Returns what applying it committed (events of the record taken over from an invocation that failed), to deliver.
    """
    for _ in range(MAX_POINTER_ATTEMPTS):
        if pointer is not None and pointer.record_id is not None:
            applied = apply_to(store, pointer.record_id, [change], handling, behind_received=True)
            return [applied] if applied else []
        kept = keep(pointer or WhatsAppPointer(whatsapp_message_id=target, expires_at=pointer_expiry(handling)), change)
        if kept is None:
            return []
        try:
            store.save_pointer(kept, expected_version=pointer.version if pointer else None)
            return []
        except PointerConflict as conflict:
            pointer = conflict.current
        except MessageErased:  # erased since it was read
            return []
    raise InProgress("the message this changes is being updated concurrently; retry")


def keep(pointer: WhatsAppPointer, change: PendingChange) -> WhatsAppPointer | None:
    """The pointer with the change kept for when its message arrives; None when there is nothing to write.

    Who wrote the message is not known until it arrives, and only its author's changes will apply; so each contact's
    changes are kept apart. Once a contact's deletion is kept, their edits kept with it lose their content (they
    withdrew the message), and one deletion is enough. At most `MAX_PENDING_EDITS` edits of each contact are kept, the
    latest ones (the message ends with the last), and their contents only as far as they fit.
    """
    kept = pointer.model_copy(deep=True)
    if any(pending.change_id == change.change_id for pending in kept.pending):
        return None
    own = [pending for pending in kept.pending if pending.contact == change.contact]
    deleted = any(_is_deletion_by(pending, change.contact) for pending in own)
    if change.kind == "revoke":
        if deleted:
            return None
        for pending in own:
            pending.content = pending.text = None
    elif deleted:
        change = change.model_copy(update={"content": None, "text": None})
    elif len(edits := [pending for pending in own if pending.kind == "edit"]) >= MAX_PENDING_EDITS:
        oldest = min(edits, key=lambda pending: pending.at)
        if change.at <= oldest.at:  # the latest edits are what the message ends with: keep those
            logger.warning("an edit of a message not yet received was not kept: too many later ones")
            return None
        kept.pending.remove(oldest)
    kept.pending.append(change)
    for pending in kept.pending:
        if limits.item_size(kept.model_dump(exclude_none=True)) <= limits.ITEM_BUDGET:
            break
        pending.content = pending.text = None
    return kept


def apply_to(
    store: MessageStore,
    record_id: str,
    changes: list[PendingChange],
    handling: "Handling",
    *,
    behind_received: bool = False,
) -> Pending | None:
    """Apply the changes to the record (each once); what was committed, or None when nothing changed.

    `behind_received`: the change comes from another callback than the message's own, so it waits (InProgress: a
    retry) while another invocation is publishing the message's `Received`, which that one builds from the record as
    it read it: applied meanwhile, a deletion would be followed by a `Received` with the withdrawn text."""

    def evolve(current: MessageRecord | None) -> Change | None:
        if behind_received and current is not None:
            going = current.outbox.get(RECEIVED_KEY)
            if going is not None and going.lease_until > clock.epoch_ms(clock.now()):
                raise InProgress("the message this changes is being published; retry")
        if current is None or not apply_changes(current, changes):
            return None  # the message is gone (erased, expired) or already changed so
        current.updated_at = iso(handling.now)
        return Change(record=current, events={})

    return commit(store, record_id, evolve, own_key=APPLY_KEY, lease_until=handling.lease_until)


def pointer_expiry(handling: "Handling") -> int:
    """When DynamoDB may remove a pointer written now (epoch seconds): POINTER_DAYS on, or the records' retention."""
    return int(handling.now.timestamp()) + min(handling.retention_days, POINTER_DAYS) * 86400


class Linked(NamedTuple):
    applied: Pending | None  # the last commit that applied changes (its record as it now stands), if any did
    held_by: str | None  # the record already holding this WhatsApp id: the provider sent the message twice
    erased: bool = False  # the message was erased with its contact: sent again, it stays erased


def link(store: MessageStore, record: MessageRecord, handling: "Handling") -> Linked:
    """Point the new inbound record's WhatsApp id at it, applying the edits and deletions that came before it; or
    find that another record holds the id already."""
    if record.whatsapp_message_id is None:
        return Linked(None, None)
    fresh = WhatsAppPointer(
        whatsapp_message_id=record.whatsapp_message_id, record_id=record.id, expires_at=pointer_expiry(handling)
    )
    current: WhatsAppPointer | None = None
    applied: Pending | None = None
    for _ in range(MAX_POINTER_ATTEMPTS):
        try:
            if current is None:
                store.save_pointer(fresh, expected_version=None)
                return Linked(applied, None)
            if current.record_id not in (None, record.id):
                return Linked(applied, current.record_id)
            if current.pending:
                applied = apply_to(store, record.id, current.pending, handling) or applied
            elif current.record_id == record.id:
                return Linked(applied, None)
            linked = current.model_copy(update={"record_id": record.id, "pending": [], "expires_at": fresh.expires_at})
            store.save_pointer(linked, expected_version=current.version)
            return Linked(applied, None)
        except PointerConflict as conflict:
            current = conflict.current
        except MessageErased:  # a message of an erased contact had this WhatsApp id: it stays erased
            return Linked(applied, None, erased=True)
    raise InProgress("this message's WhatsApp id is being updated concurrently; retry")
