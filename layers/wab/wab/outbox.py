"""Change message records and publish the events those changes cause: stored and published, never doubled by retries.

The protocol, all of it here:
1. `commit` (one record, read-modify-write under its version) or `commit_new` (many records known to be new, written in
   batches) stores each change together with its events in the record's `outbox`, each event leased to this
   invocation until `lease_until` (`lease_until_ms`: the invocation's deadline plus a margin).
2. `deliver` publishes the leased events of any number of records (ten per PutEvents call) and settles each record's
   outbox: published events are removed, failed ones released so the next attempt can take them at once.
3. An invocation that dies between the two steps leaves its events leased; once the lease has passed, the next
   invocation touching the record (a provider's retry, the sender's retry) takes them over and publishes them. A
   duplicate arriving while the lease is held gets `InProgress` (a 503 to a callback, a retry to the sender).

The one gap: EventBridge took an event but the settling write failed, so the event stays in the outbox and is published
again if the record is touched after the lease. It is logged; nothing else can close it without a second store.

An event that only restates its record (`restates`: an inbound message's `Received`) is stored as its type alone and
built from the record when it goes out, so the record holds the message's content once: it then fits in one 1 KB
write unit instead of two, on its put and on its settle. An edit or deletion applied while it waits changes the record,
and with it the event, as it should.

A change's `relayed` events skip all of that: the write puts them in the record's `relay`, in place of the previous
write's, and the relay function publishes them from the table's stream (`wab.relay`), so no settling write follows.
The sender's `Accepted` and a DLR's `Status Changed` go so (the outbound path, where that write was a fifth of the
cost); events that must follow a side effect of their invocation (an inbound message's, after its window moved) or
precede its answer stay in the outbox.

An outbox entry is either an event or the answer a Step Functions task waiting on the message is owed (`TaskAnswer`,
decided by `wab.waits`): the same protocol stores, leases, takes over and settles both, and `deliver` hands answers to
Step Functions (`wab.tasks`) instead of EventBridge. An answer delivered twice (the same gap) is refused by Step
Functions as closed, so a task is answered once.
"""

import random
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from wab import clock, limits
from wab.errors import DependencyFailed, InProgress, MessageErased
from wab.models.events import RECEIVED, EventDetail
from wab.models.records import MessageRecord, PendingEvent, RelayedEvent
from wab.models.waits import ANSWER_DETAIL_TYPE, TaskAnswer
from wab.observability import logger
from wab.publisher import EventPublisher
from wab.store import MessageStore, VersionConflict, item_values

MAX_WRITE_ATTEMPTS = 6
CONFLICT_BACKOFF_S = 0.01  # the longest wait after the first conflict; doubled after each (jittered: 0 to it)
LEASE_MARGIN_MS = 1000  # past the invocation's deadline, so a lease never ends while its holder may still run
SETTLE_WORKERS = 16


Key = TypeVar("Key", bound=Hashable)
Outgoing = EventDetail | TaskAnswer  # an answer owed to a waiting task travels like an event


@dataclass
class Change:
    """A record as a change leaves it, the events this invocation publishes (`events`, through the outbox) and those
    the table's stream publishes after the write (`relayed`, `wab.relay`)."""

    record: MessageRecord
    events: dict[str, Outgoing]
    relayed: dict[str, EventDetail] = field(default_factory=dict)


class Answerer(Protocol):
    """Sends tasks their answers (`wab.tasks.TaskAnswerer`); the keys of those that did not go."""

    def answer_all(
        self,
        store: MessageStore,
        answers: Mapping[Key, tuple[MessageRecord, TaskAnswer]],
        replies: Mapping[str, MessageRecord] | None = None,
    ) -> set[Key]: ...


# Given the stored record (a private copy, or None), return the changed record with its events, or None for no change.
Evolve = Callable[[MessageRecord | None], Change | None]


@dataclass
class Pending:
    """A committed change whose events this invocation now holds the lease to publish (`keys`); `relayed`: the keys of
    those the stream publishes."""

    record: MessageRecord
    keys: list[str]
    relayed: list[str] = field(default_factory=list)


def lease_until_ms(remaining_ms: int) -> int:
    """Until when an invocation with `remaining_ms` left holds what it commits: it cannot be running after that."""
    return clock.epoch_ms(clock.now()) + remaining_ms + LEASE_MARGIN_MS


def fits(record: MessageRecord, events: Mapping[str, Outgoing]) -> bool:
    """Whether `record` with `events` added to its outbox fits in a DynamoDB item (with room to settle and grow a
    little) and each event in an EventBridge entry."""
    entries = {key: _entry(record, event, 2**53) for key, event in events.items()}
    restating = [restated(record) for entry in record.outbox.values() if entry.detail is None]
    if any(limits.detail_size(event.as_dict()) > limits.EVENT_BUDGET for event in [*events.values(), *restating]):
        return False
    planned = item_values(record)
    planned["outbox"] = {
        **planned.get("outbox", {}),
        **{key: entry.model_dump(exclude_none=True) for key, entry in entries.items()},
    }
    return limits.item_size(planned) <= limits.ITEM_BUDGET


def restates(detail_type: str) -> bool:
    """Whether an event of `detail_type` only restates its record (an inbound message's `Received`)."""
    return detail_type == RECEIVED


def restated(record: MessageRecord) -> EventDetail:
    """The `Received` event of an inbound record, as the record stands."""
    from wab.models.events.inbound import MessageReceived  # imported here: only an inbound record's outbox holds one

    return MessageReceived.of(record)


def _entry(record: MessageRecord, event: Outgoing, lease_until: int) -> PendingEvent:
    """The outbox entry of `event`: without its detail when the record restates it exactly."""
    detail = event.as_dict()
    if restates(event.detail_type) and restated(record).as_dict() == detail:
        return PendingEvent(detail_type=event.detail_type, lease_until=lease_until)
    return PendingEvent(detail_type=event.detail_type, detail=detail, lease_until=lease_until)


def _outgoing(record: MessageRecord, entry: PendingEvent) -> EventDetail | PendingEvent:
    """The entry as it goes out: a restating one is built from its record as it stands."""
    return entry if entry.detail is not None else restated(record)


def commit(
    store: MessageStore,
    message_id: str,
    evolve: Evolve,
    *,
    own_key: str,
    lease_until: int,
    expect_new: bool = False,
) -> Pending | None:
    """Apply `evolve` to the stored record with optimistic locking; None when there is nothing to write or publish,
    and when the message was erased with its contact (nothing of it is stored again, whatever `evolve` would make).

    `own_key` is the outbox key of the event this call would cause; `expect_new` skips the first read for records
    that are usually new (a conflict returns the stored item, so nothing is lost when the guess is wrong).
    """
    now_ms = clock.epoch_ms(clock.now())
    current: MessageRecord | None = None
    known = expect_new
    for attempt in range(MAX_WRITE_ATTEMPTS):
        try:
            if not known:
                current = store.get(message_id)
            plan = _plan(current, evolve, own_key, now_ms, lease_until)
            if plan is None:
                return None
            store.save(plan.record, expected_version=current.version if current else None)
            return plan
        except VersionConflict as conflict:
            current, known = conflict.current, True
            # Writers that met on one record (a message's sent, delivered and read reports at once) would meet again
            # if each retried at once: spread out, each of them gets through within a few attempts.
            if attempt:
                time.sleep(random.uniform(0, CONFLICT_BACKOFF_S * 2 ** (attempt - 1)))
        except MessageErased:
            return None
    raise InProgress(f"message {message_id} is being updated concurrently; retry")


def commit_new(store: MessageStore, changes: list[Change], *, lease_until: int) -> list[Pending]:
    """Write records known to be new (the caller checked) with their events leased, 25 per batch write."""
    pendings = []
    for change in changes:
        record = change.record
        for key, event in change.events.items():
            record.outbox[key] = _entry(record, event, lease_until)
        _relay(record, change.relayed)
        record.version = 1
        pendings.append(Pending(record=record, keys=list(change.events), relayed=list(change.relayed)))
    store.put_new([pending.record for pending in pendings])
    return pendings


def _plan(current: MessageRecord | None, evolve: Evolve, own_key: str, now_ms: int, lease_until: int) -> Pending | None:
    if current is not None:
        own = current.outbox.get(own_key)
        if own is not None and own.lease_until > now_ms:
            raise InProgress("this callback is being processed by another invocation; retry")
    change = evolve(current.model_copy(deep=True) if current else None)
    record = change.record if change else (current.model_copy(deep=True) if current else None)
    if record is None:
        return None
    keys = []
    for key, pending in record.outbox.items():
        if pending.lease_until <= now_ms:  # abandoned by an invocation that failed: take it over
            pending.lease_until = lease_until
            keys.append(key)
    for key, event in (change.events if change else {}).items():
        record.outbox[key] = _entry(record, event, lease_until)
        keys.append(key)
    relayed = change.relayed if change else {}
    _relay(record, relayed)
    if change is None and not keys:
        return None
    record.version = (current.version if current else 0) + 1
    return Pending(record=record, keys=keys, relayed=list(relayed))


def _relay(record: MessageRecord, events: Mapping[str, EventDetail]) -> None:
    """Leave `events` for the stream, in place of the previous write's (its stream record carried those)."""
    record.relay = {
        key: RelayedEvent(detail_type=event.detail_type, detail=event.as_dict()) for key, event in events.items()
    }


def deliver(
    store: MessageStore,
    publisher: EventPublisher,
    pendings: list[Pending],
    prepare: Callable[[], set[str] | None] | None = None,
    *,
    answerer: Answerer | None = None,
    replies: Mapping[str, MessageRecord] | None = None,
) -> None:
    """Run `prepare` (a side effect that must precede the events), publish every pending event, send every pending
    answer (`answerer`, by default the container's; `replies`: inbound records at hand that answers name), settle each
    record.

    `prepare` may answer outbox keys whose events turned out not to be news (a change another request made first):
    those are settled without being published. Raises DependencyFailed when any event or answer did not go out (after
    releasing its lease, so the retry takes it at once).
    """
    entries = {(pending.record.id, key): pending.record.outbox[key] for pending in pendings for key in pending.keys}
    records = {pending.record.id: pending.record for pending in pendings}
    answers = {
        key: (records[key[0]], TaskAnswer.model_validate(entry.detail))
        for key, entry in entries.items()
        if entry.detail_type == ANSWER_DETAIL_TYPE
    }
    try:
        skipped = (prepare() if prepare else None) or set()
        failed = set(
            publisher.publish(
                {
                    key: _outgoing(records[key[0]], entry)
                    for key, entry in entries.items()
                    if key[1] not in skipped and key not in answers
                }
            )
        )
        if answers:
            failed |= (answerer or _default_answerer()).answer_all(store, answers, replies)
    except Exception:
        release(store, pendings)
        raise
    settlements = [
        (pending.record.id, keys, published)
        for pending in pendings
        for published in (True, False)
        if (keys := [key for key in pending.keys if ((pending.record.id, key) in failed) != published])
    ]
    _settle_all(store, settlements)
    if failed:
        raise DependencyFailed(f"{len(failed)} of {len(entries)} events or answers did not go out")


def _default_answerer() -> Answerer:
    from wab.tasks import answerer  # imported when an answer is first owed: most invocations owe none

    return answerer()


def release(store: MessageStore, pendings: list[Pending]) -> None:
    """Give up the leases of committed events that this invocation will not publish (it failed before it could), so
    the retry takes them over at once instead of waiting for the leases to pass."""
    _settle_all(store, [(pending.record.id, pending.keys, False) for pending in pendings if pending.keys])


def _settle_all(store: MessageStore, settlements: list[tuple[str, list[str], bool]]) -> None:
    """One UpdateItem per record; many run side by side, so a broadcast chunk settles in a few round trips' time."""
    if len(settlements) <= 1:
        for settlement in settlements:
            _settle(store, *settlement)
        return
    with ThreadPoolExecutor(max_workers=SETTLE_WORKERS) as pool:
        list(pool.map(lambda settlement: _settle(store, *settlement), settlements))


def _settle(store: MessageStore, message_id: str, keys: list[str], published: bool) -> None:
    try:
        store.settle_outbox(message_id, keys, published=published)
    except DependencyFailed:
        # Published events left in the outbox are published again only if their record is touched after the lease;
        # released ones are taken over when the lease passes.
        logger.warning("could not settle the outbox", extra={"message_id": message_id, "published": published})
