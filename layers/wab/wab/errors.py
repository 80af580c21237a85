"""Domain errors: what went wrong, named by a stable `code`, never by an HTTP status. The API edge maps them to HTTP
answers in one table (`wab.api`); the sender maps them to retries or failure reports (`wab.retry`)."""

import re

# The shape of a code the gateway tells back, logs and counts as a metric dimension: its own, and a provider's only when
# it has this shape (a provider's code of another shape may be prose that repeats a number or a message).
CODE_SHAPE = re.compile(r"[0-9a-z_]{1,40}")
# The provider took a request but its answer cannot be used: reported, never retried (that could send it twice).
UNREADABLE_ANSWER = "unreadable_provider_answer"
# The provider took the message but its record could not be written: not a failure of the send, and not counted as
# one (`wab.summary`); a redrive of its dead letter records it and publishes its `Accepted`.
ACCEPTED_UNRECORDED = "accepted_unrecorded"


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidPayload(GatewayError):
    """The request itself is wrong: the caller must change it; retrying cannot help."""

    code = "invalid_payload"


class Unauthorized(GatewayError):
    code = "unauthorized"


class NotFound(GatewayError):
    code = "not_found"


class MessageErased(NotFound):
    """The message was erased with its contact: its record (or pointer) is a tombstone until it expires, so a callback
    the provider retries, or a late status report, does not store it again."""

    code = "message_erased"


class DependencyFailed(GatewayError):
    """An AWS service or the provider failed; the same request may succeed later."""

    code = "dependency_failed"


class InProgress(DependencyFailed):
    """The same callback is being handled right now by another invocation; retry shortly."""

    code = "in_progress"


class InvalidCommand(InvalidPayload):
    """A send command that can never be sent as it stands; it is reported as `WhatsApp Message Failed`, not retried.

    `reference`, `destination` and `idempotency_key` are what could be read from the command, so the failure can name
    it; `recipients`, how many a broadcast listed, so its campaign counts each as failed; `task_token`, so a task
    waiting on it is told (never shown anywhere); `repeat`, for a copy of a request the gateway took before (a replay
    from the event archive), reported as a repeat, which its campaign does not count again.
    """

    code = "invalid_command"

    def __init__(
        self,
        message: str,
        *,
        reference: str | None = None,
        destination: str | None = None,
        command: str | None = None,
        task_token: str | None = None,
        idempotency_key: str | None = None,
        recipients: int | None = None,
        repeat: bool = False,
    ):
        super().__init__(message)
        self.repeat = repeat
        self.reference = reference
        self.destination = destination
        self.recipients = recipients
        self.command = command
        self.task_token = task_token
        self.idempotency_key = idempotency_key


class ProviderRejected(GatewayError):
    """The provider refused the request for good (a WhatsApp error such as 131047, or another 4xx).

    `code` is the WhatsApp error code when the answer carries one ("131047"), else `http_<status>`.
    """

    def __init__(self, code: str, message: str, *, http_status: int | None = None):
        super().__init__(message, code=code)
        self.http_status = http_status


class ProviderUnavailable(DependencyFailed):
    """The provider cannot take the request now (throttled, 5xx, timeout, connection failure); retry later.

    `retry_after` (seconds) is the provider's own hint, when it gave one.
    """

    code = "provider_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ProviderCredentialsRejected(DependencyFailed):
    """The provider refused our credentials even after reading the secret again: a configuration problem, so the
    command is retried (and ends in the dead-letter queue, which alarms) rather than reported as failed."""

    code = "provider_credentials_rejected"
