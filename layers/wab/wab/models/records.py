"""The stored message record: one DynamoDB item per message, MT or MO."""

from typing import Any, Literal

from pydantic import Field

from wab.models.types import Model
from wab.models.waits import Wait

Direction = Literal["MT", "MO"]


class StatusEntry(Model):
    status: str
    at: str
    detail: str | None = None


class PendingEvent(Model):
    """An event stored with the change that caused it and not yet confirmed as published.

    `lease_until` (epoch ms) marks the invocation publishing it; past it, the entry is abandoned and the next
    invocation touching the record publishes it, so a half-done callback is completed by the provider's retry.
    `detail` is None for an event that only restates its record (`wab.outbox.restated`): it is built from the record
    when it goes out.
    """

    detail_type: str
    detail: dict[str, Any] | None = None
    lease_until: int


class RelayedEvent(Model):
    """An event a write leaves for the table's stream: the relay (`wab.relay`) publishes it once that write is on the
    stream, and the record's next write drops it (no write is spent clearing it)."""

    detail_type: str
    detail: dict[str, Any]


class ContentVersion(Model):
    """An earlier content of an inbound message the customer edited (`content` None: left out to fit the record)."""

    at: str
    content: dict[str, Any] | None = None
    text: str | None = None


class MessageRecord(Model):
    id: str
    direction: Direction
    source: str | None = None
    destination: str | None = None
    type: str | None = None
    status: str | None = None
    reference: str | None = None
    whatsapp_message_id: str | None = None  # inbound: WhatsApp's id of the message ("wamid…")
    text: str | None = None  # inbound: the content's human-readable text, when it has one
    content: dict[str, Any] | None = None
    reason: str | None = None  # inbound, type `unsupported`: why the content did not fit the models
    # inbound, edited: its earlier contents, oldest first
    content_history: list[ContentVersion] = Field(default_factory=list)
    edited_at: str | None = None  # inbound: when the current content replaced the one before
    deleted_at: str | None = None  # inbound: when the customer deleted it (content, text and history are gone)
    original_whatsapp_message_id: str | None = None  # an edit or deletion: WhatsApp's id of the message it changes
    status_history: list[StatusEntry] = Field(default_factory=list)
    created_at: str
    updated_at: str
    # Bookkeeping, never shown to API callers.
    contact: str | None = None
    version: int = 0
    outbox: dict[str, PendingEvent] = Field(default_factory=dict)
    relay: dict[str, RelayedEvent] = Field(default_factory=dict)  # this write's events for the stream (`wab.relay`)
    expires_at: int | None = None
    changes_applied: list[str] = Field(default_factory=list)  # ids of the edits and deletions applied to it
    wait: Wait | None = None  # outbound: a Step Functions task waiting on the message (`wab.waits`)
    broadcast: bool | None = None  # outbound: sent by a broadcast (what `SummaryScope: broadcasts` counts)

    def public_view(self) -> dict[str, Any]:
        """The record as the record API returns it (the shape documented in docs/records.md): every field of the shape,
        and those only inbound messages have when they have them."""
        view = self.model_dump(include=PUBLIC_FIELDS)
        view.update(self.model_dump(include=INBOUND_FIELDS, exclude_defaults=True))
        view["status_history"] = [entry.model_dump(exclude_none=True) for entry in self.status_history]
        return view


PUBLIC_FIELDS = {
    "id",
    "direction",
    "source",
    "destination",
    "type",
    "status",
    "reference",
    "content",
    "status_history",
    "created_at",
    "updated_at",
}
INBOUND_FIELDS = {
    "whatsapp_message_id",
    "text",
    "reason",
    "content_history",
    "edited_at",
    "deleted_at",
    "original_whatsapp_message_id",
}


class PendingChange(Model):
    """An edit or deletion that arrived before the message it changes, kept until that message arrives."""

    kind: Literal["edit", "revoke"]
    change_id: str  # the gateway's (provider's) id of the edit or deletion callback
    at: str  # when the customer made it (WhatsApp's timestamp)
    contact: str  # who made it: only the author's own message is changed
    content: dict[str, Any] | None = None  # an edit's new content (dropped once a deletion is pending too)
    text: str | None = None
    # An edit's new type, and why the models could not type it (`unsupported`); None in changes kept before
    # edits carried them: the message keeps its type.
    type: str | None = None
    reason: str | None = None


class WhatsAppPointer(Model):
    """`WAMID#<WhatsApp id>`: which record holds the inbound message WhatsApp knows by this id (records are keyed by
    the provider's id), and the changes that arrived before it. Written under a version, like the records."""

    whatsapp_message_id: str
    record_id: str | None = None
    pending: list[PendingChange] = Field(default_factory=list)
    version: int = 0
    expires_at: int | None = None
