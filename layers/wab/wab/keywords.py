"""Opt-out and opt-in keywords: a customer who writes STOP (or taps a quick reply whose payload is STOP) opts out of
marketing; START opts back in. The whole message must be the keyword, matched without regard to case, accents,
punctuation, emoji or spacing ("Stop!", "stop 🛑", "ARRÊT" for a keyword "arret" all match; "stop sending me ads"
does not).
"""

import unicodedata
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from wab.models.inbound import InboundBase

Choice = Literal["opt_out", "opt_in"]
DEFAULT_OPT_OUT = "STOP,UNSUBSCRIBE,STOP PROMOTIONS"
DEFAULT_OPT_IN = "START"


def normalise(text: str) -> str:
    """Lower case, accents removed, only letters and digits kept, words single-spaced."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(
        character if unicodedata.category(character)[0] in "LN" else " "
        for character in decomposed
        if not unicodedata.combining(character)
    )
    return " ".join(kept.split())


def keyword_set(configured: str) -> frozenset[str]:
    return frozenset(filter(None, (normalise(keyword) for keyword in configured.split(","))))


def choice(message: "InboundBase", opt_out: frozenset[str], opt_in: frozenset[str]) -> Choice | None:
    """What the message asks for, if it is exactly a keyword (`keyword_text`: a text's body, or a quick-reply button's
    payload or, without one, its text)."""
    said = message.keyword_text()
    if said is None:
        return None
    words = normalise(said)
    if words in opt_out:
        return "opt_out"
    if words in opt_in:
        return "opt_in"
    return None
