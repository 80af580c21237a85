"""The one JSON decoder and encoder of the gateway.

Numbers are decoded as `Decimal` so coordinates and prices keep every digit and DynamoDB (which rejects floats)
can store them; the encoder writes those decimals back as JSON numbers with the same digits. A number the gateway
could not store or publish is kept as a string of its exact JSON text instead, so nothing is lost and nothing is
refused for it: DynamoDB holds up to 38 significant digits between 1E-130 and 9.99…E+125 (`1e400`, `1e-400` and
40-digit numbers do not fit), and EventBridge takes JSON integers of 64 bits only. Decoding rejects what the gateway
must never store: invalid UTF-8, NUL characters, lone surrogates and absurd nesting.
"""

import json
import math
import re
from decimal import Clamped, Context, Decimal, DecimalException, Inexact, Overflow, Rounded, Underflow
from typing import Any

from wab.errors import InvalidPayload

MAX_DEPTH = 20  # well under DynamoDB's 32 levels of nested attributes
# boto3's serializer converts numbers with this context and refuses any that it would change (its DYNAMODB_CONTEXT);
# DynamoDB itself then takes magnitudes from 1E-130 to 9.99…E+125.
_DYNAMODB_NUMBERS = Context(prec=38, Emin=-128, Emax=126, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])
INT64 = range(-(2**63), 2**63)  # EventBridge's JSON integers
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def decode(
    raw: bytes | str,
    *,
    what: str = "body",
    max_depth: int = MAX_DEPTH,
    unique_root: bool = False,
    unique_everywhere: bool = False,
    mend: bool = False,
) -> Any:
    """Parse JSON bytes or text into Python values with `Decimal` numbers; raise InvalidPayload when it is not clean
    (nested deeper than `max_depth` included). `unique_root`: a top-level object naming a key twice is refused too
    (which of the two was meant cannot be known); `unique_everywhere`: any object doing so is."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidPayload(f"{what} is not valid UTF-8 (byte {exc.start})", code="invalid_encoding") from None
    else:
        text = raw
    if not text.strip():
        raise InvalidPayload(f"{what} is empty", code="malformed_json")
    # Whether the object built last (the top-level one, if it is an object) names a key twice, and whether any did.
    repeated = [False, False]

    def pairs_to_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        built = dict(pairs)
        repeated[0] = len(built) < len(pairs)
        repeated[1] = repeated[1] or repeated[0]
        return built

    try:
        value = json.loads(
            text,
            parse_float=_number,
            parse_int=_integer,
            parse_constant=_reject_constant,
            object_pairs_hook=pairs_to_object if unique_root or unique_everywhere else None,
        )
    except RecursionError:
        raise InvalidPayload(f"{what} is nested too deeply (limit {max_depth})", code="too_deep") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise InvalidPayload(f"{what} is not valid JSON: {_describe(exc)}", code="malformed_json") from None
    # Which key is not said: a key can be anything, a number too.
    if (unique_root and isinstance(value, dict) and repeated[0]) or (unique_everywhere and repeated[1]):
        raise InvalidPayload(f"{what} names a key more than once", code="malformed_json")
    try:
        check_clean(value, what=what, max_depth=max_depth)
    except InvalidPayload as unclean:
        if not mend or unclean.code != "invalid_text":
            raise
        value = mended(value)
        check_clean(value, what=what, max_depth=max_depth)
    return value


def mended(value: Any) -> Any:
    """The value with each NUL character and lone surrogate (text no store or bus takes) replaced by U+FFFD, the
    replacement character: for what must be kept whatever it holds (a customer's message), where refusing would lose
    it. JSON text can hold both only as escapes, so the rest of the value is as it came."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, child in value.items():
            new = mended(key)
            while new in found and new != key:  # two keys that differed only there stay two keys
                new += REPLACEMENT
            found[new] = mended(child)
        return found
    if isinstance(value, list):
        return [mended(child) for child in value]
    return value


class NumberText(str):
    """A JSON number kept as its text: still a number to a model that asks for a string (`wab.models.types`)."""

    __slots__ = ()


def _number(text: str) -> Decimal | str:
    """A JSON number with a fraction or exponent: a Decimal when DynamoDB can hold it exactly, else its text."""
    number = Decimal(text)
    return number if storable(number) else NumberText(text)


def _integer(text: str) -> int | str:
    """A JSON integer: an int when both EventBridge (64 bits) and DynamoDB can take it, else its text. The text's
    length is checked first, so a 10,000-digit integer is never converted (Python refuses those anyway)."""
    if len(text.lstrip("-")) > 19:
        return NumberText(text)
    number = int(text)
    return number if number in INT64 else NumberText(text)


def storable(number: Decimal) -> bool:
    """Whether DynamoDB stores this number exactly as it is."""
    if not number.is_finite():
        return False
    try:
        _DYNAMODB_NUMBERS.create_decimal(number)
    except DecimalException:
        return False
    return number.is_zero() or -130 <= number.adjusted() <= 125


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _describe(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return str(exc)


def check_clean(value: Any, *, what: str = "body", max_depth: int = MAX_DEPTH) -> None:
    """Walk a decoded value iteratively: at most `max_depth` levels, no NUL characters, no lone surrogates (in keys or
    strings)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, what)
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                raise InvalidPayload(f"{what} is nested too deeply (limit {max_depth})", code="too_deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key, what)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_text(text: str, what: str) -> None:
    if "\x00" in text:
        raise InvalidPayload(f"{what} contains a NUL character", code="invalid_text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayload(f"{what} contains a lone surrogate (invalid Unicode)", code="invalid_text") from None


def encode(value: Any) -> str:
    """Serialise to compact JSON; `Decimal` values become numbers with exactly their digits."""
    return "".join(_encode_parts(value))


def _encode_parts(value: Any):
    if isinstance(value, Decimal):
        yield _decimal_text(value)
    elif isinstance(value, dict):
        yield "{"
        for index, (key, child) in enumerate(value.items()):
            yield ("," if index else "") + json.dumps(str(key), ensure_ascii=False) + ":"
            yield from _encode_parts(child)
        yield "}"
    elif isinstance(value, (list, tuple, set, frozenset)):
        yield "["
        for index, child in enumerate(value):
            if index:
                yield ","
            yield from _encode_parts(child)
        yield "]"
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and infinity have no JSON form")
    else:
        yield json.dumps(value, ensure_ascii=False)


def _decimal_text(number: Decimal) -> str:
    if not number.is_finite():
        raise ValueError("NaN and infinity have no JSON form")
    return str(number)  # Decimal's text ("19.99", "1E-7", "-0") is always a valid JSON number
