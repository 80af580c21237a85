"""What the provider posts to the callback routes: lenient about spelling and extra keys, strict about values."""

from typing import Annotated, Any

from pydantic import AliasChoices, Field, StringConstraints, field_validator, model_validator

from wab.jsoncodec import NumberText
from wab.models.types import OpenModel, PhoneNumber, ProviderId, Reference, ShortText, number_digits

DESTINATION_NAMES = ("destination", "Destination", "to")
Status = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]{1,32}$")]


class MoCallback(OpenModel):
    """An inbound message: `content` is a WhatsApp message object, a JSON string of one, or base64 of one."""

    id: ProviderId
    source: PhoneNumber
    destination: PhoneNumber = Field(validation_alias=AliasChoices(*DESTINATION_NAMES))
    content: Any = None  # missing content is content all the same (kept as `unsupported`), not a broken envelope
    encoding: str | None = None
    # A key of the provider's SMS-style MOs, accepted when present. Its others (`reply_to`, `operator`) are used for
    # nothing, so they are kept as unknown keys are, whatever they hold: no customer's message is lost over them.
    reference: Reference | None = None

    @model_validator(mode="before")
    @classmethod
    def one_destination(cls, data: Any) -> Any:
        """The business number spelt several ways, naming two numbers: which one the message was sent to cannot be
        known."""
        if isinstance(data, dict):
            given = [_spelling(data[name]) for name in DESTINATION_NAMES if name in data]
            if any(value != given[0] for value in given[1:]):
                raise ValueError(f"{', '.join(DESTINATION_NAMES)} name different numbers")
        return data


def _spelling(number: Any) -> Any:
    """A number as its digits, with or without the plus: `+1234567890` and `1234567890` name one number."""
    return number_digits(number) if isinstance(number, str) else number


class DlrCallback(OpenModel):
    """A delivery status: the WAB shape `{id, status, reference}` or the SMS v2 shape
    `{message_id, status, detail, reference}`.
    """

    id: ProviderId = Field(validation_alias=AliasChoices("id", "message_id"))
    status: Status
    reference: Reference | None = None
    detail: ShortText | None = None

    @model_validator(mode="before")
    @classmethod
    def one_message(cls, data: Any) -> Any:
        """Both spellings of the id, naming two messages: which one the status is of cannot be known."""
        if isinstance(data, dict) and "id" in data and "message_id" in data and data["id"] != data["message_id"]:
            raise ValueError("id and message_id name different messages")
        return data

    @field_validator("status")
    @classmethod
    def lower_case(cls, value: str) -> str:
        return value.lower()

    @field_validator("detail", mode="before")
    @classmethod
    def detail_as_text(cls, value: Any) -> Any:
        """A provider's numeric error code is its detail, as text (however many digits it has)."""
        numeric = (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, NumberText)
        return str(value) if numeric else value
