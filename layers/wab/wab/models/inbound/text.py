"""A text message."""

from typing import Literal

from wab.models.inbound import InboundBase
from wab.models.types import OpenModel


class TextBody(OpenModel):
    body: str
    preview_url: bool | None = None


class TextMessage(InboundBase):
    type: Literal["text"]
    text: TextBody

    def summary_text(self) -> str | None:
        return self.text.body

    def keyword_text(self) -> str | None:
        return self.text.body
