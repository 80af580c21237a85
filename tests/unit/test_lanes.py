"""The send lanes: which lane a command takes, which message group keeps it in order, what SQS deduplicates."""

import json

import pytest
from wab.lanes import Entry, Request, _next_batch, entry, lane_for, read
from wab.models.commands import parse_command
from wab.models.types import contact_hash

CUSTOMER = "+64211234567"


def command(**fields):
    body = {"destination": CUSTOMER, "type": "text", "text": {"body": "hi"}, **fields}
    return parse_command(json.dumps(body))


def request(parsed, delivery_id="event-1"):
    return Request(parsed, delivery_id, "shop.orders", 1_795_600_000_000)


@pytest.mark.parametrize(
    "fields, lane",
    [
        ({}, "priority"),
        ({"priority": "bulk"}, "bulk"),
        ({"destination": [CUSTOMER, "+64211234568"]}, "bulk"),
        ({"destination": [CUSTOMER], "priority": "high"}, "priority"),
    ],
)
def test_single_sends_are_transactional_broadcasts_bulk_unless_the_command_says(fields, lane):
    assert lane_for(command(**fields)) == lane


def test_one_contacts_sends_share_a_group_and_each_request_has_its_own_deduplication_id():
    first, second = entry(request(command(), "e-1"), "priority"), entry(request(command(), "e-2"), "priority")

    assert first.group == second.group == contact_hash(CUSTOMER)
    assert first.deduplication != second.deduplication  # two requests alike are two sends
    assert entry(request(command(), "e-1"), "priority").deduplication == first.deduplication  # a redelivery is not


def test_the_group_names_the_contact_only_by_its_hash():
    item = entry(request(command()), "priority")
    assert CUSTOMER.lstrip("+") not in item.group


def test_a_lane_message_reads_back_as_the_request_it_was_made_from():
    original = request(command(reference="order-1", priority="high"))
    assert read(entry(original, "priority").body) == original


def test_a_batch_stops_at_ten_entries_a_change_of_lane_and_the_size_limit():
    def item(lane, size=10):
        return Entry(lane, "x" * size, "g", "d")

    entries = [item("priority")] * 12 + [item("bulk")] * 2
    assert len(_next_batch(entries, 0)) == 10
    assert len(_next_batch(entries, 10)) == 2
    assert len(_next_batch(entries, 12)) == 2
    assert len(_next_batch([item("bulk", 200 * 1024), item("bulk", 100 * 1024)], 0)) == 1
