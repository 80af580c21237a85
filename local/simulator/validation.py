"""Send and broadcast requests checked as the provider checks them, and the error answers (`ApiError`) every part
of the simulator raises."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PROVIDER_ERROR_MESSAGE = "WhatsApp Cloud API error"

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
MESSAGE_TYPES = ("text", "template", *MEDIA_TYPES, "location", "contacts", "interactive", "reaction")
TEXT_BODY_MAX = 4096
CAPTION_MAX = 1024
BROADCAST_MAX = 10_000
DESTINATION_PATTERN = re.compile(r"\+?\d{6,15}")
SOURCE_PATTERN = re.compile(r"\+?\d{1,32}")


class ApiError(Exception):
    """An answer other than success; `payload` is the JSON body."""

    def __init__(self, status: int, payload: Any):
        super().__init__(status, payload)
        self.status = status
        self.payload = payload


def provider_error(status: int, error: str) -> ApiError:
    return ApiError(status, {"error": error, "message": PROVIDER_ERROR_MESSAGE, "statusCode": status})


def bad_request(error: str) -> ApiError:
    return provider_error(400, error)


@dataclass(frozen=True)
class SendRequest:
    destinations: list[str]
    type: str
    type_object: Any
    source: str
    reference: str
    body: dict[str, Any]


def parse_send_request(body: Any, *, broadcast: bool) -> SendRequest:
    """Check a send or broadcast body as the provider does; raise a 400 ApiError naming the first problem."""
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    destinations = _destinations(body, broadcast)
    message_type = body.get("type")
    if not isinstance(message_type, str) or not message_type:
        raise bad_request(f"type is required: one of {', '.join(MESSAGE_TYPES)}")
    if message_type not in MESSAGE_TYPES:
        raise bad_request(f"type {message_type!r} is not supported: one of {', '.join(MESSAGE_TYPES)}")
    if message_type not in body or body[message_type] is None:
        raise bad_request(f"{message_type} object is required for type {message_type}")
    TYPE_VALIDATORS[message_type](body[message_type], message_type)
    source = body.get("source")
    if not isinstance(source, str) or not SOURCE_PATTERN.fullmatch(source):
        raise bad_request("source is required: the business phone number, digits with an optional +")
    reference = body.get("reference")
    if reference is not None and not isinstance(reference, str):
        raise bad_request("reference must be a string")
    return SendRequest(destinations, message_type, body[message_type], source, reference or "", body)


def _destinations(body: dict[str, Any], broadcast: bool) -> list[str]:
    raw = body["destination"] if "destination" in body else body.get("to")
    if raw is None:
        raise bad_request("destination is required")
    if broadcast:
        if not isinstance(raw, list) or not 1 <= len(raw) <= BROADCAST_MAX:
            raise bad_request(f"destination must be a list of 1 to {BROADCAST_MAX} phone numbers for a broadcast")
        for index, destination in enumerate(raw):
            _check_destination(destination, f"destination[{index}]")
        return list(raw)
    if isinstance(raw, list):
        raise bad_request("destination must be a single phone number; use /messages/broadcast for several")
    _check_destination(raw, "destination")
    return [raw]


def _check_destination(value: Any, where: str) -> None:
    if not isinstance(value, str) or not DESTINATION_PATTERN.fullmatch(value):
        raise bad_request(f"{where} must be a phone number in E.164 format (optional + and 6-15 digits): {value!r}")


def _require_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be an object")
    return value


def _require_text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"{where}.{key} is required")
    return value


def _validate_text(value: Any, where: str) -> None:
    text = _require_object(value, where)
    body = _require_text(text, "body", where)
    if len(body) > TEXT_BODY_MAX:
        raise bad_request(f"{where}.body is longer than {TEXT_BODY_MAX} characters ({len(body)})")


def _validate_media(value: Any, where: str) -> None:
    media = _require_object(value, where)
    media_id, link = media.get("id"), media.get("link")
    if not (isinstance(media_id, str) and media_id) and not (isinstance(link, str) and link):
        raise bad_request(f"{where} needs an id (uploaded media) or a link")
    if link is not None and not (isinstance(link, str) and link.startswith(("http://", "https://"))):
        raise bad_request(f"{where}.link must be an http(s) URL")
    caption = media.get("caption")
    if caption is not None and (not isinstance(caption, str) or len(caption) > CAPTION_MAX):
        raise bad_request(f"{where}.caption must be a string of at most {CAPTION_MAX} characters")


def _validate_template(value: Any, where: str) -> None:
    template = _require_object(value, where)
    _require_text(template, "name", where)
    language = _require_object(template.get("language"), f"{where}.language")
    _require_text(language, "code", f"{where}.language")
    if "components" in template and not isinstance(template["components"], list):
        raise bad_request(f"{where}.components must be a list")


def _validate_location(value: Any, where: str) -> None:
    location = _require_object(value, where)
    for key, limit in (("latitude", 90), ("longitude", 180)):
        coordinate = _number(location.get(key))
        if coordinate is None or not -limit <= coordinate <= limit:
            raise bad_request(f"{where}.{key} is required: a number between -{limit} and {limit}")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _validate_contacts(value: Any, where: str) -> None:
    if not isinstance(value, list) or not value:
        raise bad_request(f"{where} must be a non-empty list of contacts")
    for index, contact in enumerate(value):
        name = _require_object(_require_object(contact, f"{where}[{index}]").get("name"), f"{where}[{index}].name")
        _require_text(name, "formatted_name", f"{where}[{index}].name")


INTERACTIVE_TYPES = ("button", "list", "cta_url", "flow", "product", "product_list", "location_request_message")


def _validate_interactive(value: Any, where: str) -> None:
    interactive = _require_object(value, where)
    kind = _require_text(interactive, "type", where)
    if kind not in INTERACTIVE_TYPES:
        raise bad_request(f"{where}.type must be one of {', '.join(INTERACTIVE_TYPES)}")
    action = _require_object(interactive.get("action"), f"{where}.action")
    if kind in ("cta_url", "flow"):
        if action.get("name") != kind:
            raise bad_request(f'{where}.action.name must be "{kind}"')
        parameters = _require_object(action.get("parameters"), f"{where}.action.parameters")
        if kind == "cta_url":
            _require_text(parameters, "display_text", f"{where}.action.parameters")
            _require_text(parameters, "url", f"{where}.action.parameters")
        else:
            _require_text(parameters, "flow_cta", f"{where}.action.parameters")
            if not (isinstance(parameters.get("flow_id"), str) or isinstance(parameters.get("flow_name"), str)):
                raise bad_request(f"{where}.action.parameters needs flow_id or flow_name")


def _validate_reaction(value: Any, where: str) -> None:
    reaction = _require_object(value, where)
    _require_text(reaction, "message_id", where)
    if "emoji" in reaction and not isinstance(reaction["emoji"], str):
        raise bad_request(f"{where}.emoji must be a string")


TYPE_VALIDATORS: dict[str, Callable[[Any, str], None]] = {
    "text": _validate_text,
    "template": _validate_template,
    **dict.fromkeys(MEDIA_TYPES, _validate_media),
    "location": _validate_location,
    "contacts": _validate_contacts,
    "interactive": _validate_interactive,
    "reaction": _validate_reaction,
}


def contact_key(number: str) -> str:
    """The same customer whatever the spelling: '+64 21-123' and '6421123' are one contact."""
    return "".join(character for character in number if character.isdigit())
