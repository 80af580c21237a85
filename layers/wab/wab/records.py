"""Reading message records back: by id (asking the provider for ids not stored), or listed by reference or by
contact, newest first. Each lookup has a route of its own, so an IAM policy can grant one without the others."""

import re
from typing import Any, Protocol

from pydantic import ConfigDict, TypeAdapter, ValidationError

from wab import jsoncodec, listing
from wab.errors import DependencyFailed, GatewayError, InvalidPayload, NotFound
from wab.models.types import PhoneNumber, ProviderId, Reference, canonical_number
from wab.store import MessageStore
from wab.summary import Counters

DEFAULT_PAGE = 20
MAX_PAGE = 100
# Built on first use, as the models are (`wab.models.types.Model`): each route needs one of them, the cold start none.
_deferred = ConfigDict(defer_build=True)
_id = TypeAdapter(ProviderId, config=_deferred)
_phone = TypeAdapter(PhoneNumber, config=_deferred)
_reference = TypeAdapter(Reference, config=_deferred)


def valid_message_id(message_id: str) -> str:
    try:
        return _id.validate_python(message_id)
    except ValidationError:
        raise InvalidPayload("not a message id", code="invalid_id") from None


class ProviderRecord(Protocol):
    id: str
    source: str | None
    destination: str | None
    direction: str | None
    reference: str | None
    content: Any


class MessageLookup(Protocol):
    """The provider's record API (`wab.provider.ProviderClient`): None when it has no such message."""

    def get_message(self, message_id: str, *, deadline: float | None = None) -> ProviderRecord | None: ...


def get_record(
    store: MessageStore,
    message_id: str,
    query: dict[str, str],
    provider: MessageLookup | None = None,
    *,
    deadline: float | None = None,
) -> dict[str, Any]:
    """`GET /messages/{id}`: the stored record; else the provider's (asked to answer by `deadline`, a
    `time.monotonic()` value), in the same shape; NotFound when neither has it, MessageErased (the provider not asked)
    when it was erased with its contact. It takes no query parameters."""
    refuse_unknown(query, set())
    message_id = valid_message_id(message_id)
    record = store.get(message_id)
    if record is not None:
        return record.public_view()
    if provider is None:
        raise NotFound(f"no message {message_id}")
    try:
        found = provider.get_message(message_id, deadline=deadline)
    except GatewayError as exc:
        # Its code only: the provider's own words may repeat a number or a message, and this answer is logged.
        raise DependencyFailed(f"the provider could not be asked for message {message_id} ({exc.code})") from exc
    if found is None:
        raise NotFound(f"no message {message_id}")
    return provider_record_view(found)


def provider_record_view(found: ProviderRecord) -> dict[str, Any]:
    """The provider's record in our record shape: no status of ours, no history, no timestamps."""
    content = _provider_content(found.content)
    return {
        "id": found.id,
        "direction": found.direction,
        "source": found.source,
        "destination": found.destination,
        "type": content.get("type") if isinstance(content, dict) and isinstance(content.get("type"), str) else None,
        "status": None,
        "reference": found.reference or None,
        "content": content,
        "status_history": [],
        "created_at": None,
        "updated_at": None,
    }


def _provider_content(content: Any) -> dict[str, Any] | None:
    """The provider sends `content` as a JSON string; anything that is not a JSON object is kept raw."""
    if isinstance(content, str):
        try:
            content = jsoncodec.decode(content, what="provider content")
        except InvalidPayload:
            return {"raw": content}
    if content is None or isinstance(content, dict):
        return content
    return {"raw": content}


def list_by_reference(store: MessageStore, reference: str, query: dict[str, str]) -> dict[str, Any]:
    """`GET /references/{reference}/messages`: the records with this reference, newest first, a page at a time."""
    return _page(store, listing.list_by_reference, valid_reference(reference), query)


def summary(counters: Counters, reference: str, query: dict[str, str]) -> dict[str, Any]:
    """`GET /references/{reference}/summary`: the campaign's counts by status and failure code (`wab.summary`); all
    zero for a reference nothing was sent under. It takes no query parameters."""
    refuse_unknown(query, set())
    return counters.read(valid_reference(reference)).model_dump(mode="json")


def valid_reference(reference: str) -> str:
    """The reference, if one a message can carry (NUL characters and lone surrogates never reach a record)."""
    try:
        jsoncodec.check_clean(reference)
        return _reference.validate_python(reference)
    except (ValidationError, InvalidPayload):
        raise InvalidPayload("reference is not valid", code="invalid_query") from None


def list_by_contact(store: MessageStore, number: str, query: dict[str, str]) -> dict[str, Any]:
    """`GET /contacts/{number}/messages`: the contact's records (in and out), newest first, a page at a time. The
    number may be written with or without its "+" (a "+" in a URL path is itself, or %2B)."""
    try:
        key = canonical_number(_phone.validate_python(number.strip()))
    except ValidationError:
        raise InvalidPayload("the contact is not a phone number", code="invalid_query") from None
    return _page(store, listing.list_by_contact, key, query)


def _page(store: MessageStore, lister: listing.Lister, key: str, query: dict[str, str]) -> dict[str, Any]:
    """`limit` (1-100) and the `cursor` of the previous page; nothing else."""
    refuse_unknown(query, {"limit", "cursor"})
    records, cursor = lister(store, key, limit=_limit(query.get("limit")), cursor=query.get("cursor"))
    return {"items": [record.public_view() for record in records], "next_cursor": cursor}


def refuse_unknown(query: dict[str, str], known: set[str]) -> None:
    """A query parameter a route does not take is a mistake worth telling, not something to ignore."""
    if unknown := set(query) - known:
        raise InvalidPayload(f"unknown query parameters: {', '.join(sorted(unknown))}", code="invalid_query")


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidPayload(f"limit must be a whole number from 1 to {MAX_PAGE}", code="invalid_query")
    return int(raw)
