"""moto's SQS made to keep a FIFO message group's order, and every message, the way SQS does.

A contact's messages are one message group on the send lanes; the gateway's order rests on SQS never handing out a
message while an earlier one of its group is in flight. moto 5.2.5 breaks that, and worse, when its server handles
requests on several threads, as the local stack's does (seen in bench/report.md, section 8d, and traced call by call):
- A receive decides which groups are in flight at one moment and which messages are visible at another, later one.
  A group's first message whose visibility timeout ends in between is neither handed out (not visible yet) nor
  counted as in flight (visible by then), and the group's next message is handed out before it.
- A message whose visibility timeout has lapsed still counts as in flight until a receive passes it: when a crashed
  invocation's whole batch comes back, a receive skips the group's first message and hands out a later one.
- A receive lists the queue while other threads change the list, and a delete rebuilds the list while a send appends
  to it: a message can be skipped by a receive, or lost, or come back after its delete.

`install()` patches moto in this process: every change to a queue's messages, and every FIFO receive, holds one lock;
a FIFO receive decides visibility and groups in flight at a single instant, and takes a group's messages in the order
they were sent. The local stack runs moto's server with it (`python -m local.moto_sqs`); the integration tests install
it in-process. tests/emulator/test_moto_sqs.py has a test for each fix that fails without it.
"""

from __future__ import annotations

import copy
import functools
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.core.utils import unix_time_millis
from moto.sqs import models
from moto.sqs.models import Message, Queue, SQSBackend

from local import moto_dynamodb

LOCK = threading.RLock()
POLL_SECONDS = 0.2  # a long-polling FIFO receive looks again this often, without the lock held
_installed: list[bool] = []


def _messages(self: Queue) -> list[Message]:
    # list() copies the list in one step under the interpreter lock; only the copy is filtered.
    return [message for message in list(self._messages) if message.visible and not message.delayed]


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return method(*args, **kwargs)

    return locked


def _receive_fifo(
    backend: SQSBackend,
    queue_name: str,
    queue: Queue,
    count: int,
    visibility_timeout: int,
    attribute_names: list[str],
) -> list[Message]:
    """One look at a FIFO queue, at one instant: the visible messages of the groups with nothing in flight, each
    group's in the order sent (as SQS answers ReceiveMessage)."""
    now = unix_time_millis()
    for message in list(queue.pending_messages):
        if now > message.visible_at:  # its visibility timeout has ended: no longer in flight
            queue.pending_messages.discard(message)
    in_flight = {message.group_id for message in queue.pending_messages}
    result: list[Message] = []
    to_dead_letters: list[Message] = []
    for message in list(queue._messages):
        if message.group_id in in_flight or not now > message.visible_at or now < message.delayed_until:
            if message.group_id is not None:
                in_flight.add(message.group_id)  # nothing after a message that cannot go now may go before it
            continue
        policy = queue.redrive_policy
        if (
            queue.dead_letter_queue is not None
            and policy
            and message.approximate_receive_count >= policy["maxReceiveCount"]
        ):
            to_dead_letters.append(message)
            continue
        if not backend.is_message_valid_based_on_retention_period(queue_name, message):
            continue
        queue.pending_messages.add(message)
        message.mark_received(visibility_timeout=visibility_timeout)
        delivered = copy.deepcopy(message)
        models._filter_message_attributes(delivered, attribute_names)
        result.append(delivered)
        if len(result) >= count:
            break
    for message in to_dead_letters:
        queue._messages.remove(message)
        queue.dead_letter_queue.add_message(message)  # type: ignore[union-attr]
    return result


def _receive_message(original: Callable[..., list[Message]]) -> Callable[..., list[Message]]:
    @functools.wraps(original)
    def receive_message(
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Message]:
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue:
            return original(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names)
        ends = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with LOCK:
                result = _receive_fifo(
                    self, queue_name, queue, count, visibility_timeout, message_attribute_names or []
                )
            if result or time.monotonic() >= ends:
                return result
            time.sleep(POLL_SECONDS)

    return receive_message


def install() -> None:
    """Patch moto's SQS in this process; installing twice changes nothing."""
    if _installed:
        return
    _installed.append(True)
    Queue.messages = property(_messages)  # type: ignore[method-assign,assignment]
    for name in ("send_message", "send_message_batch", "delete_message", "change_message_visibility", "purge_queue"):
        setattr(SQSBackend, name, _locked(getattr(SQSBackend, name)))
    SQSBackend.receive_message = _receive_message(SQSBackend.receive_message)  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    """moto's server, with the fixes installed (DynamoDB's too): `python -m local.moto_sqs -H HOST -p PORT`."""
    install()
    moto_dynamodb.install()
    from moto.server import main as moto_server

    moto_server(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
