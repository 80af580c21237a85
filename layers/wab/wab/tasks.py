"""Step Functions adapter: answering the tasks that wait on messages (`SendTaskSuccess`, `SendTaskFailure`).

What Step Functions answers, and what the gateway makes of it (API reference of both actions):
- 200: the task took the answer.
- `TaskTimedOut` ("the task token has either expired or the task associated with the token has already been
  closed"), `InvalidToken`, `TaskDoesNotExist`: the task is no longer waiting, because it was answered already (by
  an earlier attempt of this very answer, after a crash or a lost reply), timed out on its own `TimeoutSeconds`, or
  its execution ended. Nothing can ever be delivered to it: the answer is settled, never retried (`closed`).
- `InvalidOutput`: the output is not JSON or too large. Outputs are fitted to 256 KiB first (`success_output`), so
  this is a bug; the task is told `answer_unsendable` rather than left waiting.
- `ValidationException`: Step Functions refuses the token itself; no retry can change that (`closed`, logged).
- Throttling (`ThrottlingException`), `ServiceUnavailable`/5xx, KMS throttling, timeouts, network errors: botocore's
  standard retries first, then `DependencyFailed`, which leaves the answer in its record's outbox for the caller's
  retry (`wab.outbox`) and the wait's timer (`wab.waits`): retried for a bounded time, never dropped.

The token is a secret: it is never logged, and no answer's `cause` holds customer data (`wab.waits`).
"""

import contextlib
from collections.abc import Hashable, Mapping
from functools import cache
from typing import Any, Literal, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from wab import aws, jsoncodec
from wab.errors import DependencyFailed, MessageErased
from wab.models.records import MessageRecord
from wab.models.waits import MAX_CAUSE, MAX_ERROR, MAX_OUTPUT_BYTES, TaskAnswer
from wab.observability import count, logger
from wab.store import MessageStore

CLOSED = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
REFUSED = frozenset({"ValidationException"})
Key = TypeVar("Key", bound=Hashable)
Delivery = Literal["answered", "closed"]
# Left out of an output that would not fit, in this order: the reply's earlier versions, its content, the message's.
REPLY_EXTRAS = ("content_history", "content", "text")


class StepFunctions:
    """The two calls, each either answered, or found closed, or DependencyFailed (retry later)."""

    def succeed(self, task_token: str, output: str) -> Delivery:
        return self._call("SendTaskSuccess", taskToken=task_token, output=output)

    def fail(self, task_token: str, error: str, cause: str) -> Delivery:
        return self._call("SendTaskFailure", taskToken=task_token, error=error[:MAX_ERROR], cause=cause[:MAX_CAUSE])

    def _call(self, operation: str, **request: Any) -> Delivery:
        client = aws.client("stepfunctions")
        try:
            if operation == "SendTaskSuccess":
                client.send_task_success(**request)
            else:
                client.send_task_failure(**request)
        except ClientError as exc:
            code = aws.error_code(exc)
            if code in CLOSED:
                return "closed"
            if code in REFUSED:
                logger.error("Step Functions refused the task token: it cannot be answered", extra={"error": code})
                return "closed"
            if code == "InvalidOutput" and operation == "SendTaskSuccess":
                logger.error("Step Functions refused the output; the task is told it failed")
                return self.fail(
                    request["taskToken"], "answer_unsendable", "the message record could not be sent as the output"
                )
            raise DependencyFailed(f"Step Functions {operation} failed: {code}") from exc
        except BotoCoreError as exc:
            raise DependencyFailed(f"Step Functions {operation} failed: {type(exc).__name__}") from exc
        return "answered"


class TaskAnswerer:
    """Sends the answers kept in records' outboxes (`wab.outbox.deliver` hands them over)."""

    def __init__(self, step_functions: StepFunctions | None = None):
        self.step_functions = step_functions or StepFunctions()

    def answer_all(
        self,
        store: MessageStore,
        answers: Mapping[Key, tuple[MessageRecord, TaskAnswer]],
        replies: Mapping[str, MessageRecord] | None = None,
    ) -> set[Key]:
        """Send every answer; the keys of those that did not go (their tasks are still owed them)."""
        failed: set[Key] = set()
        for key, (record, answer) in answers.items():
            try:
                self.answer(store, record, answer, replies or {})
            except DependencyFailed as exc:
                logger.warning("a task's answer did not go; it is retried", extra={"message_id": record.id})
                logger.debug("Step Functions failure", extra={"reason": exc.message})
                failed.add(key)
        return failed

    def answer(
        self, store: MessageStore, record: MessageRecord, answer: TaskAnswer, replies: Mapping[str, MessageRecord]
    ) -> Delivery:
        """Send a record's answer: its success output is built now, from the record as it stands."""
        if answer.outcome != "success":
            return self._fail(answer, record.id)
        reply = replies.get(answer.reply_id) if answer.reply_id else None
        if answer.reply_id and reply is None:
            with contextlib.suppress(MessageErased):  # the reply went with its contact: the answer names it only
                reply = store.get(answer.reply_id)
        delivery = self.step_functions.succeed(answer.task_token, success_output(record, reply, answer))
        self._note(delivery, answer, record.id)
        return delivery

    def tell(self, answer: TaskAnswer) -> Delivery:
        """Send a failure that no record keeps: the command ended without a message."""
        return self._fail(answer, None)

    def tell_success(self, answer: TaskAnswer, output: dict[str, Any]) -> Delivery:
        """Send a success that no record keeps (a broadcast's counts, `wab.broadcastwaits`)."""
        delivery = self.step_functions.succeed(answer.task_token, jsoncodec.encode(output))
        self._note(delivery, answer, None)
        return delivery

    def _fail(self, answer: TaskAnswer, message_id: str | None) -> Delivery:
        delivery = self.step_functions.fail(answer.task_token, answer.error or "failed", answer.cause or "")
        self._note(delivery, answer, message_id)
        return delivery

    def _note(self, delivery: Delivery, answer: TaskAnswer, message_id: str | None) -> None:
        details = {"message_id": message_id, "wait_for": answer.wait_for, "outcome": answer.outcome}
        if answer.error:
            details["error"] = answer.error
        if delivery == "closed":
            logger.info("the task was no longer waiting (answered before, or ended)", extra=details)
            count("TaskTokensClosed")
        else:
            logger.info("task answered", extra=details)
            count("TaskAnswers", outcome=answer.outcome)


def success_output(record: MessageRecord, reply: MessageRecord | None, answer: TaskAnswer) -> str:
    """The task's output: the message record as `GET /messages/{id}` returns it, and for a reply the customer's
    message as the same API returns it (`reply`), fitted to Step Functions' 256 KiB.

    A reply whose record is gone (erased) is given as `{"id": …}` only. An output that would not fit (a very large
    reply) leaves out the reply's earlier versions, then its content and text, then the message's content, and says
    so with `"truncated": true`; the ids, statuses and times are always there.
    """
    view = record.public_view()
    if answer.reply_id:
        view["reply"] = reply.public_view() if reply is not None else {"id": answer.reply_id}
    text = jsoncodec.encode(view)
    for part in (*(("reply", name) for name in REPLY_EXTRAS), ("content",)):
        if len(text.encode("utf-8")) <= MAX_OUTPUT_BYTES:
            break
        holder = view.get("reply") if part[0] == "reply" else view
        if isinstance(holder, dict) and holder.pop(part[-1], None) is not None:
            view["truncated"] = True
            text = jsoncodec.encode(view)
    return text


@cache
def answerer() -> TaskAnswerer:
    """The container's answerer (its client is made on first use)."""
    return TaskAnswerer()
