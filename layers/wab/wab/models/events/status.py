"""A message's delivery status moved forward (a delivery report)."""

from typing import ClassVar

from wab.models.events import EventDetail


class MessageStatusChanged(EventDetail):
    detail_type: ClassVar[str] = "WhatsApp Message Status Changed"

    message_id: str
    status: str
    previous_status: str
    reference: str | None = None
    destination: str | None = None
    detail: str | None = None
    occurred_at: str
