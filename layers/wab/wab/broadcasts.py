"""Broadcasts: split into chunk commands that each send once, and the provider's per-recipient answers matched up."""

import re
from typing import TYPE_CHECKING

from wab.errors import UNREADABLE_ANSWER
from wab.models.commands import BroadcastCommand, part_of
from wab.models.types import PROVIDER_ID_PATTERN, canonical_number
from wab.outcomes import Accepted, Failure

if TYPE_CHECKING:  # the intake splits broadcasts and calls no provider: it should not import the provider's client
    from wab.provider import BroadcastAnswer

_USABLE_ID = re.compile(PROVIDER_ID_PATTERN)
UNREADABLE_MESSAGE = "the provider accepted the message but its answer names no usable message id"


def split_broadcast(command: BroadcastCommand, chunk_size: int) -> list[BroadcastCommand]:
    """Chunk commands of at most `chunk_size` recipients, each the parent's `part` by its place, so a re-split parent
    (redelivered, repeated) yields the same chunks and each chunk still sends once. A broadcast that fits one chunk
    stays as it is."""
    if len(command.destination) <= chunk_size:
        return [command]
    groups = [
        command.destination[start : start + chunk_size] for start in range(0, len(command.destination), chunk_size)
    ]
    return [
        command.model_copy(update={"destination": group, **part_of(command, f"#chunk-{number}-of-{len(groups)}")})
        for number, group in enumerate(groups, start=1)
    ]


def match_broadcast_answers(
    recipients: list[str], answers: "list[BroadcastAnswer]"
) -> tuple[list[Accepted], list[Failure]]:
    """Pair the provider's per-recipient answers with the recipients; one it did not accept is a failure, and so is
    one accepted under an id that cannot key its record (reported, not retried: the message may be on its way)."""
    by_destination = {canonical_number(answer.destination): answer for answer in answers}
    accepted, failures = [], []
    for destination in recipients:
        answer = by_destination.get(destination)
        if answer and answer.id and (answer.status or "accepted") == "accepted":
            if _USABLE_ID.match(answer.id):
                accepted.append(Accepted(message_id=answer.id, destination=destination))
            else:
                failures.append(Failure(destination=destination, code=UNREADABLE_ANSWER, message=UNREADABLE_MESSAGE))
        else:
            status = answer.status if answer else "missing from the answer"
            failures.append(Failure(destination=destination, code="not_accepted", message=f"provider status: {status}"))
    return accepted, failures
