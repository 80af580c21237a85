"""What WhatsApp itself reports about a chat: a system message (a changed number or identity), the customer opening
the chat for the first time, a message it could not pass on."""

from typing import Literal

from wab.models.inbound import InboundBase
from wab.models.types import OpenModel


class System(OpenModel):
    body: str | None = None
    type: str | None = None  # user_changed_number, customer_identity_changed, …
    new_wa_id: str | None = None
    wa_id: str | None = None
    identity: str | None = None
    customer: str | None = None


class SystemMessage(InboundBase):
    type: Literal["system"]
    system: System

    def summary_text(self) -> str | None:
        return self.system.body


class RequestWelcomeMessage(InboundBase):
    """The customer opened the chat for the first time; there is no message object."""

    type: Literal["request_welcome"]


class UnsupportedMessage(InboundBase):
    """WhatsApp could not pass the message on (errors hold the reason, e.g. 131051); everything is kept."""

    type: Literal["unsupported"]
