"""The stored message record: one DynamoDB item per message, MT or MO."""

from typing import Any, Literal

from pydantic import Field

from wab.models.types import Model

Direction = Literal["MT", "MO"]


class StatusEntry(Model):
    status: str
    at: str
    detail: str | None = None


class PendingEvent(Model):
    """An event stored with the change that caused it and not yet confirmed as published.

    `lease_until` (epoch ms) marks the invocation publishing it; past it, the entry is abandoned and the next
    invocation touching the record publishes it, so a half-done callback is completed by the provider's retry.
    """

    detail_type: str
    detail: dict[str, Any]
    lease_until: int


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
    status_history: list[StatusEntry] = Field(default_factory=list)
    created_at: str
    updated_at: str
    # Bookkeeping, never shown to API callers.
    contact: str | None = None
    version: int = 0
    outbox: dict[str, PendingEvent] = Field(default_factory=dict)
    expires_at: int | None = None

    def public_view(self) -> dict[str, Any]:
        """The record as the record API returns it (the shape documented in the README): every field of the shape,
        and those only inbound messages have when they have them."""
        view = self.model_dump(include=PUBLIC_FIELDS)
        view.update(self.model_dump(include=INBOUND_FIELDS, exclude_none=True))
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
INBOUND_FIELDS = {"whatsapp_message_id", "text", "reason"}
