"""Reading message records back: by id, or listed by reference or contact, newest first."""

import re
from typing import Any

from pydantic import TypeAdapter, ValidationError

from wab.errors import InvalidPayload, NotFound
from wab.models.types import PhoneNumber, ProviderId, Reference, contact_key
from wab.store import MessageStore

DEFAULT_PAGE = 20
MAX_PAGE = 100
_id = TypeAdapter(ProviderId)
_phone = TypeAdapter(PhoneNumber)
_reference = TypeAdapter(Reference)


def valid_message_id(message_id: str) -> str:
    try:
        return _id.validate_python(message_id)
    except ValidationError:
        raise InvalidPayload("not a message id", code="invalid_id", status_code=400) from None


def get_record(store: MessageStore, message_id: str) -> dict[str, Any]:
    record = store.get(valid_message_id(message_id))
    if record is None:
        raise NotFound(f"no message {message_id}")
    return record.public_view()


def list_records(store: MessageStore, query: dict[str, str]) -> dict[str, Any]:
    """`?reference=` or `?contact=` (exactly one), with `limit` (1-100) and the `cursor` of the previous page."""
    unknown = set(query) - {"reference", "contact", "limit", "cursor"}
    if unknown:
        raise InvalidPayload(f"unknown query parameters: {', '.join(sorted(unknown))}", status_code=400)
    chosen = [field for field in ("reference", "contact") if query.get(field)]
    if len(chosen) != 1:
        raise InvalidPayload("give exactly one of reference or contact", code="invalid_query", status_code=400)
    field = chosen[0]
    value = query[field]
    try:
        key = contact_key(_phone.validate_python(value)) if field == "contact" else _reference.validate_python(value)
    except ValidationError:
        raise InvalidPayload(f"{field} is not valid", code="invalid_query", status_code=400) from None
    records, cursor = store.list_by(field, key, limit=_limit(query.get("limit")), cursor=query.get("cursor"))
    return {"items": [record.public_view() for record in records], "next_cursor": cursor}


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidPayload(f"limit must be a whole number from 1 to {MAX_PAGE}", code="invalid_query", status_code=400)
    return int(raw)
