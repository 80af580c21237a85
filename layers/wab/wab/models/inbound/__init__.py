"""WhatsApp inbound message objects (the `content` of an MO callback), one model per message type.

The models are lenient where WhatsApp adds fields over time (unknown keys are kept) and strict where a value has a
meaning (a text body must be a string, coordinates numbers). The message type is decided by the `type` field only,
so null sibling objects (`"order": null` on a text message) never change it, and an unknown type is kept whole.
Content the models cannot type at all (a type's object missing or malformed, plain text) is not refused either: it
is kept whole as an `UntypedMessage` (type `unsupported`) with the reason it was not typed.

This module holds what every message has; each type's model lives in a module of its own (`MESSAGE_MODELS` says
which), imported when a message of that type first arrives: a cold start creates the classes of its own message only,
and a status callback none of them.
"""

import contextlib
import importlib
from functools import cache
from typing import Annotated, Any, Literal, cast

from pydantic import Field, StringConstraints, ValidationError

from wab.jsoncodec import encode
from wab.limits import has_unstorable_key, has_unstorable_number
from wab.models.types import OpenModel
from wab.models.validation import describe

# WhatsApp's message types are short names ("text", "request_welcome"); a longer or stranger `type` names no type (and
# would be stored several times over: in the record, its content and its event).
MessageType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
# WhatsApp message ids ("wamid.HBgL…="): printable ASCII and bounded, so that one can key an item (`WAMID#<id>`).


# WhatsApp message ids ("wamid.HBgL…="): printable ASCII and bounded, so that one can key an item (`WAMID#<id>`).
WhatsAppId = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,256}$")]
MAX_REASON_CHARS = 512


class ReferredProduct(OpenModel):
    catalog_id: str | None = None
    product_retailer_id: str | None = None


class Context(OpenModel):
    """What the message replies to, and whether it was forwarded."""

    from_: str | None = Field(default=None, alias="from")
    id: str | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None
    referred_product: ReferredProduct | None = None


class Referral(OpenModel):
    """Click-to-WhatsApp ad or post the customer came from."""

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None


class ErrorDetail(OpenModel):
    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: dict[str, Any] | None = None


class Identity(OpenModel):
    acknowledged: bool | None = None
    created_timestamp: str | int | None = None
    hash: str | None = None


class InboundBase(OpenModel):
    from_: str | None = Field(default=None, alias="from")
    id: WhatsAppId | None = None
    timestamp: str | int | None = None  # epoch seconds, a string in WhatsApp's payloads
    type: MessageType
    context: Context | None = None
    referral: Referral | None = None
    errors: list[ErrorDetail] | None = None
    identity: Identity | None = None

    def summary_text(self) -> str | None:
        """The human-readable text of the message, if it has one (body, caption, button or reply title)."""
        return None

    def keyword_text(self) -> str | None:
        """What a STOP or START keyword is matched against, if the message can be one: a text's body, or a quick-reply
        button's payload (or, without one, its text)."""
        return None

    def as_content(self) -> dict[str, Any]:
        """The message as stored and published: WhatsApp's own key names, nulls dropped, unknown keys kept."""
        return self.model_dump(by_alias=True, exclude_none=True)


class UnknownMessage(InboundBase):
    """A type this gateway does not know yet: kept raw (extra keys are preserved), never rejected."""


class MessageKeys(OpenModel):
    """The keys of a message object that say whose message it is and when, each kept only when it is valid."""

    from_: str | None = Field(default=None, alias="from")
    id: WhatsAppId | None = None
    timestamp: str | int | None = None


class UntypedMessage(InboundBase):
    """Content the models cannot type: kept whole as type `unsupported`, with the reason, never refused.

    `raw` is the content as it arrived (decoded from base64 or a JSON string when it was one): an object is stored and
    published as it is, anything else (plain text, a list, a number) as `{"raw": …}`.
    """

    type: Literal["unsupported"] = "unsupported"
    reason: str = Field(exclude=True)
    raw: Any = Field(default=None, exclude=True)

    def as_content(self) -> dict[str, Any]:
        return self.raw if isinstance(self.raw, dict) else {"raw": self.raw}


def untyped(raw: Any, reason: str) -> UntypedMessage:
    """`raw` kept as an unsupported message, with whichever of its `from`, `id` and `timestamp` are valid."""
    identity: dict[str, Any] = {}
    if isinstance(raw, dict):
        for key in ("from", "id", "timestamp"):
            with contextlib.suppress(ValidationError):
                identity.update(
                    MessageKeys.model_validate({key: raw.get(key)}).model_dump(by_alias=True, exclude_none=True)
                )
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    return UntypedMessage.model_validate({**identity, "reason": reason, "raw": raw})


# Each documented type, and the module and model that read it.
MESSAGE_MODELS: dict[str, str] = {
    "text": "text.TextMessage",
    "image": "media.ImageMessage",
    "video": "media.VideoMessage",
    "audio": "media.AudioMessage",
    "document": "media.DocumentMessage",
    "sticker": "media.StickerMessage",
    "location": "location.LocationMessage",
    "contacts": "contacts.ContactsMessage",
    "interactive": "interactive.InteractiveMessage",
    "button": "button.ButtonMessage",
    "reaction": "reaction.ReactionMessage",
    "order": "order.OrderMessage",
    "system": "notices.SystemMessage",
    "request_welcome": "notices.RequestWelcomeMessage",
    "unsupported": "notices.UnsupportedMessage",
    "edit": "changes.EditMessage",
    "revoke": "changes.RevokeMessage",
}


@cache
def model_for(kind: str) -> type[InboundBase]:
    """The model of a message type (UnknownMessage for a type not modelled), its module imported on first use."""
    if kind not in MESSAGE_MODELS:
        return UnknownMessage
    module, name = MESSAGE_MODELS[kind].rsplit(".", 1)
    return cast(type[InboundBase], getattr(importlib.import_module(f"{__name__}.{module}"), name))


def known_type(message: InboundBase) -> str:
    """The message's type when it is one WhatsApp documents, else "unknown": a bounded name, fit for a metric."""
    return message.type if message.type in MESSAGE_MODELS else "unknown"


def typed_or_kept(content: dict[str, Any], where: str = "content", *, refused: str | None = None) -> InboundBase:
    """The message as the model of its type, or kept whole as an `UntypedMessage` with the reason when the models
    cannot type it, or when what they make of it could not be stored: a key DynamoDB refuses anywhere (empty, or too
    long: kept as its JSON text), or a number DynamoDB or EventBridge cannot take (the codec keeps such numbers as
    text, which a model may turn back into a number: a price, an error code). `where` names the content in the
    reason; `refused`, a reason the caller has to keep it whole whatever its type."""
    message: InboundBase
    try:
        message = untyped(content, refused) if refused is not None else parse_message(content)
    except ValidationError as exc:
        message = untyped(content, describe(exc, prefix=f"{where}."))
    else:
        if refused is None and has_unstorable_number(message.as_content()):
            message = untyped(content, f"{where} has a number DynamoDB or EventBridge cannot take as a number")
    if has_unstorable_key(message.as_content()):  # in the content, or in what a model decoded (a flow's response_json)
        return untyped(encode(content), f"{where} has a key DynamoDB cannot store (empty, or of 64 KB or more)")
    return message


def parse_message(content: dict[str, Any]) -> InboundBase:
    """The message as the model of its `type` (UnknownMessage for a type not modelled); ValidationError if invalid.

    Dispatching on `type` rather than validating a union of every model means a function creates the model of each
    message type, and builds its validator, when it first receives one, not all of them on its cold start.
    """
    kind = content.get("type")
    return (model_for(kind) if isinstance(kind, str) else UnknownMessage).model_validate(content)


def dump_message(message: InboundBase) -> dict[str, Any]:
    """The normalised message as stored and published: WhatsApp's own key names, nulls dropped, unknown keys kept."""
    return message.as_content()
