"""The send lanes: two SQS FIFO queues between the intake and the sender, one for transactional traffic (priority) and
one for bulk, each message in a group that keeps what must stay in order in order.

- A single send, and an erasure, go in the group of their contact: one contact's messages reach the provider in the
  order they were requested, a retried one holding back those behind it, while other contacts go on.
- A broadcast chunk and a media upload are groups of their own: nothing has to wait for them.
- The deduplication id is the request's delivery (and chunk): SQS drops a redelivered request within five minutes,
  never a new request that happens to look the same.

A message on a lane is the command with where it came from (`LaneMessage`), as the intake checked it.
"""

import hashlib
from typing import Any, Literal, NamedTuple

from pydantic import ValidationError

from wab import aws, jsoncodec
from wab.errors import InvalidCommand, InvalidPayload
from wab.models.commands import (
    AnyCommand,
    BroadcastCommand,
    EraseContactCommand,
    MessageCommand,
    SendCommand,
    validate_command,
)
from wab.models.types import StrictModel, canonical_number, contact_hash
from wab.models.validation import describe
from wab.queues import SQS_BATCH_BYTES, SQS_BATCH_ENTRIES

Lane = Literal["priority", "bulk"]


class LaneMessage(StrictModel):
    command: dict[str, Any]  # the command's wire form
    delivery_id: str  # the bus event's id, or the id of the message sent straight to the send queue
    requested_by: str  # the bus event's source, or "queue"
    requested_at_ms: int  # when the request reached the gateway: its retry window starts here


class Request(NamedTuple):
    """A command on a lane, with where it came from."""

    command: AnyCommand
    delivery_id: str
    requested_by: str
    requested_at_ms: int


class Entry(NamedTuple):
    lane: Lane
    body: str
    group: str
    deduplication: str


def lane_for(command: AnyCommand | MessageCommand) -> Lane:
    """`priority: high` and `bulk` decide; otherwise broadcasts are bulk and everything else transactional."""
    priority = command.priority if isinstance(command, MessageCommand) else None
    if priority is not None:
        return "priority" if priority == "high" else "bulk"
    return "bulk" if isinstance(command, BroadcastCommand) else "priority"


def entry(request: Request, lane: Lane, *, part: str = "") -> Entry:
    command = request.command
    if isinstance(command, SendCommand):
        group = contact_hash(command.destination)
    elif isinstance(command, EraseContactCommand):
        group = contact_hash(canonical_number(command.contact))
    else:
        group = _digest(f"{command.command}:{request.delivery_id}#{part}")
    message = LaneMessage(
        command=command.wire(),
        delivery_id=request.delivery_id,
        requested_by=request.requested_by,
        requested_at_ms=request.requested_at_ms,
    )
    return Entry(lane, jsoncodec.encode(message.model_dump()), group, _digest(f"{request.delivery_id}#{part}"))


def read(body: str) -> Request:
    """The request in a lane message; InvalidCommand when it is not one (the intake checked it, so it never is)."""
    try:
        message = LaneMessage.model_validate(jsoncodec.decode(body, what="lane message"))
        command = validate_command(message.command)
    except InvalidPayload as exc:
        raise InvalidCommand(exc.message) from None
    except ValidationError as exc:
        raise InvalidCommand(describe(exc, whole="lane message")) from None
    return Request(command, message.delivery_id, message.requested_by, message.requested_at_ms)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class LaneQueues:
    def __init__(self, urls: dict[Lane, str]):
        self.urls = urls

    def put(self, entries: list[Entry]) -> int | None:
        """Send the entries in order, ten per call; the index of the first that did not go (None when all went).

        What follows a failed entry may have gone too; the intake sends it again, and the deduplication id drops
        the copy.
        """
        start = 0
        while start < len(entries):
            batch = _next_batch(entries, start)
            lane = entries[start].lane
            request = [
                {
                    "Id": str(index),
                    "MessageBody": e.body,
                    "MessageGroupId": e.group,
                    "MessageDeduplicationId": e.deduplication,
                }
                for index, e in enumerate(batch)
            ]
            with aws.dependency("SQS SendMessageBatch"):
                answer = aws.client("sqs").send_message_batch(QueueUrl=self.urls[lane], Entries=request)
            failed = sorted(int(item["Id"]) for item in answer.get("Failed", []))
            if failed:
                return start + failed[0]
            start += len(batch)
        return None


def _next_batch(entries: list[Entry], start: int) -> list[Entry]:
    """The longest run from `start` that one SendMessageBatch takes: one lane, ten entries, 256 KiB."""
    batch: list[Entry] = []
    size = 0
    for item in entries[start:]:
        length = len(item.body.encode())
        if batch and (item.lane != batch[0].lane or len(batch) == SQS_BATCH_ENTRIES or size + length > SQS_BATCH_BYTES):
            break
        batch.append(item)
        size += length
    return batch
