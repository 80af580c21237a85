"""What a message command sends: the WhatsApp message type and its object, one model per type.

This module holds what every type shares; each type's models live in a module of their own (`CONTENT_MODELS` says
which), imported when a command of that type first arrives: a sender's cold start creates the classes of the types
it sends, not of all eleven (the same as `wab.models.inbound` does for what customers send).
"""

import importlib
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Union, cast

from pydantic import AfterValidator, GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from wab.models.types import StrictModel

MAX_TEXT = 4096
MAX_CAPTION = 1024


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")  # WhatsApp refuses a required text of spaces as missing
    return value


NotBlank = AfterValidator(_not_blank)  # for what WhatsApp requires: `Annotated[str, StringConstraints(…), NotBlank]`
Caption = Annotated[str, StringConstraints(max_length=MAX_CAPTION)]
Link = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=256), NotBlank]


class Content(StrictModel):
    type: str

    @property
    def free_form(self) -> bool:
        """Only templates may be sent outside the customer's 24-hour window."""
        return self.type != "template"

    def wire(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


# Each message type a command may send, and the module and model that read it.
CONTENT_MODELS: dict[str, str] = {
    "text": "text.TextContent",
    "template": "template.TemplateContent",
    "image": "media.ImageContent",
    "video": "media.VideoContent",
    "audio": "media.AudioContent",
    "document": "media.DocumentContent",
    "sticker": "media.StickerContent",
    "location": "location.LocationContent",
    "contacts": "contacts.ContactsContent",
    "interactive": "interactive.InteractiveContent",
    "reaction": "reaction.ReactionContent",
}
MESSAGE_TYPES = tuple(CONTENT_MODELS)
CONTENT_KEYS = ("type", *MESSAGE_TYPES)


@cache
def content_model(kind: str) -> type[Content]:
    """The model of a message type, its module imported on first use."""
    module, name = CONTENT_MODELS[kind].rsplit(".", 1)
    return cast(type[Content], getattr(importlib.import_module(f"{__name__}.{module}"), name))


def validate_content(value: Any) -> Content:
    """The message as the model its `type` names (an error at the message itself when it names none)."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str) or kind not in CONTENT_MODELS:
        raise PydanticCustomError("unknown_message_type", f"type must be one of {', '.join(MESSAGE_TYPES)}")
    return content_model(kind).model_validate(value)


class _ByType:
    """Validates a message with the model of its type only, so no validator is built for the other types; its JSON
    schema is still the union of every type's (`tools/schemas.py` spells each one out)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # Serialised as what it is: the type's own model, with the caller's options (mode, exclude_none, …).
        as_itself = core_schema.plain_serializer_function_ser_schema(lambda content: content)
        return core_schema.no_info_plain_validator_function(validate_content, serialization=as_itself)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        union: Any = Union[tuple(content_model(kind) for kind in CONTENT_MODELS)]  # noqa: UP007
        return handler(TypeAdapter(union).core_schema)


if TYPE_CHECKING:
    MessageContent = Content
else:
    MessageContent = Annotated[Content, _ByType]
