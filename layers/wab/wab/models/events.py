"""Details of the events the gateway publishes on EventBridge (source `wab.gateway`)."""

from typing import Any, ClassVar

from pydantic import BaseModel

SOURCE = "wab.gateway"


class EventDetail(BaseModel):
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
    content: dict[str, Any]
    received_at: str


class MessageStatusChanged(EventDetail):
    detail_type: ClassVar[str] = "WhatsApp Message Status Changed"

    message_id: str
    status: str
    previous_status: str
    reference: str | None = None
    destination: str | None = None
    detail: str | None = None
    occurred_at: str
