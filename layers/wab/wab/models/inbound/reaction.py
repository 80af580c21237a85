"""A reaction message: an emoji on a message, or its removal."""

from typing import Literal

from pydantic import computed_field

from wab.models.inbound import InboundBase
from wab.models.types import OpenModel


class Reaction(OpenModel):
    message_id: str
    emoji: str | None = None

    @computed_field  # type: ignore[prop-decorator]  # mypy rejects any decorator over @property; pydantic needs it
    @property
    def removed(self) -> bool:
        """WhatsApp removes a reaction by sending it again with the emoji omitted or empty."""
        return not self.emoji


class ReactionMessage(InboundBase):
    type: Literal["reaction"]
    reaction: Reaction
