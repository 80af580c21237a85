"""A text message."""

from typing import Annotated, Literal

from pydantic import StringConstraints

from wab.models.outbound import MAX_TEXT, Content, NotBlank
from wab.models.types import StrictModel


class Text(StrictModel):
    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT), NotBlank]
    preview_url: bool | None = None


class TextContent(Content):
    type: Literal["text"]
    text: Text
