"""What each published event adds to its campaign's counters."""

import pytest
from wab.summary import SHARDS, increments, shard_of, summarise

CHANGED = "WhatsApp Message Status Changed"


def moved(previous: str, status: str, reference: str | None = "promo") -> dict:
    return {"message_id": "m-1", "previous_status": previous, "status": status, "reference": reference}


@pytest.mark.parametrize(
    "previous, status, counted",
    [
        ("accepted", "sent", {"sent": 1}),
        ("sent", "received", {"received": 1}),
        ("received", "read", {"read": 1}),
        ("accepted", "read", {"sent": 1, "received": 1, "read": 1}),  # read overtook both reports
        ("sent", "read", {"received": 1, "read": 1}),
        ("sent", "rejected", {"rejected": 1}),
        ("accepted", "expired", {"expired": 1}),
    ],
)
def test_a_status_move_counts_every_status_it_reached(previous, status, counted):
    [reference, _, counts] = increments(CHANGED, moved(previous, status))
    assert (reference, dict(counts)) == ("promo", counted)


def test_events_without_a_reference_and_repeats_count_nothing():
    assert increments(CHANGED, moved("accepted", "sent", reference=None)) is None
    accepted = {"message_id": "m-1", "reference": "promo", "destination": "+64211234567"}
    assert increments("WhatsApp Message Accepted", {**accepted, "repeat": True}) is None
    assert dict(increments("WhatsApp Message Accepted", accepted)[2]) == {"accepted": 1}
    assert increments("WhatsApp Message Received", {"reference": "promo"}) is None


def test_a_whole_broadcasts_failure_counts_its_recipients():
    failed = {"reference": "promo", "recipients": 250, "error": {"code": "template_not_found", "message": "x"}}
    assert dict(increments("WhatsApp Message Failed", failed)[2]) == {"failed_template_not_found": 250}


def test_a_message_the_provider_took_but_the_gateway_could_not_record_is_not_counted_failed():
    """Its dead letter's redrive records it and publishes its `Accepted`, which counts it: counting the failure too
    would make one message both accepted and failed."""
    failed = {"reference": "promo", "destination": "+64211234567"}
    unrecorded = {**failed, "error": {"code": "accepted_unrecorded", "message": "accepted as m-1"}}
    crashed = {**failed, "error": {"code": "unprocessable", "message": "failed repeatedly"}}
    assert increments("WhatsApp Message Failed", unrecorded) is None
    assert dict(increments("WhatsApp Message Failed", crashed)[2]) == {"failed_unprocessable": 1}


def test_shards_spread_a_reference_over_every_shard():
    assert {shard_of(f"m-{n}") for n in range(2000)} == set(range(SHARDS))


def test_shards_add_up_with_the_earliest_first_and_latest_last():
    items = [
        {"accepted": {"N": "3"}, "failed_opted_out": {"N": "1"}, "first_at": {"S": "b"}, "last_at": {"S": "c"}},
        {"accepted": {"N": "1"}, "received": {"N": "2"}, "first_at": {"S": "a"}, "last_at": {"S": "d"}},
        {"expires_at": {"N": "1800000000"}},
    ]
    summary = summarise("promo", items)
    assert (summary.accepted, summary.received, summary.failed, summary.opted_out) == (4, 2, {"opted_out": 1}, 1)
    assert (summary.first_at, summary.last_at, summary.delivery_rate) == ("a", "d", 0.5)
