"""The bench's index-write count (bench/indexwrites.py): how it prices a write, and a small broadcast through the
handlers. Counts only, never times."""

from typing import Any

from bench import indexwrites
from bench.awscalls import write_units

KEYS = {"pk": {"S": "MSG#m1"}, "contact_key": {"S": "+64211234567"}, "created_at": {"S": "2026-11-30T10:00:00Z"}}


def record(reference_key: str = "spring#3", **more: Any) -> dict[str, Any]:
    return {**KEYS, "reference": {"S": "spring"}, "reference_key": {"S": reference_key}, **more}


def priced(old: Any, new: Any, projection: str) -> list[tuple[str, str, int]]:
    return indexwrites.index_writes(old, new, projection)


def test_a_new_record_is_one_write_in_each_index() -> None:
    assert priced(None, record(), "KEYS_ONLY") == [("by-reference", "spring#3", 1), ("by-contact", "+64211234567", 1)]


def test_a_rewrite_that_keeps_the_keys_writes_only_an_index_that_holds_more_than_keys() -> None:
    old, new = record(status={"S": "sent"}), record(status={"S": "read"})

    assert priced(old, new, "KEYS_ONLY") == []
    assert [index for index, _, _ in priced(old, new, "ALL")] == ["by-reference", "by-contact"]
    assert priced(old, old, "ALL") == []


def test_a_changed_key_deletes_one_entry_and_puts_another() -> None:
    writes = priced(record("spring"), record("spring#3"), "KEYS_ONLY")

    assert writes == [("by-reference", "spring", 1), ("by-reference", "spring#3", 1)]


def test_a_record_without_a_reference_or_a_deleted_one() -> None:
    bare = {key: value for key, value in record().items() if key not in ("reference", "reference_key")}

    assert priced(None, bare, "KEYS_ONLY") == [("by-contact", "+64211234567", 1)]
    assert priced(record(), None, "KEYS_ONLY") == [("by-reference", "spring#3", 1), ("by-contact", "+64211234567", 1)]


def test_the_request_pricing_counts_index_writes_as_keys_only() -> None:
    assert write_units(None, record()) == (3, 2)
    assert write_units(record(status={"S": "sent"}), record(status={"S": "read"})) == (1, 0)


def test_a_broadcast_through_the_handlers_writes_each_index_once_a_message() -> None:
    counts = indexwrites.run("smoke")

    recipients = counts["recipients"]
    assert recipients == indexwrites.RECIPIENTS["smoke"]
    before, now = counts["layouts"]["before"], counts["layouts"]["now"]
    # One write a message in each index, whatever the DLRs and outbox settles do afterwards.
    assert now["by-reference"]["writes_per_message"] == now["by-contact"]["writes_per_message"] == 1.0
    assert 1 < now["by-reference"]["keys"] <= counts["shards"]
    assert now["by-contact"]["keys"] == recipients
    # The same writes under the old indexes: every record write rewrote both, all under one reference key.
    assert counts["table_writes_per_message"] > 1
    assert before["by-reference"]["writes_per_message"] == counts["table_writes_per_message"]
    assert (before["by-reference"]["keys"], before["by-reference"]["busiest_key_share"]) == (1, 1.0)
    busiest = now["by-reference"]
    assert busiest["busiest_key_writes_per_s"] == busiest["busiest_key_writes"] / recipients * counts["send_rate"]

    section = indexwrites.section(counts)
    assert section.startswith("## 3b. Index writes of a broadcast")
    assert f"{counts['shards']} keys per reference" in section
