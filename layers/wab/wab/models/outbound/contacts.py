"""A contacts message: contact cards, whose options beyond the name pass through."""

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from wab.models.outbound import Content, NotBlank
from wab.models.types import OpenModel


class ContactNameToSend(OpenModel):
    formatted_name: Annotated[str, StringConstraints(min_length=1), NotBlank]


class ContactToSend(OpenModel):
    name: ContactNameToSend


class ContactsContent(Content):
    type: Literal["contacts"]
    contacts: Annotated[list[ContactToSend], Field(min_length=1, max_length=100)]
