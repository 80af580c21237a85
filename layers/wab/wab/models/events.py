"""Details of the events the gateway publishes on EventBridge (source `wab.gateway`)."""

from typing import TYPE_CHECKING, Any, ClassVar

from wab.models.types import Model

if TYPE_CHECKING:
    from wab.models.records import MessageRecord

SOURCE = "wab.gateway"


class EventDetail(Model):
    detail_type: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class MessageReceived(EventDetail):
    detail_type: ClassVar[str] = "WhatsApp Message Received"

    message_id: str
    whatsapp_message_id: str | None = None
    source: str
    destination: str
    type: str
    text: str | None = None
    content: dict[str, Any] | None = None  # absent when the customer deleted the message before it arrived
    reason: str | None = None  # type `unsupported`: why the content did not fit the models
    received_at: str
    edited_at: str | None = None  # set when an edit arrived before the message: `content` is the edited one
    deleted_at: str | None = None  # set when a deletion arrived before the message: there is no content

    @classmethod
    def of(cls, record: "MessageRecord") -> "MessageReceived":
        """The event of an inbound record, as the record stands."""
        return cls(
            message_id=record.id,
            whatsapp_message_id=record.whatsapp_message_id,
            source=record.source or "",
            destination=record.destination or "",
            type=record.type or "unsupported",
            text=record.text,
            content=record.content,
            reason=record.reason,
            received_at=record.status_history[0].at if record.status_history else record.created_at,
            edited_at=record.edited_at,
            deleted_at=record.deleted_at,
        )


class MessageEdited(EventDetail):
    """The customer edited a message they had sent: `content` (and `text`) is its new content."""

    detail_type: ClassVar[str] = "WhatsApp Message Edited"

    message_id: str | None = None  # the gateway's id of the edited message, when the gateway has received it
    original_message_id: str  # WhatsApp's id of the edited message ("wamid…")
    source: str
    destination: str
    type: str  # the new content's type (`unsupported` when the models cannot type it)
    text: str | None = None
    content: dict[str, Any]
    reason: str | None = None  # type `unsupported`: why the new content did not fit the models
    edited_at: str


class MessageDeleted(EventDetail):
    """The customer deleted a message they had sent, for everyone: the gateway removed its content from the store."""

    detail_type: ClassVar[str] = "WhatsApp Message Deleted"

    message_id: str | None = None  # the gateway's id of the deleted message, when the gateway has received it
    original_message_id: str  # WhatsApp's id of the deleted message ("wamid…")
    source: str
    destination: str
    deleted_at: str


class MessageStatusChanged(EventDetail):
    detail_type: ClassVar[str] = "WhatsApp Message Status Changed"

    message_id: str
    status: str
    previous_status: str
    reference: str | None = None
    destination: str | None = None
    detail: str | None = None
    occurred_at: str


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


class ContactErased(EventDetail):
    """Everything the gateway stored about a contact was erased on request (the audit record of it).

    The number itself is not repeated: `contact_hash` is the SHA-256 (hex) of it as "+<digits>", so whoever asked can
    match the event to the request. `records_erased` counts the items deleted (message records and the contact's
    window item); `requested_by` is the source of the bus event that asked, or "queue" for a command sent straight to
    the send queue.
    """

    detail_type: ClassVar[str] = "WhatsApp Contact Erased"

    contact_hash: str
    records_erased: int
    reference: str | None = None
    requested_by: str
    erased_at: str
    repeat: bool | None = None  # true: a redelivery of a request already carried out (nothing more was erased)


class TemplateRejected(EventDetail):
    """WhatsApp refused a template as not existing or not approved: the catalogue marks it rejected, and template
    sends with it fail before the provider is called until the catalogue says otherwise."""

    detail_type: ClassVar[str] = "WhatsApp Template Rejected"

    name: str
    language: str
    code: str
    message: str
    rejected_at: str


class ContactChoice(EventDetail):
    """A contact's marketing choice changed. The contact is named by its hash, as in erasure audits."""

    contact_hash: str
    destination: str | None = None
    reason: str  # "keyword" or the WhatsApp code
    at: str


class ContactOptedOut(ContactChoice):
    """A contact stopped marketing messages (a keyword they wrote, or WhatsApp's 131050); marketing to them now fails
    with `opted_out` without a provider call."""

    detail_type: ClassVar[str] = "WhatsApp Contact Opted Out"


class ContactOptedIn(ContactChoice):
    """A contact who had opted out asked for marketing again (an opt-in keyword)."""

    detail_type: ClassVar[str] = "WhatsApp Contact Opted In"


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
