"""A contacts message: contact cards the customer shared."""

from typing import Any, Literal

from wab.models.inbound import InboundBase
from wab.models.types import OpenModel


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
