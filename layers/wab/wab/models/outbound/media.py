"""Media messages: image, video, audio, document and sticker, by an uploaded media id or a link."""

from typing import Annotated, Literal

from pydantic import StringConstraints, model_validator

from wab.models.outbound import Caption, Content, Label, Link
from wab.models.types import StrictModel


class MediaToSend(StrictModel):
    """An uploaded media `id` or a public `link`, exactly one of them."""

    id: Label | None = None
    link: Link | None = None

    @model_validator(mode="after")
    def one_source(self) -> "MediaToSend":
        if (self.id is None) == (self.link is None):
            raise ValueError("give exactly one of id (an uploaded media id) or link")
        return self


class CaptionedMediaToSend(MediaToSend):
    caption: Caption | None = None


class DocumentMediaToSend(CaptionedMediaToSend):
    filename: Annotated[str, StringConstraints(min_length=1, max_length=240)] | None = None


class ImageContent(Content):
    type: Literal["image"]
    image: CaptionedMediaToSend


class VideoContent(Content):
    type: Literal["video"]
    video: CaptionedMediaToSend


class AudioContent(Content):
    type: Literal["audio"]
    audio: MediaToSend


class DocumentContent(Content):
    type: Literal["document"]
    document: DocumentMediaToSend


class StickerContent(Content):
    type: Literal["sticker"]
    sticker: MediaToSend
