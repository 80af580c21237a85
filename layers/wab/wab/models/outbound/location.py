"""A location message."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from wab.jsoncodec import NumberText
from wab.models.outbound import Content
from wab.models.types import StrictModel, dynamodb_number

UNSTORABLE_NUMBER = "must have at most 38 significant digits and not be smaller than 1E-130"


class LocationToSend(StrictModel):
    latitude: Annotated[Decimal, Field(ge=-90, le=90)]
    longitude: Annotated[Decimal, Field(ge=-180, le=180)]
    name: Annotated[str, StringConstraints(max_length=1000)] | None = None
    address: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @field_validator("latitude", "longitude", mode="before")
    @classmethod
    def numbers_only(cls, value: Any) -> Any:
        if isinstance(value, NumberText):  # the codec keeps a number DynamoDB cannot hold as its text
            raise ValueError(UNSTORABLE_NUMBER)
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            raise ValueError("must be a number")
        return value

    @field_validator("latitude", "longitude")
    @classmethod
    def storable(cls, value: Decimal) -> Decimal:
        """The number goes into the MT record: refuse before sending what DynamoDB could not store after."""
        if not dynamodb_number(value):
            raise ValueError(UNSTORABLE_NUMBER)
        return value


class LocationContent(Content):
    type: Literal["location"]
    location: LocationToSend
