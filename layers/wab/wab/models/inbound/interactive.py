"""An interactive message: the customer's answer to buttons, a list or a WhatsApp Flow."""

from typing import Any, Literal

from pydantic import field_validator

from wab.errors import InvalidPayload
from wab.jsoncodec import decode
from wab.models.inbound import InboundBase
from wab.models.types import OpenModel


class ButtonReply(OpenModel):
    id: str
    title: str | None = None


class ListReply(ButtonReply):
    description: str | None = None


class FlowReply(OpenModel):
    """A WhatsApp Flow's answer; `response_json` arrives as a JSON string and is decoded when it is JSON."""

    name: str | None = None
    body: str | None = None
    response_json: Any = None

    @field_validator("response_json", mode="before")
    @classmethod
    def decode_response_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return decode(value, what="nfm_reply.response_json")
            except InvalidPayload:
                return value  # keep what the customer sent rather than lose the reply
        return value


class Interactive(OpenModel):
    type: str
    button_reply: ButtonReply | None = None
    list_reply: ListReply | None = None
    nfm_reply: FlowReply | None = None


class InteractiveMessage(InboundBase):
    type: Literal["interactive"]
    interactive: Interactive

    def summary_text(self) -> str | None:
        reply = self.interactive.button_reply or self.interactive.list_reply
        return reply.title if reply else None
