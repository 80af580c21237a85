"""Image, video, audio, document and sticker messages: a media object the provider holds, by id."""

from typing import Literal

from wab.models.inbound import InboundBase
from wab.models.types import OpenModel


class Media(OpenModel):
    id: str
    mime_type: str | None = None
    sha256: str | None = None
    url: str | None = None


class CaptionedMedia(Media):
    caption: str | None = None


class Document(CaptionedMedia):
    filename: str | None = None


class Audio(Media):
    voice: bool | None = None  # true for a recorded voice note, false or absent for an audio file


class Sticker(Media):
    animated: bool | None = None


class ImageMessage(InboundBase):
    type: Literal["image"]
    image: CaptionedMedia

    def summary_text(self) -> str | None:
        return self.image.caption


class VideoMessage(InboundBase):
    type: Literal["video"]
    video: CaptionedMedia

    def summary_text(self) -> str | None:
        return self.video.caption


class AudioMessage(InboundBase):
    type: Literal["audio"]
    audio: Audio


class DocumentMessage(InboundBase):
    type: Literal["document"]
    document: Document

    def summary_text(self) -> str | None:
        return self.document.caption


class StickerMessage(InboundBase):
    type: Literal["sticker"]
    sticker: Sticker
