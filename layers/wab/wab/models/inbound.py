"""WhatsApp inbound message objects (the `content` of an MO callback), one model per message type.

The models are lenient where WhatsApp adds fields over time (unknown keys are kept) and strict where a value has a
meaning (a text body must be a string, coordinates numbers). The message type is decided by the `type` field only,
so null sibling objects (`"order": null` on a text message) never change it, and an unknown type is kept whole.
Content the models cannot type at all (a type's object missing or malformed, plain text) is not refused either: it
is kept whole as an `UntypedMessage` (type `unsupported`) with the reason it was not typed.
"""

import contextlib
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationError, computed_field, field_validator

from wab.errors import InvalidPayload
from wab.jsoncodec import decode, encode
from wab.limits import has_empty_key, has_unstorable_number
from wab.models.types import OpenModel
from wab.models.validation import describe

# WhatsApp's message types are short names ("text", "request_welcome"); a longer or stranger `type` names no type (and
# would be stored several times over: in the record, its content and its event).
MessageType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
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

    def as_content(self) -> dict[str, Any]:
        """The message as stored and published: WhatsApp's own key names, nulls dropped, unknown keys kept."""
        return self.model_dump(by_alias=True, exclude_none=True)


class TextBody(OpenModel):
    body: str
    preview_url: bool | None = None


class TextMessage(InboundBase):
    type: Literal["text"]
    text: TextBody

    def summary_text(self) -> str | None:
        return self.text.body


class Media(OpenModel):
    id: str
    mime_type: str | None = None
    sha256: str | None = None
    url: str | None = None


class CaptionedMedia(Media):
    caption: str | None = None


class Document(CaptionedMedia):
    filename: str | None = None


class Audio(Media):
    voice: bool | None = None  # true for a recorded voice note, false or absent for an audio file


class Sticker(Media):
    animated: bool | None = None


class ImageMessage(InboundBase):
    type: Literal["image"]
    image: CaptionedMedia

    def summary_text(self) -> str | None:
        return self.image.caption


class VideoMessage(InboundBase):
    type: Literal["video"]
    video: CaptionedMedia

    def summary_text(self) -> str | None:
        return self.video.caption


class AudioMessage(InboundBase):
    type: Literal["audio"]
    audio: Audio


class DocumentMessage(InboundBase):
    type: Literal["document"]
    document: Document

    def summary_text(self) -> str | None:
        return self.document.caption


class StickerMessage(InboundBase):
    type: Literal["sticker"]
    sticker: Sticker


class Location(OpenModel):
    latitude: Decimal
    longitude: Decimal
    name: str | None = None
    address: str | None = None
    url: str | None = None

    @field_validator("latitude", "longitude", mode="before")
    @classmethod
    def numbers_only(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
            raise ValueError("must be a number")
        return value


class LocationMessage(InboundBase):
    type: Literal["location"]
    location: Location

    def summary_text(self) -> str | None:
        return self.location.name


class ContactName(OpenModel):
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class ContactPhone(OpenModel):
    phone: str | None = None
    type: str | None = None
    wa_id: str | None = None


class Contact(OpenModel):
    name: ContactName | None = None
    phones: list[ContactPhone] | None = None
    emails: list[dict[str, Any]] | None = None
    addresses: list[dict[str, Any]] | None = None
    org: dict[str, Any] | None = None
    urls: list[dict[str, Any]] | None = None
    birthday: str | None = None


class ContactsMessage(InboundBase):
    type: Literal["contacts"]
    contacts: list[Contact]


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


class Button(OpenModel):
    """A quick-reply button of a template message."""

    payload: str | None = None
    text: str


class ButtonMessage(InboundBase):
    type: Literal["button"]
    button: Button

    def summary_text(self) -> str | None:
        return self.button.text


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


class ProductItem(OpenModel):
    product_retailer_id: str
    quantity: int | Decimal
    item_price: Decimal
    currency: str


class Order(OpenModel):
    catalog_id: str
    text: str | None = None
    product_items: list[ProductItem]


class OrderMessage(InboundBase):
    type: Literal["order"]
    order: Order

    def summary_text(self) -> str | None:
        return self.order.text


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


class Edit(OpenModel):
    """The customer edited a message they had sent (text, or a caption): `message` is its new content, a message
    object without `from`, `id` and `timestamp` (WhatsApp sends `edit` webhooks within 15 minutes of the original)."""

    original_message_id: WhatsAppId
    message: Any = None


class EditMessage(InboundBase):
    type: Literal["edit"]
    edit: Edit

    def new_message(self) -> "InboundBase":
        """The edited message's new content, typed, or kept whole with the reason when the models cannot type it."""
        content = self.edit.message
        if not isinstance(content, dict):
            return untyped(content, "edit.message is not a WhatsApp message object (a JSON object)")
        return typed_or_kept(content, where="edit.message")

    def as_content(self) -> dict[str, Any]:
        """The edit as its own record keeps it: which message it edits, not the new content (that goes on the
        edited message's record, and leaves the store with it when the customer deletes the message)."""
        content = super().as_content()
        content["edit"].pop("message", None)
        return content


class Revoke(OpenModel):
    """The customer deleted a message they had sent, for everyone (within two days of sending it)."""

    original_message_id: WhatsAppId


class RevokeMessage(InboundBase):
    type: Literal["revoke"]
    revoke: Revoke


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


MESSAGE_MODELS: dict[str, type[InboundBase]] = {
    "text": TextMessage,
    "image": ImageMessage,
    "video": VideoMessage,
    "audio": AudioMessage,
    "document": DocumentMessage,
    "sticker": StickerMessage,
    "location": LocationMessage,
    "contacts": ContactsMessage,
    "interactive": InteractiveMessage,
    "button": ButtonMessage,
    "reaction": ReactionMessage,
    "order": OrderMessage,
    "system": SystemMessage,
    "request_welcome": RequestWelcomeMessage,
    "unsupported": UnsupportedMessage,
    "edit": EditMessage,
    "revoke": RevokeMessage,
}


def known_type(message: InboundBase) -> str:
    """The message's type when it is one WhatsApp documents, else "unknown": a bounded name, fit for a metric."""
    return message.type if message.type in MESSAGE_MODELS else "unknown"


def typed_or_kept(content: dict[str, Any], where: str = "content") -> InboundBase:
    """The message as the model of its type, or kept whole as an `UntypedMessage` with the reason when the models
    cannot type it, or when what they make of it could not be stored: an empty key anywhere (kept as its JSON text),
    or a number DynamoDB or EventBridge cannot take (the codec keeps such numbers as text, which a model may turn back
    into a number: a price, an error code). `where` names the content in the reason."""
    message: InboundBase
    try:
        message = parse_message(content)
    except ValidationError as exc:
        message = untyped(content, describe(exc, prefix=f"{where}."))
    else:
        if has_unstorable_number(message.as_content()):
            message = untyped(content, f"{where} has a number DynamoDB or EventBridge cannot take as a number")
    if has_empty_key(message.as_content()):  # in the content, or in what a model decoded (a flow's response_json)
        return untyped(encode(content), f"{where} has an empty key, which DynamoDB cannot store")
    return message


def parse_message(content: dict[str, Any]) -> InboundBase:
    """The message as the model of its `type` (UnknownMessage for a type not modelled); ValidationError if invalid.

    Dispatching on `type` rather than validating a union of every model means a function builds the validator of
    each message type when it first receives one, not all of them on its cold start.
    """
    kind = content.get("type")
    model = MESSAGE_MODELS.get(kind, UnknownMessage) if isinstance(kind, str) else UnknownMessage
    return model.model_validate(content)


def dump_message(message: InboundBase) -> dict[str, Any]:
    """The normalised message as stored and published: WhatsApp's own key names, nulls dropped, unknown keys kept."""
    return message.as_content()
