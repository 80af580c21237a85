"""Small annotated types shared by the models."""

import hashlib
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints
from pydantic_core import PydanticCustomError

from wab.jsoncodec import NumberText


def _text_not_number(value: Any) -> Any:
    """A number too large for a JSON integer the codec takes (kept as its text, `NumberText`) is still a number: a
    field that must be a string refuses it as it refuses any other number."""
    if isinstance(value, NumberText):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    return value


_NO_NUMBERS = BeforeValidator(_text_not_number)
# Provider ids are UUIDs; WhatsApp ids look like "wamid.HBgL…=". Both fit a bounded, URL- and key-safe alphabet.
PROVIDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:=+-]{0,199}$"
ProviderId = Annotated[str, StringConstraints(pattern=PROVIDER_ID_PATTERN), _NO_NUMBERS]
# Business numbers can be long digit strings ("167141142137144145111111"); customers are E.164 with or without "+".
PhoneNumber = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{1,32}$"), _NO_NUMBERS]
Reference = Annotated[str, StringConstraints(max_length=256), _NO_NUMBERS]
ShortText = Annotated[str, StringConstraints(max_length=1024), _NO_NUMBERS]


class Model(BaseModel):
    """The base of every wab model. A model's validator is built when it is first used, not on import: a function
    imports many models and one invocation uses a few, so this keeps them off the cold start (bench/report.md)."""

    model_config = ConfigDict(defer_build=True)


class OpenModel(Model):
    """What others send us or may extend (WhatsApp objects, provider answers): keys beyond those modelled are kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class StrictModel(Model):
    """What callers give the gateway to act on: an unknown key is a mistake worth telling them about."""

    model_config = ConfigDict(extra="forbid")


def canonical_number(number: str) -> str:
    """One spelling per contact ("+64…"), whether the provider wrote the number with or without the plus."""
    return number if number.startswith("+") else f"+{number}"


def number_digits(number: str) -> str:
    """A business number as its digits alone, whether written with the plus or not: how the configured rates and the
    rate budgets know it."""
    return number.lstrip("+")


def contact_hash(number: str) -> str:
    """SHA-256 (hex) of the number as `canonical_number` spells it: names a contact without repeating its number."""
    return hashlib.sha256(canonical_number(number).encode()).hexdigest()


def dynamodb_number(value: Decimal) -> bool:
    """Whether DynamoDB can store the number as it is: 38 significant digits, magnitude within 1E-130..1E+126."""
    if not value.is_finite():
        return False
    if value.is_zero():
        return True
    digits = "".join(map(str, value.as_tuple().digits)).strip("0")  # normalize() would round to the context's 28
    return len(digits) <= 38 and -130 <= value.adjusted() <= 125
