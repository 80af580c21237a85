"""What DynamoDB and EventBridge can hold, measured before anything is written, so that a callback is either stored
or refused with a 4xx that says why, and never answered 5xx for ever because a write can never succeed.

The sizes are DynamoDB's and EventBridge's own rules, rounded up: an item's size is its attribute names and values
(strings as UTF-8 bytes, a map or list 3 bytes plus 1 a member, a number at most a byte a digit plus one); an
event's is its detail as JSON text plus its detail-type and source.
"""

from decimal import Decimal
from typing import Any

from wab import jsoncodec

MAX_ITEM_BYTES = 400_000  # DynamoDB's item size limit ("400 KB"; the service measures a little more), kept under it
ITEM_MARGIN_BYTES = 4_000  # what a stored record may still grow by once written: versions, leases, a status or two
ITEM_BUDGET = MAX_ITEM_BYTES - ITEM_MARGIN_BYTES
MAX_NAME_BYTES = 64 * 1024  # an attribute name, a map's keys included, must be shorter (DynamoDB's naming rules)
MAX_EVENT_BYTES = 256 * 1024  # EventBridge's PutEvents entry size limit
# The most a command may hold besides its recipients (the message, its fallback, reference, keys): as much as an
# inbound message's whole callback body (`wab.httpbody`), far above anything WhatsApp takes, well inside a record, a
# contact's parked messages and a lane message.
MAX_SENT_CONTENT_BYTES = 128 * 1024
EVENT_BUDGET = MAX_EVENT_BYTES - 1_024  # the detail's share: the entry's source, detail-type and bus name take the rest


def value_size(value: Any) -> int:
    """The size DynamoDB counts for a value (as boto3 serialises Python values), rounded up."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, (int, Decimal)):
        return len(str(value)) + 1
    if isinstance(value, dict):
        return 3 + sum(1 + len(str(key).encode("utf-8")) + value_size(child) for key, child in value.items())
    if isinstance(value, (list, tuple)):
        return 3 + sum(1 + value_size(child) for child in value)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    return len(str(value).encode("utf-8"))


def has_unstorable_key(value: Any) -> bool:
    """Whether an object anywhere in `value` has a key DynamoDB refuses as a map's attribute name: the empty one, or
    one of `MAX_NAME_BYTES` or more."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any(not key or len(key.encode("utf-8")) >= MAX_NAME_BYTES for key in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def has_unstorable_number(value: Any) -> bool:
    """Whether a number anywhere in `value` is one DynamoDB cannot hold or EventBridge cannot take. The codec keeps
    those as text, but a model may turn text back into a number (a price, an error code): this finds them."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            if item not in jsoncodec.INT64:
                return True
        elif isinstance(item, Decimal) and not jsoncodec.storable(item):
            return True
    return False


def item_size(item: dict[str, Any]) -> int:
    """The size of an item given as plain Python values (attribute name → value)."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def detail_size(detail: dict[str, Any]) -> int:
    """The size of an event's detail as EventBridge counts it: the bytes of its JSON text."""
    return len(jsoncodec.encode(detail).encode("utf-8"))
