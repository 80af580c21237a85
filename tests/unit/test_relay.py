"""The relay's reading of stream records and its order and failure rules (wab.relay), without AWS."""

import time
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from wab import clock
from wab import relay as relay_module
from wab.models.records import RelayedEvent
from wab.relay import Relay, carried
from wab.settings import SummaryScope
from wab.summary import Counters

serializer = TypeSerializer()


def image(message: str, relay: dict[str, Any] | None = None, **values: Any) -> dict[str, Any]:
    item = {"pk": f"MSG#{message}", **values}
    if relay is not None:
        item["relay"] = relay
    return {key: serializer.serialize(value) for key, value in item.items()}


def status(message: str, value: str, reference: str = "order-7") -> dict[str, Any]:
    detail = {"message_id": message, "status": value, "reference": reference}
    return {f"status:{value}": {"detail_type": "WhatsApp Message Status Changed", "detail": detail}}


def stream_record(sequence: int, new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    change = {"SequenceNumber": str(sequence), "Keys": {"pk": new["pk"]}, "NewImage": new}
    if old is not None:
        change["OldImage"] = old
    return {"eventName": "MODIFY" if old else "INSERT", "dynamodb": change}


class FakePublisher:
    def __init__(self, refuse: int = 0, refusing: dict[str, int] | None = None):
        self.calls: list[list[tuple[str, str]]] = []
        self.refuse = refuse  # calls whose first entry EventBridge does not take
        self.refusing = dict(refusing or {})  # message id: how many times EventBridge does not take its event

    def publish(self, events: dict[Any, RelayedEvent]) -> set[Any]:
        self.calls.append([(event.detail["message_id"], event.detail["status"]) for event in events.values()])
        if self.refuse:
            self.refuse -= 1
            return {next(iter(events))}
        refused = {key for key, event in events.items() if self.refusing.get(self._name(event), 0) > 0}
        for key in refused:
            self.refusing[self._name(events[key])] -= 1
        return refused

    def _name(self, event: RelayedEvent) -> str:
        """`message` to refuse every event of a message; `message:status` to refuse one."""
        whole, one = event.detail["message_id"], f"{event.detail['message_id']}:{event.detail['status']}"
        return one if one in self.refusing else whole

    @property
    def offered(self) -> list[tuple[str, str]]:
        """Every entry of every call, taken or refused."""
        return [entry for call in self.calls for entry in call]


class FakeCounters(Counters):
    def __init__(self, scope: SummaryScope = "all") -> None:
        super().__init__("messages", 180, scope)
        self.counted: list[tuple[str, dict[str, Any]]] = []

    def count(self, published: Any, at: str) -> None:
        self.counted.extend(published)


class FakeStore:
    def __init__(self, erased: set[str] = frozenset()):  # type: ignore[assignment]
        self.erased = erased
        self.asked: list[list[str]] = []

    def erased_among(self, message_ids: list[str]) -> set[str]:
        self.asked.append(message_ids)
        return self.erased & set(message_ids)


def relay_of(publisher: Any, counters: Any = None, store: Any = None) -> Relay:
    return Relay(publisher, counters, store or FakeStore())


@pytest.fixture(autouse=True)
def no_pause(monkeypatch):
    monkeypatch.setattr(relay_module, "BACKOFF_S", 0)


def test_a_stream_record_carries_the_events_its_write_added_and_no_others():
    sent = image("m1", status("m1", "sent"))
    delivered = image("m1", status("m1", "delivered"))
    assert [one.event.detail["status"] for one in carried(stream_record(1, sent))] == ["sent"]
    assert [one.event.detail["status"] for one in carried(stream_record(2, delivered, old=sent))] == ["delivered"]
    # A write that leaves the relay alone (an outbox settle) or empties it carries nothing.
    assert carried(stream_record(3, image("m1", status("m1", "delivered"), version=4), old=delivered)) == []
    assert carried(stream_record(4, image("m1"), old=delivered)) == []
    assert carried({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "5", "Keys": {}}}) == []


def test_events_go_out_in_write_order_with_one_event_of_a_message_per_call_and_are_counted_once():
    records = [stream_record(1, image("m1", status("m1", "sent")))]
    records += [stream_record(2, image("m1", status("m1", "delivered")), old=image("m1", status("m1", "sent")))]
    records += [stream_record(3 + n, image(f"x{n}", status(f"x{n}", "sent"))) for n in range(12)]
    publisher, counters = FakePublisher(), FakeCounters()

    assert relay_of(publisher, counters).relay(records) is None  # type: ignore[arg-type]

    assert publisher.calls[0] == [("m1", "sent")]  # the delivered of m1 waits for the next call
    assert publisher.calls[1][0] == ("m1", "delivered")
    assert all(len(call) <= 10 for call in publisher.calls)
    assert publisher.offered == [("m1", "sent"), ("m1", "delivered"), *[(f"x{n}", "sent") for n in range(12)]]
    assert len(counters.counted) == 14


def test_an_event_eventbridge_refuses_once_is_sent_again_alone_before_the_next_call():
    records = [stream_record(n, image(f"m{n}", status(f"m{n}", "sent"))) for n in range(1, 4)]
    publisher = FakePublisher(refuse=1)

    assert relay_of(publisher).relay(records) is None  # type: ignore[arg-type]

    assert publisher.calls == [[("m1", "sent"), ("m2", "sent"), ("m3", "sent")], [("m1", "sent")]]


def test_an_event_that_never_goes_out_stops_the_batch_at_its_record():
    first = stream_record(1, image("m1", status("m1", "sent")))
    second = stream_record(2, image("m1", status("m1", "delivered")), old=image("m1", status("m1", "sent")))
    publisher, counters = FakePublisher(refuse=relay_module.ATTEMPTS), FakeCounters()

    assert relay_of(publisher, counters).relay([first, second]) == "1"  # type: ignore[arg-type]

    assert publisher.offered == [("m1", "sent")] * relay_module.ATTEMPTS  # the delivered never went ahead of it
    assert counters.counted == []


def sent_by(*messages: str) -> list[dict[str, Any]]:
    return [stream_record(n, image(m, status(m, "sent"))) for n, m in enumerate(messages, start=1)]


def test_an_event_refused_while_later_ones_went_out_is_tried_again_while_there_is_time():
    publisher, counters = FakePublisher(refusing={"m1": relay_module.ATTEMPTS + 3}), FakeCounters()

    assert relay_of(publisher, counters).relay(sent_by("m1", "m2", "m3"), deadline=time.monotonic() + 60) is None

    assert publisher.offered.count(("m2", "sent")) == publisher.offered.count(("m3", "sent")) == 1  # never again
    assert publisher.offered.count(("m1", "sent")) == relay_module.ATTEMPTS + 4
    assert sorted(detail["message_id"] for _, detail in counters.counted) == ["m1", "m2", "m3"]


def test_without_time_left_it_stops_at_the_refused_event_counting_what_went_out_before_it():
    publisher, counters = FakePublisher(refusing={"m2": 100}), FakeCounters()

    assert relay_of(publisher, counters).relay(sent_by("m1", "m2", "m3"), deadline=None) == "2"

    assert publisher.offered.count(("m2", "sent")) == relay_module.ATTEMPTS
    # m1 went out and the stream's retry starts after it: counted now. m3 went out too, but comes back with the retry
    # (and is counted then): the one case left that publishes an event twice, logged as published ahead.
    assert [detail["message_id"] for _, detail in counters.counted] == ["m1"]


def test_a_refused_event_with_nothing_out_after_it_is_given_up_after_the_quick_attempts():
    publisher = FakePublisher(refusing={"m3": 100})

    assert relay_of(publisher).relay(sent_by("m1", "m2", "m3"), deadline=time.monotonic() + 60) == "3"

    assert publisher.offered.count(("m3", "sent")) == relay_module.ATTEMPTS  # no duplicate to avoid by waiting


def test_an_erased_message_s_events_are_not_published():
    sent = stream_record(1, image("m1", status("m1", "sent")))
    other = stream_record(2, image("m2", status("m2", "sent")))
    tombstone = {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "3", "Keys": {"pk": {"S": "MSG#m1"}}}}
    tombstone["dynamodb"]["NewImage"] = image("m1", erased_at=1)
    publisher, store = FakePublisher(), FakeStore()

    assert relay_of(publisher, store=store).relay([sent, other, tombstone]) is None  # type: ignore[list-item]

    assert publisher.offered == [("m2", "sent")]
    assert store.asked == []  # fresh writes: the batch itself shows what was erased


def test_a_batch_behind_the_stream_asks_the_table_which_of_its_messages_were_erased_since():
    written = clock.now().timestamp() - relay_module.BACKLOG_S - 5
    records = [stream_record(n, image(f"m{n}", status(f"m{n}", "sent"))) for n in (1, 2)]
    for record in records:
        record["dynamodb"]["ApproximateCreationDateTime"] = written
    publisher, store = FakePublisher(), FakeStore(erased={"m1"})

    assert relay_of(publisher, store=store).relay(records) is None

    assert store.asked == [["m1", "m2"]]
    assert publisher.offered == [("m2", "sent")]


def test_with_the_broadcasts_scope_only_the_events_of_a_broadcast_s_records_are_counted():
    records = [stream_record(1, image("single", status("single", "sent")))]
    records += [stream_record(2, image("recipient", status("recipient", "sent"), broadcast=True))]
    publisher, counters = FakePublisher(), FakeCounters(scope="broadcasts")

    assert relay_of(publisher, counters).relay(records) is None  # type: ignore[arg-type]

    assert publisher.offered == [("single", "sent"), ("recipient", "sent")]  # both published
    assert [detail["message_id"] for _, detail in counters.counted] == ["recipient"]


def two_events_of_one_write() -> list[dict[str, Any]]:
    """A write that left two events (a send's `Accepted` and another of its record), then another message's."""
    both = {**status("m1", "accepted"), **status("m1", "parked")}
    return [stream_record(1, image("m1", both)), stream_record(2, image("m2", status("m2", "sent")))]


def test_a_write_s_second_event_refused_is_tried_again_while_there_is_time_not_its_first_sent_again():
    publisher, counters = FakePublisher(refusing={"m1:parked": relay_module.ATTEMPTS + 2}), FakeCounters()

    records = two_events_of_one_write()[:1]  # nothing after the refused event in its call: only the write's first

    assert relay_of(publisher, counters).relay(records, deadline=time.monotonic() + 60) is None

    assert publisher.offered.count(("m1", "accepted")) == 1
    assert len(counters.counted) == 2


def test_a_write_given_up_half_published_is_counted_when_the_stream_brings_it_back():
    publisher, counters = FakePublisher(refusing={"m1:parked": 100}), FakeCounters()

    assert relay_of(publisher, counters).relay(two_events_of_one_write(), deadline=None) == "1"

    assert publisher.offered.count(("m1", "accepted")) == 1  # out, and out again with the retry of its record
    assert counters.counted == []  # counted once, with that retry


class Clock:
    """The relay's clock: each pause between attempts takes a second."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds + 1.0


def test_once_its_time_is_spent_the_relay_starts_no_more_calls_and_the_stream_brings_the_rest_back(monkeypatch):
    monkeypatch.setattr(relay_module, "time", Clock())
    messages = [f"m{n}" for n in range(1, 13)]
    publisher = FakePublisher(refusing={"m1": relay_module.ATTEMPTS})  # taken at the attempt after, 3 s in
    counters = FakeCounters()

    assert relay_of(publisher, counters).relay(sent_by(*messages), deadline=3.0) == "11"

    assert publisher.offered.count(("m11", "sent")) == 0  # never started: no timeout, no retry of the whole batch
    assert [detail["message_id"] for _, detail in counters.counted] == messages[:10]
