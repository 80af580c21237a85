"""What doing a command produced, and the `WhatsApp Message Failed` events that report what it could not do."""

from typing import TYPE_CHECKING

from pydantic import Field

from wab.errors import ACCEPTED_UNRECORDED, CODE_SHAPE, GatewayError, InvalidCommand, ProviderRejected
from wab.models.events import EventDetail
from wab.models.events.sending import FailureReason, LastError, MessageFailed
from wab.models.types import Model
from wab.observability import count

if TYPE_CHECKING:
    from wab.models.commands import AnyCommand

MAX_ERROR_TEXT = 500


class CommandKey(Model):
    """What a command is done once under (`key`), and what it must match (`fingerprint`): a key reused for a
    different command is refused rather than silently taken for the first one."""

    key: str
    fingerprint: str


class Accepted(Model):
    message_id: str
    destination: str


class Failure(Model):
    destination: str | None = None
    code: str
    message: str
    last_error: LastError | None = None
    # What a waiting Step Functions task is told instead of `message`, when that is the provider's own words (which
    # may repeat a number or a message, and would outlive an erasure in the execution's history).
    task_cause: str | None = None


class Parked(Model):
    park_id: str
    parked_until: str


class ErasedParked(Model):
    """A message parked for a contact that an erasure took away unsent: told to whoever asked for it."""

    reference: str | None = None
    idempotency_key: str | None = None


class Outcome(Model):
    """What doing a command produced; stored by Powertools and handed back when the command comes again."""

    at: str  # when the provider answered
    delivery_id: str | None = None  # the request that did it: another request with the same key is a repeat
    accepted: list[Accepted] = Field(default_factory=list)
    reported: list[Failure] = Field(default_factory=list)  # failures published while doing it
    unreported: list[Failure] = Field(default_factory=list)  # failures to publish at completion
    media_id: str | None = None
    records_erased: int | None = None  # set by an erasure
    parked_erased: list[ErasedParked] = Field(default_factory=list)  # by an erasure: messages it took unsent
    parked: Parked | None = None  # the message waits for the customer; what was accepted is its fallback template
    halves: list[list[str]] = Field(default_factory=list)  # a broadcast call refused whole: its halves' recipients


def failed_event(command: "AnyCommand", failure: Failure, *, repeat: bool = False) -> MessageFailed:
    # Imported here: the parking function counts failures (`count_failures`) but reads no command.
    from wab.models.commands import BroadcastCommand

    whole = isinstance(command, BroadcastCommand) and not failure.destination  # a broadcast failing as a whole
    recipients = len(command.destination) if isinstance(command, BroadcastCommand) and whole else None
    return MessageFailed(
        reference=command.reference,
        destination=failure.destination,
        recipients=recipients,
        error=FailureReason(code=failure.code, message=failure.message, last_error=failure.last_error),
        command=command.command,
        bucket=getattr(command, "bucket", None),
        key=getattr(command, "key", None),
        idempotency_key=command.idempotency_key,
        repeat=repeat or None,
    )


def crashed(destination: str | None = None, accepted_as: str | None = None) -> Failure:
    """The failure of a command that crashed the gateway until it was dead-lettered; `accepted_as` when the provider
    had taken the message before (the requester must not ask again: it may be delivered, with no record to show)."""
    if accepted_as:
        return Failure(
            destination=destination,
            code=ACCEPTED_UNRECORDED,
            message=f"the provider accepted the message as {accepted_as}, but the gateway failed repeatedly on "
            "recording it; it is in the dead-letter queue",
        )
    return Failure(
        destination=destination,
        code="unprocessable",
        message="the gateway failed on this command repeatedly; it is in the dead-letter queue",
    )


def window_exceeded(reason: str, error: Exception | None, destination: str | None = None) -> Failure:
    """The failure of a command still failing when its retry window ended, with the last error it met (an unexpected
    one by its kind only: its text may quote the command)."""
    message = error.message if isinstance(error, GatewayError) else reason
    return Failure(
        destination=destination,
        code="retry_window_exceeded",
        message="the command kept failing in a way that may pass until its retry window ended",
        last_error=LastError(code=reason, message=message[:MAX_ERROR_TEXT]),
    )


def count_failures(events: list[EventDetail]) -> None:
    """`SendsFailed` by error code, for the `WhatsApp Message Failed` events among those published."""
    codes: dict[str, int] = {}
    for event in events:
        if isinstance(event, MessageFailed):
            codes[event.error.code] = codes.get(event.error.code, 0) + 1
    for code, failures in codes.items():
        # A dimension per value: a provider's own code of any shape would make metrics without end.
        count("SendsFailed", failures, code=code if CODE_SHAPE.fullmatch(code) else "other")


def erased_parked_event(parked: ErasedParked) -> MessageFailed:
    """The failure of a parked message its contact's erasure took away; without the number, as the erasure's report."""
    return MessageFailed(
        reference=parked.reference,
        error=FailureReason(
            code="contact_erased", message="the contact was erased on request; the parked message was not sent"
        ),
        command="send",
        idempotency_key=parked.idempotency_key,
    )


def invalid_command_event(invalid: InvalidCommand) -> MessageFailed:
    return MessageFailed(
        reference=invalid.reference,
        destination=invalid.destination,
        recipients=invalid.recipients,
        idempotency_key=invalid.idempotency_key,
        error=FailureReason(code=invalid.code, message=invalid.message),
        command=invalid.command,
        repeat=invalid.repeat or None,
    )


def rejection(rejected: ProviderRejected, destination: str | None) -> Failure:
    return Failure(
        destination=destination,
        code=rejected.code,
        message=rejected.message,
        task_cause=f"the provider refused the message ({rejected.code})",
    )


WINDOW_CLOSED = "outside_24h_window"


def window_failure(destination: str) -> Failure:
    return Failure(
        destination=destination,
        code=WINDOW_CLOSED,
        message="the customer has not written in the last 24 hours; only a template can be sent (WhatsApp 131047)",
    )
