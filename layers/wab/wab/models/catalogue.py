"""The template catalogue's entries: a template's name, language, category and the parameters each of its components
takes (`wab.catalogue` checks template sends against them)."""

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from wab.models.types import StrictModel

Category = Literal["marketing", "utility", "authentication"]
ParameterFormat = Literal["text", "currency", "date_time"]
HeaderFormat = Literal["text", "image", "video", "document", "location"]
ButtonType = Literal["quick_reply", "url", "copy_code", "flow", "otp", "phone_number", "catalog"]
Policy = Literal["enforce", "warn", "off"]


class HeaderSpec(StrictModel):
    format: HeaderFormat
    parameters: Annotated[int, Field(ge=0, le=1)] = 0  # a text header takes at most one


class BodySpec(StrictModel):
    parameters: Annotated[int, Field(ge=0, le=100)] = 0
    formats: list[ParameterFormat] | None = None  # one per parameter, when known

    @model_validator(mode="after")
    def a_format_per_parameter(self) -> "BodySpec":
        """A format list of another length says nothing sure of any parameter: which one would it describe?"""
        if self.formats is not None and len(self.formats) != self.parameters:
            raise ValueError(f"formats lists {len(self.formats)} formats for {self.parameters} parameters")
        return self


class ButtonSpec(StrictModel):
    type: ButtonType
    parameters: Annotated[int, Field(ge=0, le=1)] = 0


class TemplateSpec(StrictModel):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,512}$")]
    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,4})?$")]
    category: Category
    status: Literal["approved", "rejected"] = "approved"
    header: HeaderSpec | None = None
    body: BodySpec | None = None
    buttons: Annotated[list[ButtonSpec], Field(max_length=10)] = Field(default_factory=list)

    @property
    def key(self) -> str:
        return template_key(self.name, self.language)


class CatalogueFile(StrictModel):
    templates: list[TemplateSpec]


def template_key(name: str, language: str) -> str:
    return f"{name}#{language}"
