"""A reaction to a message (an empty emoji removes it)."""

from typing import Annotated, Literal

from pydantic import AfterValidator, StringConstraints

from wab.models.outbound import Content, Label
from wab.models.types import StrictModel

_JOINERS = "\u200d\ufe0f\u20e3"  # zero-width joiner, emoji presentation, keycap: parts of one emoji


def _an_emoji(emoji: str) -> str:
    """An emoji itself, not its name: WhatsApp refuses `:thumbsup:` or `like`. Letters, spaces and invisible
    characters are no part of one; an emoji of ASCII alone (a digit, `#`) is a keycap's start, not an emoji."""
    if emoji and (all(char.isascii() for char in emoji) or any(map(_not_in_an_emoji, emoji))):
        raise ValueError("must be an emoji itself (or empty, to remove the reaction), not its name")
    return emoji


def _not_in_an_emoji(char: str) -> bool:
    return (char.isascii() and (char.isalpha() or char.isspace())) or (not char.isprintable() and char not in _JOINERS)


class ReactionToSend(StrictModel):
    message_id: Label
    emoji: Annotated[str, StringConstraints(max_length=16), AfterValidator(_an_emoji)]  # "" removes the reaction


class ReactionContent(Content):
    type: Literal["reaction"]
    reaction: ReactionToSend
