"""The provider's MO and DLR callbacks: validate, normalise, store with their events, publish."""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from wab import edits, jsoncodec
from wab.clock import iso
from wab.errors import InvalidPayload
from wab.keywords import DEFAULT_OPT_IN, DEFAULT_OPT_OUT, Choice, choice, keyword_set
from wab.models.callbacks import DlrCallback, MoCallback
from wab.models.events.contacts import ContactOptedIn, ContactOptedOut
from wab.models.events.inbound import MessageReceived
from wab.models.events.status import MessageStatusChanged
from wab.models.inbound import InboundBase, UntypedMessage, typed_or_kept, untyped
from wab.models.inbound.changes import EditMessage, RevokeMessage
from wab.models.records import MessageRecord, StatusEntry
from wab.models.types import canonical_number, contact_hash
from wab.models.validation import describe
from wab.optouts import OptOuts
from wab.outbox import Change, Pending, commit, deliver, release
from wab.parking import Parking, entries_of
from wab.publisher import EventPublisher
from wab.received import RECEIVED_KEY, already_received, customer_time, fitted, inbound_record, receive_again
from wab.replywaits import awaited
from wab.status import FAILED, is_known, moves_forward
from wab.store import MessageStore
from wab.summary import count_sent_late
from wab.waiting import Waits
from wab.waits import evaluate

# A record's history keeps every documented status (accepted, sent, received, rejected, expired) and this many others
# (`read`, and whatever a provider invents), so that no amount of made-up statuses can grow a record past DynamoDB's
# 400 KB item size and keep the real ones out.
MAX_UNDOCUMENTED_STATUSES = 8
PROVISIONAL_DAYS = 1  # how long a record created by a DLR alone lives unless the sender completes it
OPT_KEY = "opt"  # the outbox key of the opt-out or opt-in a keyword message asks for


def validate[Model: BaseModel](model: type[Model], payload: Any) -> Model:
    if not isinstance(payload, dict):
        raise InvalidPayload("body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise InvalidPayload(describe(exc)) from None


def parse_mo(payload: Any) -> tuple[MoCallback, InboundBase]:
    """The callback's envelope, validated (InvalidPayload: the callback is unusable as a whole), and its content as a
    typed message, or kept whole as an `UntypedMessage` with the reason when it does not fit the models."""
    callback = validate(MoCallback, payload)
    content, reason = decode_content(callback.content, callback.encoding)
    if reason is not None:
        return callback, untyped(content, reason)
    return callback, typed_or_kept(content)


def decode_content(content: Any, encoding: str | None) -> tuple[Any, str | None]:
    """The content, decoded from base64 or a JSON string (once or twice encoded) when it is one, and None when it is
    a WhatsApp message object, else the reason it is not one.

    Only an encoding that cannot be undone is refused (InvalidPayload): base64 that is not valid, or whose bytes are
    not UTF-8 text. Text that is not JSON, or JSON that is not an object, is content all the same.
    """
    if encoding and encoding.lower() == "base64":
        if not isinstance(content, str):
            raise InvalidPayload("content must be a base64 string when encoding is base64", code="invalid_content")
        try:
            raw = base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidPayload("content is not valid base64", code="invalid_content") from None
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidPayload(
                f"content is not valid UTF-8 once base64-decoded (byte {exc.start})", code="invalid_content"
            ) from None
        content = jsoncodec.mended(content)
    if content is None:
        return None, "content is missing"
    for _ in range(2):
        if isinstance(content, str):
            try:
                content = jsoncodec.decode(content, what="content", mend=True)
            except InvalidPayload as exc:
                return content, exc.message
    try:
        jsoncodec.check_clean(content, what="content")  # as deep as a record can hold it
    except InvalidPayload as exc:
        return jsoncodec.encode(content), exc.message  # kept whole, as its JSON text
    if not isinstance(content, dict):
        return content, "content is not a WhatsApp message object (a JSON object)"
    return content, None


@dataclass(frozen=True)
class Handling:
    """What one callback is handled with: where it goes, when it arrived, how long this invocation may hold it."""

    store: MessageStore
    publisher: EventPublisher
    retention_days: int
    now: datetime
    lease_until: int  # epoch ms (`outbox.lease_until_ms`)
    optouts: OptOuts | None = None
    parking: Parking | None = None
    opt_out_keywords: frozenset[str] = keyword_set(DEFAULT_OPT_OUT)
    opt_in_keywords: frozenset[str] = keyword_set(DEFAULT_OPT_IN)
    waits: Waits | None = None  # Step Functions tasks waiting on messages (`wab.waits`)

    @property
    def expires_at(self) -> int:
        return int(self.now.timestamp()) + self.retention_days * 86400

    @property
    def provisional_expires_at(self) -> int:
        """The TTL of a record a DLR creates before the sender's write (which sets the full retention)."""
        return int(self.now.timestamp()) + PROVISIONAL_DAYS * 86400


def receive_mo(callback: MoCallback, message: InboundBase, handling: Handling) -> bool:
    """Store the inbound message once, move the contact's 24-hour window, publish `WhatsApp Message Received`; an
    edit or deletion of an earlier message goes to `wab.edits` instead (it moves no window).

    The message's WhatsApp id is pointed at its record, and the edits and deletions that arrived before it are
    applied, before its event goes out. A reply a Step Functions task awaits from the contact is decided with the
    window's move (the window item keeps the awaited replies, `wab.waits`) and answered once the message is out. True
    when this call published the message's event (it was new, or an earlier attempt had stopped half-way); False for a
    duplicate whose event is already out, also one the provider sent again under another callback id (only the first
    callback's record is kept, with the one `Received`: `wab.received.receive_again`).
    """
    if isinstance(message, EditMessage | RevokeMessage):
        return edits.receive_change(callback, message, handling, expect_new=True)
    return _receive_message(callback, message, handling, expect_new=True)


def _receive_message(
    callback: MoCallback, message: InboundBase, handling: Handling, *, expect_new: bool = False
) -> bool:
    store, now = handling.store, handling.now
    received_at = customer_time(message.timestamp, now)
    contact = canonical_number(callback.source)

    def evolve(current: MessageRecord | None) -> Change | None:
        if already_received(current):
            return None
        stamp = iso(now)
        record = inbound_record(
            callback,
            message,
            received_at=received_at,
            stored_at=stamp,
            contact=contact,
            expires_at=handling.expires_at,
            text=message.summary_text(),
            reason=message.reason if isinstance(message, UntypedMessage) else None,
        )
        change = fitted(record, RECEIVED_KEY, MessageReceived.of)
        if wants := choice(message, handling.opt_out_keywords, handling.opt_in_keywords):
            change.events[OPT_KEY] = _opt_event(wants, contact, stamp)
        return change

    pending = commit(
        store, callback.id, evolve, own_key=RECEIVED_KEY, lease_until=handling.lease_until, expect_new=expect_new
    )
    if not pending:
        return False
    try:
        linked = edits.link(store, pending.record, handling)
    except Exception:
        release(store, [pending])
        raise
    if linked.erased:  # the provider sent an erased message again, under another id: it is erased again
        store.erase_record(pending.record.id, now=int(now.timestamp()))
        return False
    if linked.held_by is not None:
        return receive_again(
            callback, linked.held_by, handling, lambda first: _receive_message(first, message, handling)
        )
    applied = linked.applied
    if applied:  # the record as the changes left it, with this call's events and those applying them took over
        pending = Pending(record=applied.record, keys=list(dict.fromkeys([*pending.keys, *applied.keys])))
    window_moves = RECEIVED_KEY in pending.keys
    answered: list[Pending] = []  # replies awaited by tasks, decided with the window's move
    no_longer_awaited: list[str] = []

    def prepare() -> set[str]:
        """Before the events: the window moves, releasing what was parked for the contact and deciding the replies
        tasks await from it, and a keyword's choice is recorded (its event is not news when the contact had already
        made that choice)."""
        if window_moves:
            window = store.record_inbound(contact, received_at, handling.expires_at)
            parked = entries_of(window)
            if parked and handling.parking is not None:
                handling.publisher.publish_all(handling.parking.release(contact, parked))
            if handling.waits is not None and (waiting := awaited(window)):
                decided, done = handling.waits.decide_replies(pending.record, waiting, lease_until=handling.lease_until)
                answered.extend(decided)
                no_longer_awaited.extend(done)
        event = pending.record.outbox.get(OPT_KEY)
        if event is None or OPT_KEY not in pending.keys or handling.optouts is None:
            return set()
        opted_out = event.detail_type == ContactOptedOut.detail_type
        changed = handling.optouts.record(
            contact, opted_out=opted_out, reason="keyword", at=received_at, by=callback.id
        )
        return set() if changed else {OPT_KEY}

    try:
        deliver(store, handling.publisher, [pending], prepare=prepare)
    except Exception:
        release(store, answered)  # the retry decides them again at once
        raise
    if handling.waits is not None and (answered or no_longer_awaited):
        handling.waits.answer_replies(contact, pending.record, answered, no_longer_awaited)
    return window_moves


def _opt_event(wants: Choice, contact: str, at: str) -> ContactOptedOut | ContactOptedIn:
    kind = ContactOptedOut if wants == "opt_out" else ContactOptedIn
    return kind(contact_hash=contact_hash(contact), destination=contact, reason="keyword", at=at)


def receive_dlr(dlr: DlrCallback, handling: Handling) -> str | None:
    """Add the status to the record's history; move the status forward only, publishing each forward move once.

    A DLR for an id the sender has not stored yet creates a provisional record (no reference, a short TTL), which the
    sender's write completes later. A DLR never sets or changes a reference and never touches an inbound record: it
    is a report about a message the gateway sent, and anyone holding the callback credentials can post one.
    Returns the status the message moved to when this call recorded that move (its event goes out from the table's
    stream), else None.
    """
    own_key = f"status:{dlr.status}"
    stamp = iso(handling.now)
    reached_late: list[MessageRecord] = []  # the record, when this report says it was sent after it had failed

    def evolve(current: MessageRecord | None) -> Change | None:
        reached_late.clear()
        if current is not None and current.direction != "MT":
            raise InvalidPayload(
                "this id names an inbound message; delivery statuses apply to sent messages only", code="not_outbound"
            )
        record = current or MessageRecord(
            id=dlr.id, direction="MT", created_at=stamp, updated_at=stamp, expires_at=handling.provisional_expires_at
        )
        if any(entry.status == dlr.status for entry in record.status_history):
            return None
        if not is_known(dlr.status) and undocumented(record.status_history) >= MAX_UNDOCUMENTED_STATUSES:
            raise InvalidPayload(
                f"the message already has {MAX_UNDOCUMENTED_STATUSES} undocumented statuses; no more are kept",
                code="too_many_statuses",
            )
        record.status_history.append(StatusEntry(status=dlr.status, at=stamp, detail=dlr.detail))
        record.updated_at = stamp
        previous = record.status or "accepted"
        if dlr.status == previous or not moves_forward(record.status, dlr.status):
            if record.status is None and dlr.status == previous:
                record.status = previous  # a provisional record's first status, `accepted`: no move
            if dlr.status == "sent" and record.status in FAILED:
                reached_late.append(record)
            return Change(record=record, events=dict(evaluate(record, at=stamp)))
        event = MessageStatusChanged(
            message_id=dlr.id,
            status=dlr.status,
            previous_status=previous,
            reference=record.reference,
            destination=record.destination,
            detail=dlr.detail,
            occurred_at=stamp,
        )
        record.status = dlr.status
        # The move goes out from the table's stream (`wab.relay`); a task waiting on the message is answered from the
        # outbox once a status meets or fails its wait (`wab.waits`).
        return Change(record=record, events=dict(evaluate(record, at=stamp)), relayed={own_key: event})

    pending = commit(handling.store, dlr.id, evolve, own_key=own_key, lease_until=handling.lease_until)
    if not pending:
        return None
    if reached_late:
        count_sent_late(handling.publisher.counters, reached_late[0], iso(handling.now))
    if pending.keys:
        deliver(handling.store, handling.publisher, [pending])
    return dlr.status if own_key in pending.relayed else None


def undocumented(history: list[StatusEntry]) -> int:
    return sum(1 for entry in history if not is_known(entry.status))
