"""A reaction to a message (an empty emoji removes it)."""

from typing import Annotated, Literal

from pydantic import StringConstraints

from wab.models.outbound import Content, Label
from wab.models.types import StrictModel


class ReactionToSend(StrictModel):
    message_id: Label
    emoji: Annotated[str, StringConstraints(max_length=16)]  # "" removes the reaction


class ReactionContent(Content):
    type: Literal["reaction"]
    reaction: ReactionToSend
