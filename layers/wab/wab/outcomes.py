"""What doing a command produced, and the `WhatsApp Message Failed` events that report what it could not do."""

from pydantic import Field

from wab.errors import InvalidCommand, ProviderRejected
from wab.models.commands import AnyCommand
from wab.models.events import FailureReason, MessageFailed
from wab.models.types import Model


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


class Outcome(Model):
    """What doing a command produced; stored by Powertools and handed back when the command comes again."""

    at: str  # when the provider answered
    accepted: list[Accepted] = Field(default_factory=list)
    unreported: list[Failure] = Field(default_factory=list)  # failures to publish at completion
    media_id: str | None = None
    chunks: int = 0
    records_erased: int | None = None  # set by an erasure


def failed_event(command: AnyCommand, failure: Failure) -> MessageFailed:
    return MessageFailed(
        reference=command.reference,
        destination=failure.destination,
        error=FailureReason(code=failure.code, message=failure.message),
        command=command.command,
        bucket=getattr(command, "bucket", None),
        key=getattr(command, "key", None),
    )


def invalid_command_event(invalid: InvalidCommand) -> MessageFailed:
    return MessageFailed(
        reference=invalid.reference,
        destination=invalid.destination,
        error=FailureReason(code=invalid.code, message=invalid.message),
        command=invalid.command,
    )


def rejection(rejected: ProviderRejected, destination: str | None) -> Failure:
    return Failure(destination=destination, code=rejected.code, message=rejected.message)


def window_failure(destination: str) -> Failure:
    return Failure(
        destination=destination,
        code="outside_24h_window",
        message="the customer has not written in the last 24 hours; only a template can be sent (WhatsApp 131047)",
    )
