"""The MT records of accepted messages and their `WhatsApp Message Accepted` events, which the table's stream publishes
(`wab.relay`; through the outbox when a Step Functions task waits on the message, whose wait begins here:
`wab.waits`)."""

from typing import TYPE_CHECKING

from wab import clock
from wab.models.commands import BroadcastCommand, MessageCommand, SendCommand
from wab.models.events import EventDetail
from wab.models.events.sending import MessageAccepted
from wab.models.records import MessageRecord, StatusEntry
from wab.outbox import Change, Evolve, Outgoing, Pending, commit, commit_new, deliver
from wab.outcomes import Accepted
from wab.publisher import EventPublisher
from wab.status import moves_forward
from wab.store import MessageStore
from wab.summary import count_sent_late, sent_after_failing
from wab.waits import register

if TYPE_CHECKING:
    from wab.waiting import Waits

ACCEPTED_KEY = "accepted"
PARKED_KEY = "parked"  # the `Parked` event of a message whose fallback template this record is


def record_accepted(
    store: MessageStore,
    publisher: EventPublisher,
    command: MessageCommand,
    accepted: list[Accepted],
    *,
    source: str,
    at: str,
    retention_days: int,
    lease_until: int,
    also: dict[str, EventDetail] | None = None,
    waits: "Waits | None" = None,
) -> None:
    """Write the records and publish their events, each once however often this runs. `also`: events of a single
    send's record besides its `Accepted`, published once with it.

    A single send's record is usually new: written with one conditional put. A broadcast chunk's records are written
    25 at a time, except those a DLR created first, which are merged under the versioned write like a single send.
    A command's wait is put on its record in the same write (decided there when it can be); one left undecided gets
    its timer, and a reply wait its entry on the contact's item, before the `Accepted` event goes out (`wab.waiting`).
    """
    expires_at = int(clock.now().timestamp()) + retention_days * 86400

    def acceptance(one: Accepted) -> Evolve:
        def evolve(current: MessageRecord | None) -> Change | None:
            change = accept(current, accepted=one, command=command, source=source, at=at, expires_at=expires_at)
            if change is not None and also:  # they go the way `Accepted` goes
                (change.relayed if ACCEPTED_KEY in change.relayed else change.events).update(also)
            return change

        return evolve

    if len(accepted) == 1:
        [only] = accepted
        pending = commit(
            store, only.message_id, acceptance(only), own_key=ACCEPTED_KEY, lease_until=lease_until, expect_new=True
        )
        if pending:
            record, begins = pending.record, waits is not None and ACCEPTED_KEY in pending.keys

            def prepare() -> None:
                if begins and waits is not None:
                    waits.begun(record)

            if pending.keys:
                deliver(store, publisher, [pending], prepare=prepare)
            _count_sent_late(publisher, [pending], at)
        return
    existing = store.existing_ids([one.message_id for one in accepted])
    fresh = [change for one in accepted if one.message_id not in existing if (change := acceptance(one)(None))]
    pendings = commit_new(store, fresh, lease_until=lease_until)
    for one in accepted:
        if one.message_id in existing:
            pending = commit(store, one.message_id, acceptance(one), own_key=ACCEPTED_KEY, lease_until=lease_until)
            if pending:
                pendings.append(pending)
    if any(pending.keys for pending in pendings):
        deliver(store, publisher, pendings)
    _count_sent_late(publisher, pendings, at)


def _count_sent_late(publisher: EventPublisher, pendings: "list[Pending]", at: str) -> None:
    """Statuses reported before the send was recorded count with its `Accepted`, all but a `sent` reported after the
    message had failed (no event says it): it counts now, with the `Accepted` this call published."""
    for pending in pendings:
        if ACCEPTED_KEY in [*pending.keys, *pending.relayed] and sent_after_failing(pending.record):
            count_sent_late(publisher.counters, pending.record, at)


def accept(
    current: MessageRecord | None,
    *,
    accepted: Accepted,
    command: MessageCommand,
    source: str,
    at: str,
    expires_at: int,
) -> Change | None:
    """The MT record with the provider's acceptance added, and the `Accepted` event; None when already recorded.

    A DLR may have created the record first (a provisional record: no source, a short TTL): its statuses stay (a later
    status is never moved back to accepted), the acceptance goes first in the history, the send's own fields fill in
    the rest, and the record gets the full retention. A record with a source is the sender's own (or an inbound one):
    it is never written again.
    """
    record = current or MessageRecord(
        id=accepted.message_id, direction="MT", created_at=at, updated_at=at, expires_at=expires_at
    )
    if record.source is not None:
        return None
    record.direction = "MT"
    if not any(entry.status == "accepted" for entry in record.status_history):
        record.status_history.insert(0, StatusEntry(status="accepted", at=at))
    if moves_forward(record.status, "accepted"):
        record.status = "accepted"
    record.source = source
    record.destination = accepted.destination
    record.contact = accepted.destination
    record.type = command.message.type
    record.content = command.stored_content()
    record.reference = command.reference or record.reference
    record.broadcast = isinstance(command, BroadcastCommand) or None
    record.created_at = min(record.created_at, at)
    record.updated_at = max(record.updated_at, at)
    record.expires_at = expires_at
    event = MessageAccepted(
        message_id=accepted.message_id,
        reference=record.reference,
        destination=accepted.destination,
        source=source,
        type=command.message.type,
        idempotency_key=command.idempotency_key,
        status=record.status if record.status != "accepted" else None,
    )
    if isinstance(command, SendCommand) and (request := command.wait) is not None:
        # Through the outbox: the wait's timer or reply entry is set before `Accepted` goes out (`record_accepted`).
        events: dict[str, Outgoing] = {ACCEPTED_KEY: event, **register(record, request, at=at)[1]}
        return Change(record=record, events=events)
    return Change(record=record, events={}, relayed={ACCEPTED_KEY: event})  # from the table's stream (`wab.relay`)
