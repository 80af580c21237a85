"""Media uploads: the `file` part of a multipart body, checked against WhatsApp's MIME types and size limits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from email.message import Message

from local.simulator.validation import ApiError

# What WhatsApp accepts per media kind: (MIME types, size limit in bytes).
MEDIA_LIMITS: dict[str, tuple[frozenset[str], int]] = {
    "image": (frozenset({"image/jpeg", "image/png"}), 5 * 1024 * 1024),
    "video": (frozenset({"video/mp4", "video/3gpp"}), 16 * 1024 * 1024),
    "audio": (frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}), 16 * 1024 * 1024),
    "document": (
        frozenset(
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
        100 * 1024 * 1024,
    ),
    "sticker": (frozenset({"image/webp"}), 500 * 1024),
}
MAX_UPLOAD_BYTES = 100 * 1024 * 1024 + 64 * 1024  # the largest file WhatsApp takes, plus multipart framing


@dataclass(frozen=True)
class UploadedFile:
    filename: str | None
    content_type: str
    data: bytes


def media_error(code: str, description: str) -> ApiError:
    return ApiError(422, {"errors": [{"field": "file", "code": code, "description": description}]})


def read_upload(content_type: str, body: bytes) -> UploadedFile:
    """The `file` part of a multipart/form-data body, checked against WhatsApp's MIME types and size limits."""
    upload = _multipart_file(content_type, body)
    if upload is None:
        raise media_error("missing_file", "a multipart/form-data field named 'file' is required")
    if not upload.data:
        raise media_error("empty_file", "the file is empty")
    kind = media_kind(upload.content_type)
    if kind is None:
        raise media_error("unsupported_mime_type", f"WhatsApp does not accept {upload.content_type!r}")
    limit = MEDIA_LIMITS[kind][1]
    if len(upload.data) > limit:
        raise media_error("file_too_large", f"{kind} files are limited to {limit} bytes, got {len(upload.data)}")
    return upload


def media_kind(content_type: str) -> str | None:
    for kind, (mime_types, _) in MEDIA_LIMITS.items():
        if content_type in mime_types:
            return kind
    return None


def _header_with_params(name: str, value: str) -> Message:
    header = Message()
    header[name] = value
    return header


def _multipart_file(content_type: str, body: bytes) -> UploadedFile | None:
    envelope = _header_with_params("content-type", content_type)
    boundary = envelope.get_param("boundary")
    if envelope.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        return None
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = _part_headers(head)
        disposition = _header_with_params("content-disposition", headers.get("content-disposition", ""))
        if disposition.get_param("name", header="content-disposition") != "file":
            continue
        part_type = _header_with_params("content-type", headers.get("content-type", "application/octet-stream"))
        filename = disposition.get_param("filename", header="content-disposition")
        return UploadedFile(
            filename if isinstance(filename, str) else None, part_type.get_content_type(), data.removesuffix(b"\r\n")
        )
    return None


def _part_headers(head: bytes) -> dict[str, str]:
    headers = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        name, separator, value = line.partition(":")
        if separator:
            headers[name.strip().lower()] = value.strip()
    return headers


def new_media_id() -> str:
    return str(10**15 + secrets.randbelow(9 * 10**15))  # WhatsApp media ids are 16-digit numbers
