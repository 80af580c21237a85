"""When a command that failed in a way that may pass is tried again: jittered exponential backoff, capped."""

import math
import random
from collections.abc import Callable

from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from wab.errors import GatewayError

MAX_BACKOFF_SECONDS = 15 * 60


def retry_delay(attempt: int, retry_after: float | None = None, *, jitter: Callable[[], float] = random.random) -> int:
    """Seconds before the next attempt: up to 2^attempt (capped at 15 minutes), half of it fixed and half random so a
    throttled batch does not come back all at once; never sooner than the provider asked."""
    ceiling = min(MAX_BACKOFF_SECONDS, 2 ** min(max(attempt, 1), 10))
    delay = ceiling / 2 + jitter() * ceiling / 2
    if retry_after:
        delay = max(delay, retry_after)
    return max(1, min(MAX_BACKOFF_SECONDS, math.ceil(delay)))


def retry_reason(error: Exception) -> str:
    """What a retry is counted and logged as: the domain error's code, `in_progress`, or `unexpected`."""
    if isinstance(error, GatewayError):
        return error.code
    if isinstance(error, IdempotencyAlreadyInProgressError):
        return "in_progress"
    return "unexpected"
