"""Change a message record and publish the events that change causes: stored and published, never doubled by retries.

The events are written into the record (its `outbox`) in the same conditional write as the change, then published,
then removed. An invocation that dies between the two steps leaves them leased to itself; once that lease has
passed, the next invocation touching the record (the provider's retry) publishes them. A duplicate arriving while
the original is still publishing gets `InProgress` (503), so the provider retries after the outcome is known.
"""

from dataclasses import dataclass
from typing import Callable

from wab.errors import DependencyFailed, InProgress
from wab.models.events import EventDetail
from wab.models.records import MessageRecord, PendingEvent
from wab.observability import logger
from wab.publisher import EventPublisher
from wab.store import MessageStore, VersionConflict

MAX_WRITE_ATTEMPTS = 6


@dataclass
class Change:
    record: MessageRecord
    events: dict[str, EventDetail]


# Given the stored record (a private copy, or None), return the changed record with its events, or None for no change.
Evolve = Callable[[MessageRecord | None], Change | None]


@dataclass
class Pending:
    """A committed change whose events this invocation now holds the lease to publish."""

    record: MessageRecord
    keys: list[str]


def commit(
    store: MessageStore,
    message_id: str,
    evolve: Evolve,
    *,
    own_key: str,
    now_ms: int,
    lease_until_ms: int,
    expect_new: bool = False,
) -> Pending | None:
    """Apply `evolve` to the stored record with optimistic locking; None when there is nothing to write or publish.

    `own_key` is the outbox key of the event this call would cause; `expect_new` skips the first read for records
    that are usually new (a conflict returns the stored item, so nothing is lost when the guess is wrong).
    """
    current: MessageRecord | None = None
    known = expect_new
    for _ in range(MAX_WRITE_ATTEMPTS):
        if not known:
            current = store.get(message_id)
        plan = _plan(current, evolve, own_key, now_ms, lease_until_ms)
        if plan is None:
            return None
        try:
            store.save(plan.record, expected_version=current.version if current else None)
            return plan
        except VersionConflict as conflict:
            current, known = conflict.current, True
    raise InProgress(f"message {message_id} is being updated concurrently; retry")


def _plan(
    current: MessageRecord | None, evolve: Evolve, own_key: str, now_ms: int, lease_until_ms: int
) -> Pending | None:
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
            pending.lease_until = lease_until_ms
            keys.append(key)
    for key, event in (change.events if change else {}).items():
        record.outbox[key] = PendingEvent(
            detail_type=event.detail_type, detail=event.as_dict(), lease_until=lease_until_ms
        )
        keys.append(key)
    if change is None and not keys:
        return None
    record.version = (current.version if current else 0) + 1
    return Pending(record=record, keys=keys)


def deliver(
    store: MessageStore, publisher: EventPublisher, pending: Pending, prepare: Callable[[], None] | None = None
) -> None:
    """Run `prepare` (a side effect that must precede the events), publish, then clear the outbox.

    On failure the leases are released so the provider's retry can complete the work at once.
    """
    events = {key: (pending.record.outbox[key].detail_type, pending.record.outbox[key].detail) for key in pending.keys}
    try:
        if prepare:
            prepare()
        failed = publisher.publish(events)
    except Exception:
        _release(store, pending.record.id, pending.keys)
        raise
    published = [key for key in pending.keys if key not in failed]
    if published:
        try:
            store.settle_outbox(pending.record.id, published, published=True)
        except DependencyFailed:
            # The events are out; answering 5xx would make the retry publish them again.
            logger.exception("published events could not be cleared from the outbox", extra={"keys": published})
    if failed:
        _release(store, pending.record.id, failed)
        raise DependencyFailed(f"EventBridge did not take {len(failed)} of {len(events)} events")


def _release(store: MessageStore, message_id: str, keys: list[str]) -> None:
    try:
        store.settle_outbox(message_id, keys, published=False)
    except DependencyFailed:
        logger.warning("could not release outbox leases; the retry waits for them to pass", extra={"keys": keys})
