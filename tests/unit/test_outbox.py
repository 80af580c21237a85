"""The outbox protocol with an in-memory store: leases, takeovers, conflicts."""

from datetime import UTC, datetime
from unittest.mock import patch

import pytest
from wab.errors import DependencyFailed, InProgress
from wab.models.events.inbound import MessageReceived
from wab.models.events.status import MessageStatusChanged
from wab.models.records import MessageRecord, StatusEntry
from wab.outbox import Change, commit, deliver
from wab.store import VersionConflict


class MemoryStore:
    def __init__(self):
        self.records: dict[str, MessageRecord] = {}
        self.conflicts_to_inject = 0

    def get(self, message_id):
        record = self.records.get(message_id)
        return record.model_copy(deep=True) if record else None

    def save(self, record, expected_version):
        stored = self.records.get(record.id)
        if self.conflicts_to_inject:
            self.conflicts_to_inject -= 1
            raise VersionConflict(self.get(record.id))
        if (stored.version if stored else None) != expected_version:
            raise VersionConflict(self.get(record.id))
        self.records[record.id] = record.model_copy(deep=True)

    def settle_outbox(self, message_id, keys, *, published):
        record = self.records[message_id]
        for key in keys:
            if published:
                record.outbox.pop(key, None)
            elif key in record.outbox:
                record.outbox[key].lease_until = 0
        record.version += 1


class Publisher:
    def __init__(self, fail=False):
        self.fail = fail
        self.published = []

    def publish(self, events):
        if self.fail:
            return set(events)
        self.published.extend(key for _, key in events)
        self.details = {
            key: event.as_dict() if hasattr(event, "as_dict") else event.detail for key, event in events.items()
        }
        return set()


def commit_at(now_ms, *args, **kwargs):
    """`commit` at a given moment (epoch ms)."""
    with patch("wab.outbox.clock.now", return_value=datetime.fromtimestamp(now_ms / 1000, UTC)):
        return commit(*args, **kwargs)


def mark_sent(current):
    record = current or MessageRecord(id="m1", direction="MT", created_at="t", updated_at="t")
    if record.status == "sent":
        return None
    record.status = "sent"
    event = MessageStatusChanged(message_id="m1", status="sent", previous_status="accepted", occurred_at="t")
    return Change(record=record, events={"status:sent": event})


def test_commit_then_deliver_publishes_once_and_clears_the_outbox():
    store, publisher = MemoryStore(), Publisher()
    pending = commit_at(1000, store, "m1", mark_sent, own_key="status:sent", lease_until=5000)
    deliver(store, publisher, [pending])
    assert publisher.published == ["status:sent"]
    assert store.records["m1"].outbox == {}
    assert commit_at(2000, store, "m1", mark_sent, own_key="status:sent", lease_until=6000) is None


def test_a_failed_publish_releases_the_lease_and_the_retry_takes_over():
    store = MemoryStore()
    pending = commit_at(1000, store, "m1", mark_sent, own_key="status:sent", lease_until=5000)
    with pytest.raises(DependencyFailed):
        deliver(store, Publisher(fail=True), [pending])
    assert store.records["m1"].outbox["status:sent"].lease_until == 0

    publisher = Publisher()
    retry = commit_at(1500, store, "m1", mark_sent, own_key="status:sent", lease_until=7000)
    assert retry.keys == ["status:sent"]
    deliver(store, publisher, [retry])
    assert publisher.published == ["status:sent"]


def test_a_crashed_invocation_is_taken_over_only_after_its_lease():
    store = MemoryStore()
    commit_at(1000, store, "m1", mark_sent, own_key="status:sent", lease_until=5000)  # then it dies
    with pytest.raises(InProgress):
        commit_at(4999, store, "m1", mark_sent, own_key="status:sent", lease_until=9000)
    taken = commit_at(5001, store, "m1", mark_sent, own_key="status:sent", lease_until=9000)
    assert taken.keys == ["status:sent"]
    assert store.records["m1"].outbox["status:sent"].lease_until == 9000


def test_another_event_also_finishes_an_abandoned_one():
    store = MemoryStore()
    commit_at(1000, store, "m1", mark_sent, own_key="status:sent", lease_until=2000)

    def mark_received(current):
        current.status = "received"
        event = MessageStatusChanged(message_id="m1", status="received", previous_status="sent", occurred_at="t")
        return Change(record=current, events={"status:received": event})

    pending = commit_at(3000, store, "m1", mark_received, own_key="status:received", lease_until=9000)
    assert pending.keys == ["status:sent", "status:received"]


def test_version_conflicts_are_retried_from_the_stored_state():
    store = MemoryStore()
    store.conflicts_to_inject = 2
    pending = commit_at(1000, store, "m1", mark_sent, own_key="status:sent", lease_until=5000, expect_new=True)
    assert pending.record.version == 1
    assert store.records["m1"].status == "sent"


def test_endless_conflicts_end_in_a_retryable_error_after_waits_that_grow(monkeypatch):
    from wab import outbox

    bounds: list[float] = []
    monkeypatch.setattr(outbox.random, "uniform", lambda low, high: bounds.append(high) or 0.0)
    store = MemoryStore()
    store.conflicts_to_inject = 100
    with pytest.raises(InProgress):
        commit_at(1000, store, "m1", mark_sent, own_key="status:sent", lease_until=5000)
    # the first retry at once (one other writer is the usual case), then jittered waits, doubling
    assert bounds == [0.01, 0.02, 0.04, 0.08, 0.16]


def receive(current):
    if current is not None:
        return None
    record = MessageRecord(
        id="mo1",
        direction="MO",
        source="+64211234567",
        destination="+6491234567",
        type="text",
        text="hello",
        content={"type": "text", "text": {"body": "hello"}},
        status_history=[StatusEntry(status="received", at="t0")],
        created_at="t0",
        updated_at="t0",
    )
    return Change(record=record, events={"received": MessageReceived.of(record)})


def test_an_event_that_restates_its_record_is_stored_without_a_copy_and_goes_out_as_the_record_stands():
    store, publisher = MemoryStore(), Publisher()
    commit_at(1000, store, "mo1", receive, own_key="received", lease_until=2000)  # then it dies
    assert store.records["mo1"].outbox["received"].detail is None
    store.records["mo1"].text = "edited"  # changed before the event went out (as an edit arriving first does)

    taken = commit_at(3000, store, "mo1", receive, own_key="received", lease_until=9000)
    deliver(store, publisher, [taken])

    assert publisher.details[("mo1", "received")]["text"] == "edited"
    assert publisher.details[("mo1", "received")]["content"] == {"type": "text", "text": {"body": "hello"}}
    assert store.records["mo1"].outbox == {}


def test_an_event_that_does_not_restate_its_record_is_stored_whole():
    def receive_otherwise(current):
        change = receive(current)
        change.events["received"] = MessageReceived.of(change.record).model_copy(update={"text": "other"})
        return change

    store = MemoryStore()
    commit_at(1000, store, "mo1", receive_otherwise, own_key="received", lease_until=2000)
    assert store.records["mo1"].outbox["received"].detail["text"] == "other"
