"""Listing message records by contact or by reference, newest first, a page at a time.

Both indexes hold keys only (template.yaml): a page is a Query for the keys, then one BatchGetItem for the records,
put back in the index's order. `by-contact` is one Query a page, and its cursor is the Query's LastEvaluatedKey.
`by-reference` spreads each reference over `REFERENCE_SHARDS` keys plus the plain one of records written before the
shards (`wab.store.reference_keys`): a page queries each key not yet exhausted and merges them newest first (records
created at the same instant in different shards come in shard order), and its cursor holds where it stopped in every
one of them. Cursors are opaque to callers and checked when they come back: anything but a cursor this listing
returned is `invalid_cursor` (400).
"""

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from wab import jsoncodec
from wab.errors import InvalidPayload
from wab.models.records import MessageRecord
from wab.models.types import PROVIDER_ID_PATTERN
from wab.store import INDEX_BY_KEY, MessageStore, reference_keys

CURSOR_VERSION = 1
DONE = "done"  # the position in a key whose every record has been listed
_ID = re.compile(PROVIDER_ID_PATTERN)
_MAX_STAMP = 64  # a created_at is 27 characters

Position = list[str] | str | None  # [created_at, message id] of the last record listed, DONE, or None: not begun
# A listing: (store, key, limit=, cursor=) → (a page of records, the next page's cursor or None).
Lister = Callable[..., tuple[list[MessageRecord], str | None]]


def list_by_contact(
    store: MessageStore, contact: str, *, limit: int, cursor: str | None
) -> tuple[list[MessageRecord], str | None]:
    """The contact's records, newest first: a page and the next page's cursor (None after the last)."""
    index, key_attribute = INDEX_BY_KEY["contact"]
    start = _decode_contact_cursor(cursor, key_attribute, contact) if cursor is not None else None
    keys, last = store.query_keys(index, key_attribute, contact, limit=limit, start=start)
    ids = [key["pk"]["S"].removeprefix("MSG#") for key in keys]
    return _records(store, ids), _encode({name: value["S"] for name, value in last.items()}) if last else None


def list_by_reference(
    store: MessageStore, reference: str, *, limit: int, cursor: str | None
) -> tuple[list[MessageRecord], str | None]:
    """The reference's records, newest first, across its keys: a page and the next page's cursor (None after the
    last). A page can hold fewer than `limit` records and still have a next one: a record deleted since the index
    listed it is left out, and so is one of another reference under the same key (a pre-shard record of reference
    `x#3` has the key of shard 3 of `x`)."""
    index, key_attribute = INDEX_BY_KEY["reference"]
    keys = reference_keys(reference)
    positions: list[Position] = (
        _decode_reference_cursor(cursor, reference, len(keys)) if cursor is not None else [None for _ in keys]
    )
    fetched: dict[int, list[tuple[str, str]]] = {}  # shard → (created_at, id) newest first
    more: dict[int, bool] = {}
    for shard, position in enumerate(positions):
        if position == DONE:
            continue
        start = None
        if isinstance(position, list):
            created_at, message_id = position
            start = {
                "pk": {"S": f"MSG#{message_id}"},
                key_attribute: {"S": keys[shard]},
                "created_at": {"S": created_at},
            }
        items, last = store.query_keys(index, key_attribute, keys[shard], limit=limit, start=start)
        fetched[shard] = [(item["created_at"]["S"], item["pk"]["S"].removeprefix("MSG#")) for item in items]
        more[shard] = last is not None
    page = _merge(fetched, more, limit)
    for shard, entries in fetched.items():
        count = sum(1 for taken, _ in page if taken == shard)
        if count == len(entries) and not more[shard]:
            positions[shard] = DONE
        elif count:
            positions[shard] = list(entries[count - 1])
    cursor_out = None
    if any(position != DONE for position in positions):
        cursor_out = _encode({"v": CURSOR_VERSION, "reference": reference, "at": positions})
    records = _records(store, [message_id for _, message_id in page])
    return [record for record in records if record.reference == reference], cursor_out


def _merge(fetched: dict[int, list[tuple[str, str]]], more: dict[int, bool], limit: int) -> list[tuple[int, str]]:
    """The page: (shard, id) of each record, newest first (the lowest shard first on a tie), until the page is full,
    every fetched key is taken, or a shard with more records has no fetched ones left (its next one could be newer
    than any fetched)."""
    heads = dict.fromkeys(fetched, 0)
    page: list[tuple[int, str]] = []
    while len(page) < limit:
        if any(heads[shard] == len(entries) and more[shard] for shard, entries in fetched.items()):
            break
        waiting = [shard for shard, entries in fetched.items() if heads[shard] < len(entries)]
        if not waiting:
            break
        newest = max(waiting, key=lambda shard: (fetched[shard][heads[shard]][0], -shard))
        page.append((newest, fetched[newest][heads[newest]][1]))
        heads[newest] += 1
    return page


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


def _decode_contact_cursor(cursor: str, key_attribute: str, value: str) -> dict[str, Any]:
    """A `by-contact` cursor: the LastEvaluatedKey of the previous page, for this contact only."""
    plain = _decode(cursor)
    if (
        not isinstance(plain, dict)
        or set(plain) != {"pk", key_attribute, "created_at"}
        or not all(isinstance(item, str) for item in plain.values())
        or plain[key_attribute] != value
        or _ID.fullmatch(plain["pk"].removeprefix("MSG#")) is None
        or not plain["pk"].startswith("MSG#")
        or not 0 < len(plain["created_at"]) <= _MAX_STAMP
    ):
        raise _refused()
    return {name: {"S": text} for name, text in plain.items()}


def _decode_reference_cursor(cursor: str, reference: str, shards: int) -> list[Position]:
    """A `by-reference` cursor: for this reference, one position per key (`reference_keys`)."""
    plain = _decode(cursor)
    if (
        not isinstance(plain, dict)
        or set(plain) != {"v", "reference", "at"}
        or type(plain["v"]) is not int
        or plain["v"] != CURSOR_VERSION
        or plain["reference"] != reference
        or not isinstance(plain["at"], list)
        or len(plain["at"]) != shards
        or not all(_valid_position(position) for position in plain["at"])
    ):
        raise _refused()
    return list(plain["at"])


def _valid_position(position: Any) -> bool:
    if position is None or position == DONE:
        return True
    return (
        isinstance(position, list)
        and len(position) == 2
        and all(isinstance(part, str) for part in position)
        and 0 < len(position[0]) <= _MAX_STAMP
        and _ID.fullmatch(position[1]) is not None
    )
