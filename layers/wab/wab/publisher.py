"""EventBridge adapter: the one way the gateway publishes (PutEvents, ten entries a call, source `wab.gateway`).

What a caller does when an event does not go out (its failure policy):
- the relay (`wab.relay`): the stream record whose event did not go out, and every later one, comes back (Lambda
  retries a stream from the record a function reports), so each is published once and in order;
- the outbox (`wab.outbox.deliver`): the event stays in its record's outbox, its lease released, and the caller fails
  (a callback answers 503, the sender retries), so the retry publishes it;
- the sender before anything was accepted (`publish_all`): the command fails as a whole and is retried from the start;
- the sender after the provider accepted (`publish`): the events that did not go out are kept in the command's stored
  outcome and published when the outcome is completed, so the provider is never called twice for them.
"""

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from wab import aws, clock, jsoncodec
from wab.errors import DependencyFailed
from wab.models.events import SOURCE, EventDetail
from wab.models.records import PendingEvent, RelayedEvent
from wab.observability import logger

if TYPE_CHECKING:
    from wab.summary import Counters

MAX_ENTRIES_PER_CALL = 10  # PutEvents' limit
Key = TypeVar("Key", bound=Hashable)
Publishable = EventDetail | PendingEvent | RelayedEvent  # an event, or one kept in a record (outbox or relay)


class EventPublisher:
    def __init__(self, bus_name: str, counters: "Counters | None" = None):
        """`counters`: the campaign summaries (`wab.summary`), told of every event that went out."""
        self.bus_name = bus_name
        self.counters = counters

    def publish(self, events: Mapping[Key, Publishable]) -> set[Key]:
        """Publish every event; return the keys of those that did not go out (empty when all went)."""
        keys = list(events)
        failed: set[Key] = set()
        for start in range(0, len(keys), MAX_ENTRIES_PER_CALL):
            chunk = keys[start : start + MAX_ENTRIES_PER_CALL]
            entries = [self._entry(events[key]) for key in chunk]
            try:
                response = aws.client("events").put_events(Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("PutEvents failed", extra={"error": type(exc).__name__, "events": len(chunk)})
                failed.update(chunk)
                continue
            if response.get("FailedEntryCount"):
                for key, result in zip(chunk, response["Entries"], strict=True):
                    if result.get("ErrorCode"):
                        logger.warning("event not published", extra={"error": result["ErrorCode"]})
                        failed.add(key)
        if self.counters is not None:
            # A broadcast's messages are never in an outbox (their events go out from the table's stream): of what is
            # published here, only a broadcast's failures are its.
            published = [(events[key].detail_type, _detail(events[key])) for key in keys if key not in failed]
            counted = [(detail_type, detail) for detail_type, detail in published if self.counters.in_scope(detail)]
            self.counters.count(counted, clock.iso(clock.now()))
        return failed

    def publish_all(self, events: Sequence[EventDetail]) -> None:
        """Publish every event, or raise DependencyFailed when any did not go out."""
        failed = self.publish(dict(enumerate(events)))
        if failed:
            raise DependencyFailed(f"EventBridge did not take {len(failed)} of {len(events)} events")

    def _entry(self, event: Publishable) -> dict[str, Any]:
        return {
            "Source": SOURCE,
            "DetailType": event.detail_type,
            "Detail": jsoncodec.encode(_detail(event)),
            "EventBusName": self.bus_name,
        }


def _detail(event: Publishable) -> dict[str, Any]:
    if isinstance(event, EventDetail):
        return event.as_dict()
    if event.detail is None:
        raise TypeError("an outbox entry that restates its record goes out as the event built from it (wab.outbox)")
    return event.detail
