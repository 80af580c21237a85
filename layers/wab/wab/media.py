"""Media to upload from S3: the object's type and size first, then its bytes as a stream; WhatsApp's rules for both."""

import mimetypes
from typing import IO, Any, NamedTuple

from botocore.exceptions import ClientError

from wab import aws
from wab.models.commands import MediaKind
from wab.provider import OpenFile

GENERIC_CONTENT_TYPES = {"", "binary/octet-stream", "application/octet-stream"}
MISSING_OBJECT_CODES = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")
FORBIDDEN_CODES = ("403", "AccessDenied", "Forbidden", "AllAccessDisabled")
SIZE_LIMITS: dict[str, int] = {  # WhatsApp's limits per media kind
    "image": 5 * 1024 * 1024,
    "video": 16 * 1024 * 1024,
    "audio": 16 * 1024 * 1024,
    "document": 100 * 1024 * 1024,
    "sticker": 500 * 1024,
}
MIME_TYPES: dict[str, frozenset[str]] = {  # what WhatsApp takes for each media kind
    "image": frozenset({"image/jpeg", "image/png"}),
    "video": frozenset({"video/mp4", "video/3gpp"}),
    "audio": frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
    "document": frozenset(
        {
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        }
    ),
    "sticker": frozenset({"image/webp"}),
}


class StoredObject(NamedTuple):
    content_type: str
    length: int


class MediaForbidden(Exception):
    """The gateway may not read this object: its bucket is not one it uploads from, or S3 refused access."""


class MediaBucket:
    """Reads objects to upload, from the configured buckets only (a command must not make the gateway read, and pass
    to the provider, whatever its role happens to reach)."""

    def __init__(self, allowed: frozenset[str]):
        self.allowed = allowed

    def head(self, bucket: str, key: str) -> StoredObject | None:
        """The object's type and size, or None when there is no such object; MediaForbidden when it may not be read."""
        if bucket not in self.allowed:
            raise MediaForbidden(f"s3://{bucket} is not one of the buckets this gateway uploads media from")
        try:
            with aws.dependency("S3 HeadObject", expected=MISSING_OBJECT_CODES + FORBIDDEN_CODES):
                head = aws.client("s3").head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if aws.error_code(exc) in FORBIDDEN_CODES:
                raise MediaForbidden(f"S3 refused the gateway access to s3://{bucket}") from None
            return None
        return StoredObject(head.get("ContentType") or "", int(head["ContentLength"]))

    def opener(self, bucket: str, key: str) -> OpenFile:
        def open_file() -> tuple[IO[bytes], int]:
            with aws.dependency("S3 GetObject"):
                answer: dict[str, Any] = aws.client("s3").get_object(Bucket=bucket, Key=key)
            return answer["Body"], int(answer["ContentLength"])

        return open_file


def content_type(stored: str, key: str) -> str:
    """The object's own ContentType, unless it is a generic one: then the type its name suggests. As WhatsApp lists
    its types: lower case, without parameters (`IMAGE/JPEG; x=1` is `image/jpeg`)."""
    main = stored.split(";")[0].strip().lower()
    if main not in GENERIC_CONTENT_TYPES:
        return main
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def kind_of(mime_type: str) -> MediaKind:
    """WhatsApp's media kind for a MIME type (its stickers are WebP images)."""
    main = mime_type.split(";")[0].strip().lower()
    if main == "image/webp":
        return "sticker"
    if main.startswith("image/"):
        return "image"
    if main.startswith("video/"):
        return "video"
    if main.startswith("audio/"):
        return "audio"
    return "document"


def refusal(kind: MediaKind, mime_type: str, length: int) -> tuple[str, str] | None:
    """(code, reason) when WhatsApp would refuse this object as this kind of media, or None when it takes it: so the
    caller is told before the upload, not by the provider after the bytes have gone."""
    article = "an" if kind[0] in "aeiou" else "a"
    main = mime_type.split(";")[0].strip().lower()
    if main not in MIME_TYPES[kind]:
        return "media_unsupported_type", (
            f"WhatsApp takes {article} {kind} as {', '.join(sorted(MIME_TYPES[kind]))}; the object is {main}"
        )
    if length == 0:
        return "media_empty", "the object is empty"
    limit = SIZE_LIMITS[kind]
    if length > limit:
        return (
            "media_too_large",
            f"the {kind} is {length} bytes; WhatsApp takes up to {limit} bytes for {article} {kind}",
        )
    return None
