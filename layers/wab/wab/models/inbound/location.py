"""A location message: coordinates must be numbers."""

from decimal import Decimal
from typing import Any, Literal

from pydantic import field_validator

from wab.models.inbound import InboundBase
from wab.models.types import OpenModel


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
