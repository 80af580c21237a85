"""A reaction to a message (an empty emoji removes it)."""

import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, StringConstraints

from wab.models.outbound import Content, Label
from wab.models.types import StrictModel


def _an_emoji(emoji: str) -> str:
    """An emoji itself, not its name: WhatsApp refuses `:thumbsup:` or `like`. Letters, spaces and controls are no
    part of one (joiners, variation selectors, tags, keycaps and code points newer than this Python's Unicode are);
    an emoji of ASCII alone (a digit, `#`) is a keycap's start, not an emoji."""
    if emoji and (all(char.isascii() for char in emoji) or any(map(_not_in_an_emoji, emoji))):
        raise ValueError("must be an emoji itself (or empty, to remove the reaction), not its name")
    return emoji


def _not_in_an_emoji(char: str) -> bool:
    category = unicodedata.category(char)
    if category == "Cf":  # invisible: only the joiner and a subdivision flag's tags build emoji
        return char != "\u200d" and not "\U000e0020" <= char <= "\U000e007f"
    return category[0] in "LZ" or category == "Cc"


class ReactionToSend(StrictModel):
    message_id: Label
    emoji: Annotated[str, StringConstraints(max_length=16), AfterValidator(_an_emoji)]  # "" removes the reaction


class ReactionContent(Content):
    type: Literal["reaction"]
    reaction: ReactionToSend
