"""Broadcast chunking: chunk commands with deterministic keys, SQS batches within limits, answers matched to
recipients.
"""

import json

from wab.broadcasts import match_broadcast_answers, split_broadcast
from wab.models.commands import BroadcastCommand, idempotency_key, parse_command, validate_command
from wab.outcomes import Accepted, Failure
from wab.provider import BroadcastAnswer


def broadcast(count: int, **extra: object) -> BroadcastCommand:
    body = {
        "destination": [f"+6421{n:07d}" for n in range(1, count + 1)],
        "type": "template",
        "template": {"name": "spring_sale", "language": {"code": "en"}},
        **extra,
    }
    command = parse_command(json.dumps(body))
    assert isinstance(command, BroadcastCommand)
    return command


def test_chunks_cover_every_recipient_once_in_order():
    command = broadcast(7, reference="promo")

    chunks = split_broadcast(command, 3)

    assert [chunk.destination for chunk in chunks] == [
        command.destination[0:3],
        command.destination[3:6],
        command.destination[6:7],
    ]
    assert all(chunk.message == command.message and chunk.reference == "promo" for chunk in chunks)


def test_chunk_keys_derive_from_the_parent_key_and_the_chunk_place_and_events_name_the_caller_s():
    chunks = split_broadcast(broadcast(3, idempotency_key="launch"), 2)
    assert [idempotency_key(chunk, delivery_id="e") for chunk in chunks] == [
        "broadcast:launch#chunk-1-of-2",
        "broadcast:launch#chunk-2-of-2",
    ]
    assert [chunk.idempotency_key for chunk in chunks] == ["launch", "launch"]  # what its events say
    # Without a key, the request's delivery identifies it: a reference is only a correlation id.
    chunks = split_broadcast(broadcast(3, reference="promo"), 2)
    assert [idempotency_key(chunk, delivery_id="e-7") for chunk in chunks] == [
        "broadcast:delivery:e-7#chunk-1-of-2",
        "broadcast:delivery:e-7#chunk-2-of-2",
    ]
    assert [chunk.idempotency_key for chunk in chunks] == [None, None]


def test_a_chunk_moved_back_from_the_dead_letter_queue_is_done_under_its_own_key_again():
    [chunk, _] = split_broadcast(broadcast(3, idempotency_key="launch"), 2)

    redriven = parse_command(json.dumps(chunk.wire()))  # as `wab dlq redrive` puts it on the send queue

    assert idempotency_key(redriven, delivery_id="another") == idempotency_key(chunk, delivery_id="e")
    assert redriven.idempotency_key == "launch"


def test_splitting_again_gives_the_same_chunks_and_keys():
    command = broadcast(25)

    first, again = split_broadcast(command, 10), split_broadcast(command, 10)

    assert [chunk.wire() for chunk in first] == [chunk.wire() for chunk in again]
    assert len({idempotency_key(chunk, delivery_id="e") for chunk in first}) == 3


def test_a_broadcast_that_fits_one_chunk_stays_as_it_is():
    command = broadcast(3, reference="promo")
    assert split_broadcast(command, 3) == [command]


def test_a_chunk_travels_as_a_broadcast_command_that_parses_back_to_itself():
    [chunk, _] = split_broadcast(broadcast(4, reference="promo"), 2)

    assert validate_command(json.loads(json.dumps(chunk.wire()))) == chunk


def test_broadcast_answers_are_matched_to_recipients():
    recipients = ["+64210000001", "+64210000002", "+64210000003"]
    answers = [
        BroadcastAnswer(destination="64210000002", id="id-2", status="accepted"),  # spelt without the plus
        BroadcastAnswer(destination="+64210000001", id="id-1", status="accepted"),
    ]

    accepted, failures = match_broadcast_answers(recipients, answers)

    assert accepted == [
        Accepted(message_id="id-1", destination="+64210000001"),
        Accepted(message_id="id-2", destination="+64210000002"),
    ]
    assert failures == [
        Failure(destination="+64210000003", code="not_accepted", message="provider status: missing from the answer")
    ]


def test_a_recipient_the_provider_did_not_accept_is_a_failure():
    accepted, failures = match_broadcast_answers(
        ["+64210000001"], [BroadcastAnswer(destination="+64210000001", status="rejected")]
    )

    assert accepted == []
    assert failures == [Failure(destination="+64210000001", code="not_accepted", message="provider status: rejected")]


def test_a_recipient_accepted_under_an_id_that_cannot_key_a_record_is_a_failure_not_an_acceptance():
    accepted, failures = match_broadcast_answers(
        ["+64210000001", "+64210000002"],
        [
            BroadcastAnswer(destination="+64210000001", id="B" * 3000, status="accepted"),
            BroadcastAnswer(destination="+64210000002", id="id-2", status="accepted"),
        ],
    )

    assert accepted == [Accepted(message_id="id-2", destination="+64210000002")]
    assert [(failure.destination, failure.code) for failure in failures] == [
        ("+64210000001", "unreadable_provider_answer")
    ]


def test_the_chunks_of_a_broadcast_with_the_longest_key_have_keys_a_command_may_have():
    chunks = split_broadcast(broadcast(3, idempotency_key="k" * 512), 2)

    keys = [idempotency_key(chunk, delivery_id="e") for chunk in chunks]
    assert len(set(keys)) == 2 and all(len(key.removeprefix("broadcast:")) <= 512 for key in keys)
    read = [validate_command(json.loads(json.dumps(chunk.wire()))) for chunk in chunks]  # as a lane reads them
    assert [idempotency_key(chunk, delivery_id="e") for chunk in read] == keys
