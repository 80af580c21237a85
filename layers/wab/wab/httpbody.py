"""Reading a JSON request body from an API Gateway HTTP API event: size, media type, encoding, JSON."""

import base64
import binascii
from typing import Any

from wab import jsoncodec
from wab.errors import InvalidPayload

# A callback body above this cannot be a WhatsApp message (text is capped at 4,096 characters); the limit keeps the
# stored record under DynamoDB's 400 KB item size and the event under EventBridge's 256 KB entry size: every stored
# field is bounded (types, ids, statuses and their history), and the callbacks measure each record and event before
# writing it (`wab.limits`), leaving out the copy of the text or refusing with 413 what content made larger.
MAX_BODY_BYTES = 128 * 1024
# A customer's message nested deeper than DynamoDB stores is kept as its JSON text (`wab.callbacks.decode_content`),
# not refused; a body nested deeper than this is no message at all.
MAX_BODY_DEPTH = 256
JSON_MEDIA_TYPES = ("application/json", "text/json")


def read_json_body(
    body: str | None, is_base64: bool | None, content_type: str | None, content_encoding: str | None = None
) -> Any:
    """The body's JSON value; InvalidPayload (415) unless the Content-Type says JSON: a body of another type, or of
    none, is not what the provider sends, and reading it as JSON anyway would guess at what the sender meant. A
    compressed body (any Content-Encoding but identity) is refused for what it is, not as text that is not UTF-8."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding != "identity":
        raise InvalidPayload(
            "a body with a Content-Encoding is not taken; send it uncompressed", code="unsupported_media_type"
        )
    media_type = (content_type or "").split(";")[0].strip().lower()
    if not media_type:
        raise InvalidPayload("a Content-Type of application/json is required", code="unsupported_media_type")
    if media_type not in JSON_MEDIA_TYPES and not media_type.endswith("+json"):
        raise InvalidPayload(f"expected application/json, got {media_type}", code="unsupported_media_type")
    raw = _raw_bytes(body, is_base64)
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidPayload(f"body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}", code="payload_too_large")
    # A NUL or a lone surrogate (only JSON escapes can make them) is mended, not refused: a customer's message is
    # kept whatever it holds, and a status report for the sake of a character would be lost the same way.
    return jsoncodec.decode(raw, max_depth=MAX_BODY_DEPTH, unique_root=True, mend=True)


def _raw_bytes(body: str | None, is_base64: bool | None) -> bytes:
    if body is None:
        return b""
    if is_base64:
        if len(body) > MAX_BODY_BYTES * 4 // 3 + 4:
            raise InvalidPayload("body too large", code="payload_too_large")
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidPayload("body is not valid base64", code="invalid_encoding") from None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayload("body is not valid UTF-8", code="invalid_encoding") from None
