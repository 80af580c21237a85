"""Two fixes to moto's SQS so that a FIFO queue keeps a message group's order the way SQS does.

A contact's messages are one message group on the send lanes; the gateway's order rests on SQS never handing out a
message while an earlier one of its group is in flight. moto 5.2.5 breaks that in two ways, both seen on the local
stack (bench/report.md, section 8d) and reproduced in tests/emulator/test_moto_sqs.py:
- `Queue.messages` builds its list while iterating the queue's message list, which other server threads change (a
  delete removes a message, a send appends one): a removal ahead of the iteration shifts the list and the next
  message is skipped. A receive could then hand out the second message of a group and leave the first behind.
- A message whose visibility timeout has lapsed still counts as in flight for its group until a receive passes it.
  When a whole group's batch comes back at once (an invocation that crashed), the receive sees the first message's
  group as still in flight because of the messages behind it, skips it, and hands out a later one.

`install()` patches moto's classes in this process: the local stack's moto server (`python -m local.moto_sqs`) and
the integration tests' in-process moto. Installing twice changes nothing.
"""

from __future__ import annotations

import sys

from moto.sqs.models import Message, Queue


def _messages(self: Queue) -> list[Message]:
    # list() copies the list in one step under the interpreter lock; only the copy is filtered.
    return [message for message in list(self._messages) if message.visible and not message.delayed]


def _pending_message_groups(self: Queue) -> set[str]:
    # A message visible again is no longer in flight: it holds up its group only while it is invisible.
    return {
        message.group_id
        for message in list(self._pending_messages)
        if message.group_id is not None and not message.visible
    }


def install() -> None:
    # Assigned on the class (not via setattr's string) so mypy checks the replacement's type.
    Queue.messages = property(_messages)  # type: ignore[method-assign,assignment]
    Queue.pending_message_groups = property(_pending_message_groups)  # type: ignore[method-assign,assignment]


def main(argv: list[str] | None = None) -> None:
    """moto's server, with the fixes installed: `python -m local.moto_sqs -H HOST -p PORT`."""
    install()
    from moto.server import main as moto_server

    moto_server(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
