"""Waits of Step Functions tasks on a message: what a command asks for, what the message record keeps, and what the
gateway owes Step Functions.

A send command may carry a `task_token` (from a `.waitForTaskToken` Task state), what to wait for (`wait_for`) and for
how long (`wait_timeout_seconds`). The message record keeps the wait (`Wait`, never shown by the record API nor
published); the answer it is owed, once decided, waits in the record's outbox (`TaskAnswer`) until Step Functions has
taken it. The token is a secret: it is never logged, traced, published or put in an answer.
"""

import hashlib
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints

from wab.models.types import Model

WaitFor = Literal["accepted", "delivered", "read", "reply"]
BroadcastWaitFor = Literal["accepted", "delivered", "read"]  # a reply is awaited per message, not per broadcast
Outcome = Literal["success", "failure"]
DEFAULT_WAIT_FOR: WaitFor = "delivered"
# A day: a phone that is off has time to come back, and a customer to answer within WhatsApp's 24-hour window.
DEFAULT_WAIT_TIMEOUT_SECONDS = 86_400
# A week: past that a delivery or a reply is better awaited by a new conversation, and records (RetentionDays) and
# contacts' window items are sure to outlive every wait.
MAX_WAIT_TIMEOUT_SECONDS = 7 * 86_400
# Step Functions' limits (SendTaskSuccess / SendTaskFailure): a token of up to 2,048 characters, an error code of 256,
# a cause of 32,768, an output of 256 KiB.
MAX_TASK_TOKEN = 2048
MAX_ERROR = 256
MAX_CAUSE = 32_768
MAX_OUTPUT_BYTES = 262_144
# The outbox entries of answers carry this instead of an event's detail-type: `wab.outbox.deliver` hands them to Step
# Functions, never to EventBridge.
ANSWER_DETAIL_TYPE = "wab.task-answer"
ANSWER_KEY_PREFIX = "answer:"

TaskToken = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TASK_TOKEN, pattern=r"^[!-~]+$")]
WaitTimeoutSeconds = Annotated[int, Field(strict=True, ge=1, le=MAX_WAIT_TIMEOUT_SECONDS)]


def answer_key(task_token: str) -> str:
    """The outbox key of the answer a token is owed: one per token, named without the token itself."""
    return ANSWER_KEY_PREFIX + hashlib.sha256(task_token.encode()).hexdigest()[:32]


class WaitRequest(Model):
    """What a command asks: answer `task_token` once `wait_for` holds, or fail it after `timeout_seconds`."""

    task_token: str
    wait_for: WaitFor = DEFAULT_WAIT_FOR
    timeout_seconds: int = DEFAULT_WAIT_TIMEOUT_SECONDS


class Wait(Model):
    """A message record's wait: the task waiting on it, since when, until when, and whether its answer is decided."""

    task_token: str
    wait_for: WaitFor
    since: str  # when the wait began (the provider accepted the message): a reply must come after it
    timeout_at: str  # when it fails with `wait_timeout` if nothing decided it before
    decided: Outcome | None = None  # set once, with the answer put in the outbox
    decided_at: str | None = None

    @property
    def key(self) -> str:
        return answer_key(self.task_token)


class TaskAnswer(Model):
    """The answer a task is owed, kept in its message record's outbox until Step Functions takes it.

    Success carries the message record as the record API returns it (and, for a reply, the customer's message), built
    when the answer is sent; failure carries `error` (the gateway's or WhatsApp's code) and `cause` (a short message,
    no customer data).
    """

    detail_type: ClassVar[str] = ANSWER_DETAIL_TYPE

    task_token: str
    outcome: Outcome
    wait_for: WaitFor | None = None
    error: str | None = None
    cause: str | None = None
    reply_id: str | None = None  # a reply's inbound message record
    decided_at: str

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ReplyWait(Model):
    """A reply awaited from a contact, kept on the contact's window item (`CONTACT#<number>`, as `reply:<message id>`)
    so the inbound message's window update finds it at no extra cost."""

    since: str  # the awaited message's `Wait.since`
    source: str  # the business number that sent it: the reply is the contact's next message to that number
    key: str  # the answer's outbox key, so a reply being answered right now is told apart (in progress)


class WaitTimer(Model):
    """A message on the wait queue: look at the message's wait again (its timeout, an answer Step Functions did not
    take yet). The token comes along so the task is answered even when its record is gone (erased)."""

    message_id: str
    task_token: str
    attempt: int = 0  # answers that did not go: their retries back off
    failing_since: str | None = None  # when its answer first did not go: retried for the retry window from then


class BroadcastWaitTimer(Model):
    """A message on the wait queue for a task waiting on a whole broadcast (`wab.broadcastwaits`): the wait itself,
    as no record holds it. `baseline` is what the reference's summary counted when the broadcast was requested."""

    kind: Literal["broadcast"] = "broadcast"
    reference: str
    task_token: str
    wait_for: BroadcastWaitFor
    recipients: int
    timeout_at: str
    baseline: dict[str, int] = Field(default_factory=dict)
    looks: int = 0  # at its summary so far: the pause before the next one grows with them
    attempt: int = 0
    failing_since: str | None = None
