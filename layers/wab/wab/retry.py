"""Retries bounded by time, not by receive counts, and crashes told apart from failures.

A command that fails in a way that may pass (throttling, pair rate, provider 5xx and timeouts, AWS errors, credentials
still refused after a refresh) is put back on its queue with jittered exponential backoff, capped at
`max_delay_seconds`, for as long as its retry window (`SendRetryWindowMinutes`) lasts from when it was requested.
The next attempt would start after the window: it is given up, `WhatsApp Message Failed` (`retry_window_exceeded`,
with the last error) is published and the message is deleted.

A crash (the invocation died: a timeout, memory, a bug) gives the handler no chance to do that, so each message's
attempts are counted in the messages table from its second receive on (`Attempts`): receives the handler started
but never concluded are crashes. So are those that met an error the code does not expect (a bug): they are retried
with backoff like a failure, but left unconcluded. After `CRASH_LIMIT` of them the message is moved to the
dead-letter queue, and `WhatsApp Message Failed` (`unprocessable`) goes out first. Receives that never reached the
handler (an invocation that failed to start) are not counted: a broken deploy delays messages, it does not
dead-letter them. First receives cost nothing here; only retries read and write an attempt item.
"""

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wab import aws

CRASH_LIMIT = 3
ATTEMPT_TTL_SECONDS = 14 * 86400  # SQS keeps a message at most 14 days


@dataclass(frozen=True)
class RetryPolicy:
    window_seconds: int
    max_delay_seconds: int = 300

    def delay(
        self, attempt: int, retry_after: float | None = None, *, jitter: Callable[[], float] = random.random
    ) -> int:
        """Seconds before the next attempt: up to 2^attempt (capped), half of it fixed and half random so a throttled
        batch does not come back all at once; never sooner than the provider asked."""
        ceiling = min(self.max_delay_seconds, 2 ** min(max(attempt, 1), 16))
        delay = ceiling / 2 + jitter() * ceiling / 2
        if retry_after:
            delay = max(delay, retry_after)
        return max(1, min(self.max_delay_seconds, math.ceil(delay)))

    def exhausted(self, requested_at_ms: int, now_ms: int, delay_seconds: float) -> bool:
        """Whether the next attempt would start after the window."""
        return now_ms + delay_seconds * 1000 > requested_at_ms + self.window_seconds * 1000


class Attempts:
    """How often the handler started and concluded a message's receives (from the second on), in the messages table."""

    def __init__(self, table_name: str, *, now: Callable[[], float]):
        self.table_name = table_name
        self._now = now

    def start(self, queue: str, message_id: str) -> int:
        """Count this receive as started; the number of earlier receives that crashed."""
        old = self._add(queue, message_id, "started", return_old=True)
        return int(old.get("started", {}).get("N", 0)) - int(old.get("concluded", {}).get("N", 0))

    def conclude(self, queue: str, message_id: str) -> None:
        """Count this receive as concluded (the handler put the message back itself)."""
        self._add(queue, message_id, "concluded", return_old=False)

    def _add(self, queue: str, message_id: str, counter: str, *, return_old: bool) -> dict[str, Any]:
        with aws.dependency("DynamoDB UpdateItem"):
            answer = aws.client("dynamodb").update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"ATTEMPT#{queue}#{message_id}"}},
                UpdateExpression="ADD #counter :one SET expires_at = if_not_exists(expires_at, :expires)",
                ExpressionAttributeNames={"#counter": counter},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":expires": {"N": str(int(self._now()) + ATTEMPT_TTL_SECONDS)},
                },
                ReturnValues="ALL_OLD" if return_old else "NONE",
            )
        return answer.get("Attributes") or {}
