"""A template message (also what a free-form message falls back to outside the customer's window)."""

import re
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from wab.models.outbound import Content
from wab.models.types import OpenModel, StrictModel

# WhatsApp refuses a text parameter holding a newline or a tab, or more than four spaces in a row ("Param text cannot
# have new-line/tab characters or more than 4 consecutive spaces"): the approved template carries the layout.
_NOT_IN_PARAMETER_TEXT = re.compile(r"[\n\r\t]| {5}")
# The parameter types whose value is an object under the type's own name, and what that object cannot be without.
_OBJECT_VALUES: dict[str, tuple[tuple[str, ...], ...]] = {
    "currency": (("fallback_value",), ("code",), ("amount_1000",)),
    "date_time": (("fallback_value",),),
    "image": (("id", "link"),),
    "video": (("id", "link"),),
    "document": (("id", "link"),),
}
_TEXT_VALUES = ("text", "payload", "coupon_code")  # types whose value is a string under the type's own name


class TemplateLanguage(StrictModel):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,4})?$")]
    policy: Annotated[str, StringConstraints(max_length=32)] | None = None


class TemplateParameter(OpenModel):
    type: Annotated[str, StringConstraints(min_length=1, max_length=32)]

    @model_validator(mode="after")
    def has_its_value(self) -> "TemplateParameter":
        """A parameter WhatsApp would refuse for its value is refused before the provider is called; types not known
        here go as they are."""
        value = (self.model_extra or {}).get(self.type)
        if self.type in _TEXT_VALUES:
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"a parameter of type {self.type} needs {self.type!r}: a non-blank string")
            if self.type == "text" and _NOT_IN_PARAMETER_TEXT.search(value):
                raise ValueError(
                    "a text parameter cannot hold a newline, a tab or more than four spaces in a row (WhatsApp "
                    "refuses it; the template's own text carries its layout)"
                )
        elif self.type in _OBJECT_VALUES:
            missing = [
                " or ".join(map(repr, names)) for names in _OBJECT_VALUES[self.type] if not _has_any(value, names)
            ]
            if missing:
                wanted = ", ".join(missing)
                raise ValueError(f"a parameter of type {self.type} needs {self.type!r}: an object with {wanted}")
        return self


def _has_any(value: Any, names: tuple[str, ...]) -> bool:
    return isinstance(value, dict) and any(value.get(name) not in (None, "") for name in names)


class TemplateComponent(OpenModel):
    type: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    parameters: list[TemplateParameter] | None = None

    def slot(self) -> str:
        """Which part of the template this fills: its type, and a button's index (`"0"`, `0` and `" 0"` are one)."""
        if self.type != "button":
            return self.type
        index = str((self.model_extra or {}).get("index", "?")).strip()
        return f"button {int(index) if index.isdigit() else index}"


class Template(StrictModel):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,512}$")]
    language: TemplateLanguage
    components: Annotated[list[TemplateComponent], Field(max_length=20)] | None = None

    @model_validator(mode="after")
    def each_part_once(self) -> "Template":
        """Two components filling the same part (two bodies, two buttons of one index): which one is meant?"""
        slots = [component.slot() for component in self.components or []]
        if repeated := sorted({slot for slot in slots if slots.count(slot) > 1}):
            raise ValueError(f"components fill {', '.join(repeated)} more than once")
        return self


class TemplateContent(Content):
    type: Literal["template"]
    template: Template
