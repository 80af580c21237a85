"""What customers send: a message, an edit of one, a deletion of one."""

from typing import TYPE_CHECKING, Any, ClassVar

from wab.models.events import RECEIVED, EventDetail

if TYPE_CHECKING:
    from wab.models.records import MessageRecord


class MessageReceived(EventDetail):
    detail_type: ClassVar[str] = RECEIVED

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
