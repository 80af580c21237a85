"""A template message (also what a free-form message falls back to outside the customer's window)."""

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from wab.models.outbound import Content
from wab.models.types import OpenModel, StrictModel


class TemplateLanguage(StrictModel):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,4})?$")]
    policy: Annotated[str, StringConstraints(max_length=32)] | None = None


class TemplateParameter(OpenModel):
    type: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class TemplateComponent(OpenModel):
    type: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    parameters: list[TemplateParameter] | None = None


class Template(StrictModel):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,512}$")]
    language: TemplateLanguage
    components: Annotated[list[TemplateComponent], Field(max_length=20)] | None = None


class TemplateContent(Content):
    type: Literal["template"]
    template: Template
