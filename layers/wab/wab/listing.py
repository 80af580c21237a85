"""Listing message records by contact or by reference, newest first, a page at a time.

Both indexes hold keys only (template.yaml): a page is a Query for the keys, then one BatchGetItem for the records,
put back in the index's order. A page's cursor is the Query's LastEvaluatedKey, opaque to callers and checked when it
comes back: anything but a cursor this listing returned is `invalid_cursor` (400).
"""

import base64
import binascii
from collections.abc import Callable
from typing import Any

from wab import jsoncodec
from wab.errors import InvalidPayload
from wab.models.records import MessageRecord
from wab.store import INDEX_BY_KEY, MessageStore

# A listing: (store, key, limit=, cursor=) → (a page of records, the next page's cursor or None).
Lister = Callable[..., tuple[list[MessageRecord], str | None]]


def list_by_contact(
    store: MessageStore, contact: str, *, limit: int, cursor: str | None
) -> tuple[list[MessageRecord], str | None]:
    """The contact's records, newest first: a page and the next page's cursor (None after the last)."""
    return _list_by("contact", store, contact, limit=limit, cursor=cursor)


def list_by_reference(
    store: MessageStore, reference: str, *, limit: int, cursor: str | None
) -> tuple[list[MessageRecord], str | None]:
    """The reference's records, newest first: a page and the next page's cursor (None after the last)."""
    return _list_by("reference", store, reference, limit=limit, cursor=cursor)


def _list_by(
    field: str, store: MessageStore, value: str, *, limit: int, cursor: str | None
) -> tuple[list[MessageRecord], str | None]:
    index, key_attribute = INDEX_BY_KEY[field]
    start = _decode_cursor(cursor, key_attribute, value) if cursor else None
    keys, last = store.query_keys(index, key_attribute, value, limit=limit, start=start)
    ids = [key["pk"]["S"].removeprefix("MSG#") for key in keys]
    return _records(store, ids), _encode({name: value["S"] for name, value in last.items()}) if last else None


def _records(store: MessageStore, ids: list[str]) -> list[MessageRecord]:
    """The records of `ids` (one BatchGetItem a hundred), in that order; one deleted since the index listed it (an
    erasure, its retention ending) is left out."""
    found = store.get_many(ids) if ids else {}
    return [found[message_id] for message_id in ids if message_id in found]


# --- cursors ---------------------------------------------------------------------------------------------------------


def _encode(plain: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(jsoncodec.encode(plain).encode()).decode().rstrip("=")


def _decode(cursor: str) -> Any:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return jsoncodec.decode(raw, what="cursor")
    except (binascii.Error, ValueError, InvalidPayload):
        return None


def _refused() -> InvalidPayload:
    return InvalidPayload("cursor is not one this listing returned", code="invalid_cursor")


def _decode_cursor(cursor: str, key_attribute: str, value: str) -> dict[str, Any]:
    """The LastEvaluatedKey of the previous page, for this listing only."""
    plain = _decode(cursor)
    if (
        not isinstance(plain, dict)
        or set(plain) != {"pk", key_attribute, "created_at"}
        or not all(isinstance(item, str) for item in plain.values())
        or plain[key_attribute] != value
    ):
        raise _refused()
    return {name: {"S": text} for name, text in plain.items()}
