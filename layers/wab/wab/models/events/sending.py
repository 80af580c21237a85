"""What became of a command: accepted, failed, media uploaded, a template refused, a message parked or released."""

from typing import ClassVar

from wab.models.events import EventDetail
from wab.models.types import Model


class MessageAccepted(EventDetail):
    detail_type: ClassVar[str] = "WhatsApp Message Accepted"

    message_id: str
    reference: str | None = None
    destination: str
    source: str
    type: str
    idempotency_key: str | None = None
    # Set when delivery reports came before the send was recorded (they carried no reference): the status they had
    # already moved the message to, which the campaign's counters take with the acceptance.
    status: str | None = None
    repeat: bool | None = None  # true: a repeat of a command already done; this is that command's outcome again


class LastError(Model):
    code: str
    message: str


class FailureReason(Model):
    code: str  # a WhatsApp error code ("131047") or one of the gateway's ("invalid_command", "outside_24h_window", …)
    message: str
    last_error: LastError | None = None  # with `retry_window_exceeded`: the error the last attempt met


class MessageFailed(EventDetail):
    """A command that will not be sent (or media not uploaded); `command` says which kind it was."""

    detail_type: ClassVar[str] = "WhatsApp Message Failed"

    reference: str | None = None
    destination: str | None = None
    recipients: int | None = None  # a broadcast failing as a whole: how many recipients it had
    error: FailureReason
    command: str | None = None
    bucket: str | None = None
    key: str | None = None
    idempotency_key: str | None = None
    repeat: bool | None = None  # true: a repeat of a command already done; this is that command's outcome again


class MediaUploaded(EventDetail):
    detail_type: ClassVar[str] = "WhatsApp Media Uploaded"

    media_id: str
    source: str
    bucket: str
    key: str
    reference: str | None = None
    repeat: bool | None = None


class TemplateRejected(EventDetail):
    """WhatsApp refused a template as not existing or not approved: the catalogue marks it rejected, and template
    sends with it fail before the provider is called until the catalogue says otherwise."""

    detail_type: ClassVar[str] = "WhatsApp Template Rejected"

    name: str
    language: str
    code: str
    message: str
    rejected_at: str


class MessageParked(EventDetail):
    """A free-form message met a closed window: its `fallback_template` went instead (`fallback_message_id`) and the
    message waits for the customer's reply until `parked_until`, then fails as `parked_expired`."""

    detail_type: ClassVar[str] = "WhatsApp Message Parked"

    park_id: str  # the parked message's idempotency key once it is released
    reference: str | None = None
    destination: str
    fallback_message_id: str
    parked_at: str
    parked_until: str
    idempotency_key: str | None = None
    repeat: bool | None = None  # true: a repeat of a command already done; this is that command's outcome again


class MessageReleased(EventDetail):
    """The customer wrote: a parked message is on its way (its `Accepted` follows, with `park_id` as its
    idempotency key)."""

    detail_type: ClassVar[str] = "WhatsApp Message Released"

    park_id: str
    reference: str | None = None
    destination: str
    released_at: str
