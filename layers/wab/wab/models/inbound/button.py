"""A button message: the customer tapped a template's quick-reply button."""

from typing import Literal

from wab.models.inbound import InboundBase
from wab.models.types import OpenModel


class Button(OpenModel):
    """A quick-reply button of a template message."""

    payload: str | None = None
    text: str


class ButtonMessage(InboundBase):
    type: Literal["button"]
    button: Button

    def summary_text(self) -> str | None:
        return self.button.text

    def keyword_text(self) -> str | None:
        return self.button.payload or self.button.text
