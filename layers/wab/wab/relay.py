"""Publish the events that writes leave for the table's stream (`MessageRecord.relay`): each once, in the order of
the writes, counted for campaign summaries.

A write puts the events it causes in its record's `relay` and drops those of the write before it, which that write's
own stream record carried (`wab.outbox`). So a stream record's events are those of its new image that its old image
lacks, and a write that leaves `relay` alone (an outbox settle) carries none. Nothing is written to mark an event
published: that is the write per event this saves over the outbox (docs/cost.md).

An erased message's events are not published: erasure turns its record into a tombstone (`erased_at`), and an event
still on the stream when that happened would tell the bus the number it was about. The relay drops the events of a
record the same batch shows erased; a batch holding writes older than `BACKLOG_S` (the stream fell behind: an
outage, a retry) also asks the table which of its messages were erased since.

When EventBridge does not take an event after a few quick attempts, its stream record is reported as the batch's
failure: Lambda retries the stream from that record, so it and every record after it come back, and nothing of a
message is published ahead of an earlier event of it. Powertools' batch processor would go on past the failed record
and publish the records after it again on that retry, so the loop is written here. A PutEvents call holds at most one
event of each message, so an event retried alone never overtakes a later event of its message. Giving up on an event
would publish others again with the stream's retry when EventBridge took events after it in its call, or an earlier
event of its own write (a write that left two) in an earlier call: then the refused one is tried again, with backoff,
for as long as the invocation has time (`deadline`), and only then given up (logged as `published_ahead`: PutEvents
refusing one entry for seconds while taking the others). What such a retry publishes again is counted with it, once.
Once that time is spent the relay starts no more calls and reports the next record: a timeout would have Lambda retry
the whole batch, publishing again everything it had published.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from wab import clock
from wab.errors import DependencyFailed
from wab.models.records import RelayedEvent
from wab.observability import logger
from wab.publisher import MAX_ENTRIES_PER_CALL, EventPublisher
from wab.store import MessageStore
from wab.summary import Counters

ATTEMPTS = 3  # per PutEvents call, before the stream's own retry takes over
BACKLOG_S = 10  # a batch with a write older than this asks the table which of its messages were erased since
BACKOFF_S = 0.1  # doubled after each attempt
MAX_BACKOFF_S = 1.0

_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class Relayed:
    sequence_number: str  # of the stream record that carried it
    item: str  # the record's key: one event of a message per call
    event: RelayedEvent
    broadcast: bool = False  # its record was written by a broadcast (`SummaryScope`)


def carried(record: Mapping[str, Any]) -> list[Relayed]:
    """The events one stream record (a record of Lambda's DynamoDB stream event) carries, in their write's order."""
    change = record.get("dynamodb") or {}
    new, old = _relay_of(change.get("NewImage")), _relay_of(change.get("OldImage"))
    sequence_number = str(change.get("SequenceNumber", ""))
    item = _key(record)
    broadcast = bool(((change.get("NewImage") or {}).get("broadcast") or {}).get("BOOL"))
    return [Relayed(sequence_number, item, event, broadcast) for key, event in new.items() if old.get(key) != event]


def _key(record: Mapping[str, Any]) -> str:
    return str(((record.get("dynamodb") or {}).get("Keys") or {}).get("pk", {}).get("S", ""))


def erased_in(records: list[Mapping[str, Any]]) -> set[str]:
    """The keys of the records these stream records turned into tombstones."""
    return {_key(record) for record in records if "erased_at" in ((record.get("dynamodb") or {}).get("NewImage") or {})}


def oldest_write(records: list[Mapping[str, Any]]) -> float | None:
    """When the oldest of these writes was made (epoch seconds, as the stream approximates it)."""
    times = [
        float(when) for record in records if (when := (record.get("dynamodb") or {}).get("ApproximateCreationDateTime"))
    ]
    return min(times, default=None)


def _relay_of(image: Mapping[str, Any] | None) -> dict[str, RelayedEvent]:
    if not image or "relay" not in image:
        return {}
    entries = _deserializer.deserialize(image["relay"])
    return {key: RelayedEvent.model_validate(entry) for key, entry in entries.items()}


class Relay:
    def __init__(self, publisher: EventPublisher, counters: Counters | None, store: MessageStore):
        """`publisher` without counters of its own: what a batch published is counted once, per reference."""
        self.publisher = publisher
        self.counters = counters
        self.store = store

    def relay(self, records: list[Mapping[str, Any]], deadline: float | None = None) -> str | None:
        """Publish the events of these stream records in order; the sequence number of the first record whose events
        did not all go out, or None when all went. `deadline` (`time.monotonic()`): until when a refused event whose
        giving up would publish others again is tried again, and after which no call is started; without it, a few
        quick attempts only."""
        waiting = [relayed for record in records for relayed in carried(record)]
        if not waiting:
            return None
        erased = erased_in(records)
        oldest = oldest_write(records)
        if oldest is not None and oldest < clock.now().timestamp() - BACKLOG_S:
            try:
                ids = sorted({relayed.item.removeprefix("MSG#") for relayed in waiting})
                erased |= {f"MSG#{message_id}" for message_id in self.store.erased_among(ids)}
            except DependencyFailed:
                logger.warning("could not read which messages were erased: the stream brings the batch back")
                return waiting[0].sequence_number
        if dropped := [relayed for relayed in waiting if relayed.item in erased]:
            logger.info("events of erased messages not published", extra={"events": len(dropped)})
            waiting = [relayed for relayed in waiting if relayed.item not in erased]
        published: list[Relayed] = []
        try:
            while waiting:
                out_before = {one.sequence_number for one in published}  # the stream records that events went out of
                if _late(deadline) and waiting[0].sequence_number not in out_before:
                    # Out of time: the rest comes back with the stream's retry from here, rather than with a retry
                    # of the whole batch after a timeout.
                    logger.warning("out of time: the stream brings the rest back", extra={"events": len(waiting)})
                    return waiting[0].sequence_number
                call = _next_call(waiting)
                left = self._publish(call, deadline, out_before)
                if left:
                    first = min(left)
                    retried = call[first].sequence_number  # where the stream's retry starts: all of it comes again
                    # Out and behind that record: counted now. Out of that record (an earlier call's) or after it:
                    # published again by the retry, and counted then.
                    ahead = [one for one in published if one.sequence_number == retried] + call[first:]
                    published = [one for one in published if one.sequence_number != retried] + call[:first]
                    logger.warning(
                        "events not published: the stream brings them back",
                        extra={"events": len(waiting) - first, "published_ahead": len(ahead) - len(left)},
                    )
                    return retried
                published.extend(call)
                del waiting[: len(call)]
        finally:
            if self.counters is not None and published:
                counted = [one.event for one in published if self._counts(one)]
                self.counters.count([(event.detail_type, event.detail) for event in counted], clock.iso(clock.now()))
        return None

    def _counts(self, relayed: Relayed) -> bool:
        return self.counters is not None and self.counters.in_scope(relayed.event.detail, broadcast=relayed.broadcast)

    def _publish(self, call: list[Relayed], deadline: float | None, out_before: set[str]) -> set[int]:
        """Publish one call's events, retrying those EventBridge did not take; the indexes of those that never went.
        `out_before`: the stream records whose events earlier calls published."""
        left = set(range(len(call)))
        attempt = 0
        while True:
            left = self.publisher.publish({index: call[index].event for index in sorted(left)})
            if not left:
                return left
            attempt += 1
            pause = min(BACKOFF_S * 2 ** (attempt - 1), MAX_BACKOFF_S)
            if attempt >= ATTEMPTS and not (_stranded(call, left, out_before) and _in_time(deadline, pause)):
                return left
            time.sleep(pause)


def _stranded(call: list[Relayed], left: set[int], out_before: set[str]) -> bool:
    """Whether giving up on the first event still refused (`left`, by index in `call`) would publish others again:
    the stream's retry starts at its record, so what went out of that record (in an earlier call: a write that left
    two events) or after it (later in this call) comes back."""
    first = min(left)
    return call[first].sequence_number in out_before or any(index not in left for index in range(first, len(call)))


def _in_time(deadline: float | None, pause: float) -> bool:
    return deadline is not None and time.monotonic() + pause < deadline


def _late(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _next_call(waiting: list[Relayed]) -> list[Relayed]:
    """The next PutEvents call: the events in order, up to ten, until a message would have a second one."""
    call: list[Relayed] = []
    items: set[str] = set()
    for relayed in waiting[:MAX_ENTRIES_PER_CALL]:
        if relayed.item in items:
            break
        items.add(relayed.item)
        call.append(relayed)
    return call
