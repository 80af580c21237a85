"""A fake of the messaging provider's WhatsApp Business API, for the local stack, `make demo`, e2e tests and benchmarks.

    python -m local.simulator --port 4010 --api-username U --api-password P \
        --mo-url http://user:pass@127.0.0.1:3000/callbacks/mo --dlr-url http://user:pass@127.0.0.1:3000/callbacks/dlr

or in-process: `sim = Simulator(SimulatorConfig(port=0, ...)); sim.start(); sim.url; ...; sim.stop()`.
It only binds to, and only calls, loopback addresses.

Provider API (HTTP Basic auth; errors as the provider answers them, `{"error", "message", "statusCode"}`):
    POST /rest/wab/v1/messages             {destination|to, type, <type object>, source, reference?}
                                           → 202 [{id, status: "accepted", reference}] · 400 · 401 · 429 · 500
    POST /rest/wab/v1/messages/broadcast   same, destination a list (1..10000) → 202 [{destination, id, status}]
    POST /rest/wab/v1/media?source=…       multipart field `file` → 200 [{id}]
                                           · 422 {errors: [{field, code, description}]}
    GET  /rest/wab/v1/messages?id=…        → 200 {id, source, destination, direction, reference, content} · 404
                                           (content is a JSON string, as the provider's page shows)
Callbacks made: DLRs `{id, status, reference}` (`sent`, then `received`/`rejected`) to the DLR URL for every accepted
message, from a small pool of workers, retried with backoff; MOs `{id, source, destination, content}` to the MO URL
when asked through /_sim/mo. Credentials in a callback URL are sent as an `Authorization: Basic` header.

Control (unauthenticated JSON):
    GET|POST /_sim/faults   read / partially update the fault config (see `Faults`)
    GET  /_sim/stats        faults actually answered since the last reset: {"throttled", "errors", "held"}
    POST /_sim/ids          {ids: [...]} ids to give, in order, to the next accepted messages
    GET  /_sim/messages     every accepted message with its DLR deliveries (?reference= filters)
    POST /_sim/mo           make a customer send an inbound message (see `inbound_message` and `Simulator.simulate_mo`)
    POST /_sim/dlr          {id, status, reference?} send one DLR now
    POST /_sim/reset        forget messages, MOs, queued ids, pending DLRs and contact windows; restore the faults
"""

from __future__ import annotations

import argparse
import base64
import binascii
import errno
import hashlib
import heapq
import hmac
import ipaddress
import json
import logging
import random
import re
import secrets
import signal
import sys
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import requests

from local.keepalive import KeepAliveHTTPServer

log = logging.getLogger(__name__)

API_PREFIX = "/rest/wab/v1"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4010
DEFAULT_SOURCE = "1234567890"
DEFAULT_CUSTOMER = "+64211234567"
PROVIDER_ERROR_MESSAGE = "WhatsApp Cloud API error"

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
MESSAGE_TYPES = ("text", "template", *MEDIA_TYPES, "location", "contacts", "interactive", "reaction")
TEXT_BODY_MAX = 4096
CAPTION_MAX = 1024
BROADCAST_MAX = 10_000
CUSTOMER_SERVICE_WINDOW_SECONDS = 24 * 3600
DESTINATION_PATTERN = re.compile(r"\+?\d{6,15}")
SOURCE_PATTERN = re.compile(r"\+?\d{1,32}")

UNDELIVERABLE_NUMBER = "15550000000"
MISSING_TEMPLATE = "does_not_exist"
ERROR_OUTSIDE_WINDOW = "(#131047) Re-engagement message: more than 24 hours have passed since the customer last replied"
ERROR_NO_TEMPLATE = "(#132001) Template name does not exist in the translation"
ERROR_UNDELIVERABLE = "(#131026) Message undeliverable"
ERROR_THROTTLED = "(#130429) Rate limit hit"

# What WhatsApp accepts per media kind: (MIME types, size limit in bytes).
MEDIA_LIMITS: dict[str, tuple[frozenset[str], int]] = {
    "image": (frozenset({"image/jpeg", "image/png"}), 5 * 1024 * 1024),
    "video": (frozenset({"video/mp4", "video/3gpp"}), 16 * 1024 * 1024),
    "audio": (frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}), 16 * 1024 * 1024),
    "document": (
        frozenset({
            "text/plain", "application/pdf", "application/msword", "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        }),
        100 * 1024 * 1024,
    ),
    "sticker": (frozenset({"image/webp"}), 500 * 1024),
}
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_UPLOAD_BYTES = 100 * 1024 * 1024 + 64 * 1024  # the largest file WhatsApp takes, plus multipart framing


class SimulatorError(Exception):
    """The simulator cannot start (busy port, non-loopback address, bad callback URL)."""


# ---------------------------------------------------------------------------------------------------------------
# Configuration and faults
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Faults:
    """What the simulator does wrong, and how fast it reports deliveries. Rates are probabilities in 0..1."""

    error_rate: float = 0.0            # answer 500
    throttle_rate: float = 0.0         # answer 429 with (#130429)
    timeout_rate: float = 0.0          # hold the request `timeout_seconds`, then answer normally
    timeout_seconds: float = 35.0
    latency_ms: float = 0.0            # added to every provider API answer
    duplicate_dlr_rate: float = 0.0    # send each DLR of a message twice
    out_of_order_dlr_rate: float = 0.0  # send the final DLR before `sent`
    reject_rate: float = 0.0           # the final DLR is `rejected` instead of `received`
    auto_dlr: bool = True
    enforce_window: bool = True        # 131047 for free-form sends outside the 24-hour window
    dlr_sent_delay: float = 0.05
    dlr_received_delay: float = 0.1
    seed: int | None = None            # setting it reseeds the fault dice

    def updated(self, changes: Any) -> Faults:
        """A copy with `changes` applied; ValueError says which key or value is wrong."""
        if not isinstance(changes, dict):
            raise ValueError("faults must be a JSON object")
        known = {spec.name: spec for spec in fields(self)}
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(known))}")
            checked[name] = _checked_fault_value(name, value, getattr(self, name))
        return replace(self, **checked)


def _checked_fault_value(name: str, value: Any, current: Any) -> Any:
    if name == "seed":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError("seed must be an integer or null")
        return value
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    if name.endswith("_rate") and value > 1:
        raise ValueError(f"{name} must be between 0 and 1")
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How callbacks are retried on a non-2xx answer or a connection error: exponential backoff, capped."""

    max_attempts: int = 8
    first_delay: float = 0.1
    max_delay: float = 2.0

    def delay_after(self, attempt: int) -> float:
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


@dataclass
class SimulatorConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT            # 0 picks a free port
    api_username: str = "wab"
    api_password: str = "wab-secret"
    mo_url: str | None = None           # may carry Basic credentials: http://user:pass@127.0.0.1:3000/callbacks/mo
    dlr_url: str | None = None
    source: str = DEFAULT_SOURCE        # the business number customers write to by default
    faults: Faults = field(default_factory=Faults)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    callback_workers: int = 8
    callback_timeout: float = 10.0
    max_messages: int = 100_000         # oldest records are forgotten beyond this (long load tests)


# ---------------------------------------------------------------------------------------------------------------
# Validation of send requests
# ---------------------------------------------------------------------------------------------------------------

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


def _validate_interactive(value: Any, where: str) -> None:
    interactive = _require_object(value, where)
    _require_text(interactive, "type", where)
    _require_object(interactive.get("action"), f"{where}.action")


def _validate_reaction(value: Any, where: str) -> None:
    reaction = _require_object(value, where)
    _require_text(reaction, "message_id", where)
    if "emoji" in reaction and not isinstance(reaction["emoji"], str):
        raise bad_request(f"{where}.emoji must be a string")


TYPE_VALIDATORS: dict[str, Callable[[Any, str], None]] = {
    "text": _validate_text,
    "template": _validate_template,
    **{media_type: _validate_media for media_type in MEDIA_TYPES},
    "location": _validate_location,
    "contacts": _validate_contacts,
    "interactive": _validate_interactive,
    "reaction": _validate_reaction,
}


def contact_key(number: str) -> str:
    """The same customer whatever the spelling: '+64 21-123' and '6421123' are one contact."""
    return "".join(character for character in number if character.isdigit())


# ---------------------------------------------------------------------------------------------------------------
# Media uploads
# ---------------------------------------------------------------------------------------------------------------

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
        return UploadedFile(filename if isinstance(filename, str) else None, part_type.get_content_type(),
                            data.removesuffix(b"\r\n"))
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


# ---------------------------------------------------------------------------------------------------------------
# Inbound (MO) messages as WhatsApp writes them
# ---------------------------------------------------------------------------------------------------------------

def new_wamid() -> str:
    return f"wamid.{uuid.uuid4()}"


def _media_object(mime_type: str, caption: str | None = None, **extra: Any) -> dict[str, Any]:
    media = {"id": new_media_id(), "mime_type": mime_type, "sha256": hashlib.sha256(uuid.uuid4().bytes).hexdigest()}
    if caption:
        media["caption"] = caption
    media.update(extra)
    return media


def inbound_message(kind: str, sender: str, business: str, options: dict[str, Any], now: float) -> dict[str, Any]:
    """A realistic WhatsApp inbound message object of type `kind` (any string: unknown kinds get a generic object).

    `options` may hold `text` (text body or caption), `message_id` (the message a reaction or button answers) and
    `interactive_type` ("button_reply" or "list_reply").
    """
    text = options.get("text")
    replied_to = options.get("message_id") or new_wamid()
    # The provider's own mock serialises absent objects as nulls (see its GET /messages MO example).
    message: dict[str, Any] = {"errors": None, "from": sender, "id": new_wamid(), "order": None, "reaction": None,
                               "timestamp": str(int(now)), "type": kind}
    if kind == "text":
        message["text"] = {"preview_url": False, "body": text or "Hello from the provider simulator"}
    elif kind == "image":
        message["image"] = _media_object("image/jpeg", text)
    elif kind == "video":
        message["video"] = _media_object("video/mp4", text)
    elif kind == "audio":
        message["audio"] = _media_object("audio/ogg; codecs=opus", voice=True)
    elif kind == "document":
        message["document"] = _media_object("application/pdf", text, filename="invoice-1042.pdf")
    elif kind == "sticker":
        message["sticker"] = _media_object("image/webp", animated=False)
    elif kind == "location":
        message["location"] = {"latitude": -36.8484597, "longitude": 174.7633315, "name": "Sky Tower",
                               "address": "Victoria Street West, Auckland 1010"}
    elif kind == "contacts":
        message["contacts"] = [{
            "name": {"formatted_name": "Aroha Ngata", "first_name": "Aroha", "last_name": "Ngata"},
            "phones": [{"phone": "+64 21 555 0199", "wa_id": "64215550199", "type": "CELL"}],
            "emails": [{"email": "aroha@example.co.nz", "type": "WORK"}],
        }]
    elif kind == "interactive":
        message["interactive"] = _interactive_reply(options.get("interactive_type", "button_reply"))
        message["context"] = {"from": business, "id": replied_to}
    elif kind == "button":
        message["button"] = {"payload": "STOP_PROMOTIONS", "text": text or "Stop promotions"}
        message["context"] = {"from": business, "id": replied_to}
    elif kind == "reaction":
        message["reaction"] = {"message_id": replied_to, "emoji": text or "\U0001F44D"}
    elif kind == "order":
        message["order"] = {"catalog_id": "1234567890123456", "text": text or "Please deliver before Friday",
                            "product_items": [_order_item("SKU-TEE-BLK-M", 2, 29.9),
                                              _order_item("SKU-CAP-RED", 1, 19.5)]}
    elif kind == "system":
        new_number = "64219998877"
        message["system"] = {"type": "user_changed_number", "new_wa_id": new_number,
                             "body": f"User {sender} changed from {sender} to +{new_number}"}
    elif kind == "unsupported":
        message["errors"] = [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                              "error_data": {"details": "Message type is currently not supported."}}]
    elif kind != "request_welcome":  # request_welcome carries no object of its own
        message[kind] = {"note": "a message type the simulator does not know", "text": text}
    return message


def _order_item(sku: str, quantity: int, price: float) -> dict[str, Any]:
    return {"product_retailer_id": sku, "quantity": quantity, "item_price": price, "currency": "NZD"}


def _interactive_reply(reply_type: str) -> dict[str, Any]:
    if reply_type == "list_reply":
        return {"type": "list_reply", "list_reply": {"id": "slot-tomorrow-9", "title": "Tomorrow 9am",
                                                     "description": "Courier arrives 9-10am"}}
    return {"type": "button_reply", "button_reply": {"id": "confirm-delivery", "title": "Confirm"}}


def encode_mo_content(content: Any, *, as_string: bool, base64_encoded: bool) -> tuple[Any, dict[str, Any]]:
    """The callback's `content` and any extra envelope keys, in the spelling the MO request asked for."""
    if base64_encoded:
        raw = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        return base64.b64encode(raw.encode()).decode(), {"encoding": "base64"}
    if as_string and not isinstance(content, str):
        return json.dumps(content, ensure_ascii=False), {}
    return content, {}


# ---------------------------------------------------------------------------------------------------------------
# Callbacks: targets, sessions, retries, scheduling
# ---------------------------------------------------------------------------------------------------------------

def check_loopback(host: str, what: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SimulatorError(f"{what} must be a loopback address (127.0.0.1), not {host!r}: the simulator stays local")


@dataclass(frozen=True)
class CallbackTarget:
    url: str                   # without credentials
    authorization: str | None  # "Basic …" from the credentials the configured URL carried

    @classmethod
    def from_url(cls, url: str, what: str) -> CallbackTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SimulatorError(f"{what} must be an http(s) URL, got {url!r}")
        check_loopback(parts.hostname, what)
        authorization = None
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = f"{host}:{parts.port}" if parts.port else host
        return cls(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), authorization)


@dataclass(frozen=True)
class Delivery:
    http_status: int | None  # None: never answered (connection error or timeout)
    attempts: int

    @property
    def ok(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


class SessionPool:
    """Keep-alive `requests.Session`s, each used by one thread at a time."""

    def __init__(self) -> None:
        self._idle: list[requests.Session] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def session(self) -> Iterator[requests.Session]:
        with self._lock:
            session = self._idle.pop() if self._idle else None
        if session is None:
            session = requests.Session()
            session.trust_env = False  # never through a proxy: callbacks go to loopback only
        try:
            yield session
        finally:
            with self._lock:
                keep = not self._closed
                if keep:
                    self._idle.append(session)
            if not keep:
                session.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()


class CallbackClient:
    """Posts callbacks: one attempt at a time (for the scheduler) or with the whole retry policy (synchronous)."""

    def __init__(self, retry: RetryPolicy, timeout: float, stopping: threading.Event):
        self.retry = retry
        self.timeout = timeout
        self._stopping = stopping
        self._sessions = SessionPool()

    def post_once(self, target: CallbackTarget, payload: dict[str, Any]) -> int | None:
        headers = {"Content-Type": "application/json", "User-Agent": "wab-provider-simulator"}
        if target.authorization:
            headers["Authorization"] = target.authorization
        data = json.dumps(payload, ensure_ascii=False).encode()
        with self._sessions.session() as session:
            try:
                return session.post(target.url, data=data, headers=headers, timeout=self.timeout).status_code
            except requests.RequestException as exc:
                log.warning("callback to %s failed: %s", target.url, exc)
                return None

    def deliver(self, target: CallbackTarget, payload: dict[str, Any]) -> Delivery:
        """Post until a 2xx answer or the retry policy gives up (sleeping between attempts, in the caller's thread)."""
        attempt = 1
        while True:
            delivery = Delivery(self.post_once(target, payload), attempt)
            if delivery.ok or attempt >= self.retry.max_attempts:
                return delivery
            if self._stopping.wait(self.retry.delay_after(attempt)):
                return delivery
            attempt += 1

    def close(self) -> None:
        self._sessions.close()


@dataclass
class CallbackJob:
    target: CallbackTarget
    payload: dict[str, Any]
    on_done: Callable[[Delivery], None]
    attempt: int = 1


@dataclass(order=True)
class _Due:
    at: float
    sequence: int
    job: CallbackJob = field(compare=False)


class CallbackScheduler:
    """Delayed callbacks posted by a small pool of workers. A failed attempt is rescheduled after its backoff
    rather than slept on, so one slow or failing callback never holds up the others."""

    def __init__(self, client: CallbackClient, workers: int):
        self._client = client
        self._worker_count = workers
        self._queue: list[_Due] = []
        self._sequence = 0
        self._condition = threading.Condition()
        self._stopped = False
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        for number in range(self._worker_count):
            worker = threading.Thread(target=self._work, name=f"simulator-callbacks-{number}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def schedule(self, job: CallbackJob, delay: float) -> None:
        with self._condition:
            if self._stopped:
                return
            self._sequence += 1
            heapq.heappush(self._queue, _Due(time.monotonic() + delay, self._sequence, job))
            self._condition.notify()

    def clear(self) -> None:
        with self._condition:
            self._queue.clear()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._queue.clear()
            self._condition.notify_all()
        for worker in self._workers:
            worker.join(timeout=self._client.timeout + 1)
        self._workers = []

    def _next_job(self) -> CallbackJob | None:
        with self._condition:
            while not self._stopped:
                if self._queue:
                    wait = self._queue[0].at - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._queue).job
                    self._condition.wait(wait)
                else:
                    self._condition.wait()
            return None

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            delivery = Delivery(self._client.post_once(job.target, job.payload), job.attempt)
            if not delivery.ok and job.attempt < self._client.retry.max_attempts:
                backoff = self._client.retry.delay_after(job.attempt)
                job.attempt += 1
                self.schedule(job, backoff)
                continue
            try:
                job.on_done(delivery)
            except Exception:  # a bookkeeping bug must not kill the worker
                log.exception("callback completion failed")


# ---------------------------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------------------------

def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class MtRecord:
    id: str
    destination: str
    source: str
    type: str
    reference: str
    body: dict[str, Any]
    accepted_at: str
    dlrs: list[dict[str, Any]] = field(default_factory=list)

    def listing(self) -> dict[str, Any]:
        return {"id": self.id, "destination": self.destination, "source": self.source, "type": self.type,
                "reference": self.reference, "body": self.body, "accepted_at": self.accepted_at,
                "dlrs": list(self.dlrs)}

    def provider_record(self) -> dict[str, Any]:
        # As the provider shows it: the WhatsApp Cloud API payload it sent on, as a JSON string.
        content = {"messaging_product": "whatsapp", "to": self.destination, "type": self.type,
                   self.type: self.body.get(self.type), "biz_opaque_callback_data": self.id}
        return {"id": self.id, "source": self.source, "destination": self.destination, "direction": "MT",
                "reference": self.reference, "content": compact_json(content)}


@dataclass
class MoRecord:
    id: str
    source: str
    destination: str
    content: Any

    def provider_record(self) -> dict[str, Any]:
        content = self.content if isinstance(self.content, str) else compact_json(self.content)
        return {"id": self.id, "source": self.source, "destination": self.destination, "direction": "MO",
                "reference": "", "content": content}


@dataclass(frozen=True)
class DlrStep:
    status: str
    delay: float
    duplicate: bool


class SimulatorState:
    """Everything the simulator remembers; every method takes the one lock."""

    def __init__(self, faults: Faults, max_messages: int):
        self.lock = threading.Lock()
        self._initial_faults = faults
        self._max_messages = max_messages
        self.faults = faults
        self.random = random.Random(faults.seed)
        self.messages: OrderedDict[str, MtRecord] = OrderedDict()
        self.mos: OrderedDict[str, MoRecord] = OrderedDict()
        self.media: dict[str, dict[str, Any]] = {}
        self.queued_ids: deque[str] = deque()
        self.last_inbound: dict[str, float] = {}
        self.fault_answers: Counter[str] = Counter()  # faults actually answered since the last reset

    def chance(self, rate: float) -> bool:
        """True with probability `rate`; caller holds the lock. Rates of 0 and 1 consume no randomness."""
        if rate <= 0:
            return False
        return rate >= 1 or self.random.random() < rate

    def next_id(self) -> str:
        return self.queued_ids.popleft() if self.queued_ids else str(uuid.uuid4())

    def add_message(self, record: MtRecord) -> None:
        self.messages[record.id] = record
        if len(self.messages) > self._max_messages:
            self.messages.popitem(last=False)

    def add_mo(self, record: MoRecord) -> None:
        self.mos[record.id] = record
        if len(self.mos) > self._max_messages:
            self.mos.popitem(last=False)

    def set_faults(self, faults: Faults, reseed: bool) -> None:
        self.faults = faults
        if reseed:
            self.random.seed(faults.seed)

    def reset(self) -> None:
        self.messages.clear()
        self.mos.clear()
        self.media.clear()
        self.queued_ids.clear()
        self.last_inbound.clear()
        self.fault_answers.clear()
        self.set_faults(self._initial_faults, reseed=True)


# ---------------------------------------------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------------------------------------------

class Simulator:
    def __init__(self, config: SimulatorConfig):
        check_loopback(config.host, "the simulator's host")
        self.config = config
        self.mo_target = CallbackTarget.from_url(config.mo_url, "the MO URL") if config.mo_url else None
        self.dlr_target = CallbackTarget.from_url(config.dlr_url, "the DLR URL") if config.dlr_url else None
        self.state = SimulatorState(config.faults, config.max_messages)
        self.stopping = threading.Event()
        self.callbacks = CallbackClient(config.retry, config.callback_timeout, self.stopping)
        self.scheduler = CallbackScheduler(self.callbacks, config.callback_workers)
        self._server: _Server | None = None
        self._server_thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    def start(self) -> Simulator:
        """Listen and serve in background threads; returns once the port is listening. One start per instance."""
        if self._server is not None or self.stopping.is_set():
            raise RuntimeError("a Simulator starts once: make a new one")
        try:
            self._server = _Server((self.config.host, self.config.port), self)
        except OSError as exc:
            raise SimulatorError(f"cannot listen on {self.config.host}:{self.config.port}: "
                                 f"{'the port is already in use' if _is_address_in_use(exc) else exc}") from None
        self.scheduler.start()
        self._server_thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                               name="simulator-http", daemon=True)
        self._server_thread.start()
        log.info("provider simulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and stop the callback workers (safe to call twice)."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)
            self._server_thread = None
        self.scheduler.stop()
        self.callbacks.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- provider API ------------------------------------------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Both compared, always, so the answer time does not tell which one was wrong.
        username_ok = hmac.compare_digest(username.encode(), self.config.api_username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.config.api_password.encode())
        return username_ok and password_ok

    def apply_api_faults(self) -> None:
        """Latency, held requests, 500s and 429s, as the fault config says."""
        with self.state.lock:
            faults = self.state.faults
            hold = self.state.chance(faults.timeout_rate)
            fail = self.state.chance(faults.error_rate)
            throttle = not fail and self.state.chance(faults.throttle_rate)
            self.state.fault_answers.update(held=hold, errors=fail, throttled=throttle)
        if faults.latency_ms > 0:
            self.stopping.wait(faults.latency_ms / 1000)
        if hold:
            # Then answer normally: like a real timeout, the client cannot know whether the send happened.
            self.stopping.wait(faults.timeout_seconds)
        if fail:
            raise provider_error(500, "Internal Server Error")
        if throttle:
            raise provider_error(429, ERROR_THROTTLED)

    def send(self, body: Any) -> list[dict[str, Any]]:
        request = parse_send_request(body, broadcast=False)
        record = self._accept(request)[0]
        return [{"id": record.id, "status": "accepted", "reference": record.reference}]

    def broadcast(self, body: Any) -> list[dict[str, Any]]:
        request = parse_send_request(body, broadcast=True)
        return [{"destination": record.destination, "id": record.id, "status": "accepted"}
                for record in self._accept(request)]

    def _accept(self, request: SendRequest) -> list[MtRecord]:
        accepted_at = utc_now_iso()
        with self.state.lock:
            faults = self.state.faults
            self._check_whatsapp_rules(request, faults)
            records = []
            for destination in request.destinations:
                record = MtRecord(self.state.next_id(), destination, request.source, request.type, request.reference,
                                  request.body, accepted_at)
                self.state.add_message(record)
                records.append(record)
            plans = [self._dlr_plan(faults) for _ in records] if faults.auto_dlr else []
        for record, plan in zip(records, plans):
            self._schedule_dlrs(record, plan)
        return records

    def _check_whatsapp_rules(self, request: SendRequest, faults: Faults) -> None:
        """The errors WhatsApp answers for a well-formed request; caller holds the state lock."""
        if any(contact_key(destination) == UNDELIVERABLE_NUMBER for destination in request.destinations):
            raise bad_request(ERROR_UNDELIVERABLE)
        if request.type == "template":
            if request.type_object.get("name") == MISSING_TEMPLATE:
                raise bad_request(ERROR_NO_TEMPLATE)
        elif faults.enforce_window:
            opened_after = time.time() - CUSTOMER_SERVICE_WINDOW_SECONDS
            if any(self.state.last_inbound.get(contact_key(destination), 0) < opened_after
                   for destination in request.destinations):
                raise bad_request(ERROR_OUTSIDE_WINDOW)

    def _dlr_plan(self, faults: Faults) -> list[DlrStep]:
        """The DLRs one message will get; caller holds the state lock (the dice are shared)."""
        duplicate = self.state.chance(faults.duplicate_dlr_rate)
        final = "rejected" if self.state.chance(faults.reject_rate) else "received"
        statuses = ["sent", final]
        if self.state.chance(faults.out_of_order_dlr_rate):
            statuses.reverse()
        delays = [faults.dlr_sent_delay, faults.dlr_received_delay]
        return [DlrStep(status, delay, duplicate) for status, delay in zip(statuses, delays)]

    def _schedule_dlrs(self, record: MtRecord, steps: list[DlrStep]) -> None:
        """Each DLR is scheduled once the one before it is delivered (or given up), so they arrive in plan order."""
        if not steps or self.dlr_target is None:
            return
        step, later = steps[0], steps[1:]
        payload = {"id": record.id, "status": step.status, "reference": record.reference}

        def done(delivery: Delivery) -> None:
            self._record_dlr(record, step.status, delivery)
            if step.duplicate:
                self.scheduler.schedule(CallbackJob(self.dlr_target, payload, self._recorder(record, step.status)), 0)
            self._schedule_dlrs(record, later)

        self.scheduler.schedule(CallbackJob(self.dlr_target, payload, done), step.delay)

    def _recorder(self, record: MtRecord, status: str) -> Callable[[Delivery], None]:
        return lambda delivery: self._record_dlr(record, status, delivery)

    def _record_dlr(self, record: MtRecord, status: str, delivery: Delivery) -> None:
        with self.state.lock:
            record.dlrs.append({"status": status, "http_status": delivery.http_status, "attempts": delivery.attempts})

    def upload_media(self, content_type: str, body: bytes, source: str | None) -> list[dict[str, str]]:
        upload = read_upload(content_type, body)
        media_id = new_media_id()
        with self.state.lock:
            self.state.media[media_id] = {"id": media_id, "source": source, "filename": upload.filename,
                                          "mime_type": upload.content_type, "size": len(upload.data),
                                          "sha256": hashlib.sha256(upload.data).hexdigest()}
        return [{"id": media_id}]

    def message_record(self, message_id: str | None) -> dict[str, Any]:
        if not message_id:
            raise bad_request("id query parameter is required")
        with self.state.lock:
            record = self.state.messages.get(message_id) or self.state.mos.get(message_id)
            if record is None:
                raise provider_error(404, f"message {message_id} not found")
            return record.provider_record()

    # -- control (/_sim) ---------------------------------------------------------------------------------------------

    def faults(self) -> dict[str, Any]:
        with self.state.lock:
            return asdict(self.state.faults)

    def stats(self) -> dict[str, int]:
        """How many faults were answered since the last reset: `{"throttled", "errors", "held"}`."""
        with self.state.lock:
            return {kind: self.state.fault_answers[kind] for kind in ("throttled", "errors", "held")}

    def update_faults(self, changes: Any) -> dict[str, Any]:
        with self.state.lock:
            try:
                faults = self.state.faults.updated(changes)
            except ValueError as exc:
                raise ApiError(400, {"error": str(exc)}) from None
            self.state.set_faults(faults, reseed="seed" in changes)
            return asdict(faults)

    def queue_ids(self, body: Any) -> dict[str, Any]:
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(item, str) and item for item in ids):
            raise ApiError(400, {"error": "ids must be a list of non-empty strings"})
        with self.state.lock:
            self.state.queued_ids.extend(ids)
            return {"queued": len(self.state.queued_ids)}

    def list_messages(self, reference: str | None = None) -> list[dict[str, Any]]:
        with self.state.lock:
            return [record.listing() for record in self.state.messages.values()
                    if reference is None or record.reference == reference]

    def reset(self) -> dict[str, Any]:
        self.scheduler.clear()
        with self.state.lock:
            self.state.reset()
            return {"status": "reset", "faults": asdict(self.state.faults)}

    def send_dlr(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not isinstance(body.get("status"), str):
            raise ApiError(400, {"error": "id and status (strings) are required"})
        if self.dlr_target is None:
            raise ApiError(409, {"error": "no DLR URL is configured"})
        with self.state.lock:
            record = self.state.messages.get(body["id"])
        reference = body.get("reference", record.reference if record else "")
        payload = {"id": body["id"], "status": body["status"], "reference": reference}
        delivery = self.callbacks.deliver(self.dlr_target, payload)
        if record is not None:
            self._record_dlr(record, body["status"], delivery)
        return {**payload, "callback_status": delivery.http_status, "attempts": delivery.attempts}

    def simulate_mo(self, body: Any) -> dict[str, Any]:
        """A customer writes: build the WhatsApp message, post it to the MO URL (with retries), remember it.

        Body: type (default text), from, to, text, content (a raw WhatsApp message object, sent as is),
        content_as_string, encoding ("base64"), destination_key ("Destination"), message_id, interactive_type,
        extra (keys added to the callback envelope).
        """
        if not isinstance(body, dict):
            raise ApiError(400, {"error": "body must be a JSON object"})
        if not isinstance(body.get("extra") or {}, dict):
            raise ApiError(400, {"error": "extra must be an object (keys added to the callback envelope)"})
        sender = str(body.get("from") or DEFAULT_CUSTOMER)
        business = str(body.get("to") or self.config.source)
        now = time.time()
        content = body["content"] if "content" in body else inbound_message(
            str(body.get("type") or "text"), sender, business, body, now)
        envelope_content, encoding_keys = encode_mo_content(
            content, as_string=bool(body.get("content_as_string")), base64_encoded=body.get("encoding") == "base64")
        mo_id = str(uuid.uuid4())
        envelope = {"id": mo_id, "source": sender, str(body.get("destination_key") or "destination"): business,
                    "content": envelope_content, **encoding_keys, **(body.get("extra") or {})}
        with self.state.lock:
            self.state.last_inbound[contact_key(sender)] = now
            self.state.add_mo(MoRecord(mo_id, sender, business, content))
        callback_status = None
        if self.mo_target is None:
            log.warning("no MO URL configured: MO %s is recorded but not delivered", mo_id)
        else:
            callback_status = self.callbacks.deliver(self.mo_target, envelope).http_status
        return {"id": mo_id, "content": content, "callback_status": callback_status}


def _is_address_in_use(exc: OSError) -> bool:
    return exc.errno == errno.EADDRINUSE


# ---------------------------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------------------------

class _Server(KeepAliveHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], simulator: Simulator):
        self.simulator = simulator
        super().__init__(address, _Handler)


@dataclass
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self, provider: bool) -> Any:
        if not self.body.strip():
            return {} if not provider else None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            message = f"request body is not valid JSON: {exc}"
            error = bad_request(message) if provider else ApiError(400, {"error": message})
            raise error from None


Answer = tuple[int, Any]
RouteHandler = Callable[[Simulator, HttpRequest], Answer]


@dataclass(frozen=True)
class Route:
    handlers: dict[str, RouteHandler]
    provider_api: bool = False
    max_body: int = MAX_JSON_BYTES


ROUTES: dict[str, Route] = {
    f"{API_PREFIX}/messages": Route({
        "POST": lambda sim, request: (202, sim.send(request.json(provider=True))),
        "GET": lambda sim, request: (200, sim.message_record(request.param("id"))),
    }, provider_api=True),
    f"{API_PREFIX}/messages/broadcast": Route({
        "POST": lambda sim, request: (202, sim.broadcast(request.json(provider=True))),
    }, provider_api=True),
    f"{API_PREFIX}/media": Route({
        "POST": lambda sim, request: (200, sim.upload_media(request.headers.get("Content-Type", ""), request.body,
                                                           request.param("source"))),
    }, provider_api=True, max_body=MAX_UPLOAD_BYTES),
    "/_sim/faults": Route({
        "GET": lambda sim, request: (200, sim.faults()),
        "POST": lambda sim, request: (200, sim.update_faults(request.json(provider=False))),
    }),
    "/_sim/stats": Route({"GET": lambda sim, request: (200, sim.stats())}),
    "/_sim/ids": Route({"POST": lambda sim, request: (200, sim.queue_ids(request.json(provider=False)))}),
    "/_sim/messages": Route({"GET": lambda sim, request: (200, sim.list_messages(request.param("reference")))}),
    "/_sim/reset": Route({"POST": lambda sim, request: (200, sim.reset())}),
    "/_sim/dlr": Route({"POST": lambda sim, request: (200, sim.send_dlr(request.json(provider=False)))}),
    "/_sim/mo": Route({"POST": lambda sim, request: (200, sim.simulate_mo(request.json(provider=False)))}),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries Content-Length
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def version_string(self) -> str:
        return "wab-provider-simulator"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self) -> None:
        simulator = self.server.simulator
        parts = urlsplit(self.path)
        route = ROUTES.get(parts.path.rstrip("/") or "/")
        try:
            body = self._read_body(route.max_body if route else MAX_JSON_BYTES)
            if route is None:
                raise ApiError(404, {"error": f"no route for {parts.path}"})
            handler = route.handlers.get(self.command)
            if handler is None:
                raise ApiError(405, {"error": f"{self.command} is not allowed on {parts.path}"})
            if route.provider_api:
                if not simulator.authorized(self.headers.get("Authorization")):
                    raise ApiError(401, {"error": "Unauthorized", "message": "missing or wrong API credentials",
                                         "statusCode": 401})
                simulator.apply_api_faults()
            request = HttpRequest(self.command, parts.path, parse_qs(parts.query), self.headers, body)
            status, payload = handler(simulator, request)
        except ApiError as error:
            status, payload = error.status, error.payload
        except Exception:
            log.exception("%s %s failed", self.command, self.path)
            status, payload = 500, {"error": "simulator bug: see its log"}
        self._answer(status, payload)

    def _read_body(self, limit: int) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise ApiError(400, {"error": "Content-Length must be a non-negative integer"})
        if length > limit:
            self.close_connection = True  # the unread body would otherwise be parsed as the next request
            if limit == MAX_UPLOAD_BYTES:
                raise media_error("file_too_large", f"uploads are limited to {MAX_UPLOAD_BYTES} bytes")
            raise ApiError(413, {"error": f"request body is larger than {limit} bytes"})
        return self.rfile.read(length) if length > 0 else b""

    def _answer(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="wab"')
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------

def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local.simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=DEFAULT_HOST, help="loopback address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default %(default)s)")
    parser.add_argument("--api-username", required=True, help="HTTP Basic username clients must send")
    parser.add_argument("--api-password", required=True, help="HTTP Basic password clients must send")
    parser.add_argument("--mo-url", help="where MO callbacks go, e.g. http://user:pass@127.0.0.1:3000/callbacks/mo")
    parser.add_argument("--dlr-url", help="where DLR callbacks go, e.g. http://user:pass@127.0.0.1:3000/callbacks/dlr")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="business number MOs go to (default %(default)s)")
    parser.add_argument("--seed", type=int, help="seed of the fault dice")
    parser.add_argument("--no-enforce-window", action="store_true", help="allow free-form sends to anyone")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=arguments.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = SimulatorConfig(
        host=arguments.host, port=arguments.port, api_username=arguments.api_username,
        api_password=arguments.api_password, mo_url=arguments.mo_url, dlr_url=arguments.dlr_url,
        source=arguments.source, faults=Faults(seed=arguments.seed, enforce_window=not arguments.no_enforce_window),
    )
    try:
        simulator = Simulator(config).start()
    except SimulatorError as exc:
        log.error("%s", exc)
        return 1
    stop_requested = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    print(f"provider simulator ready on {simulator.url} (API {simulator.api_url}, control {simulator.url}/_sim)",
          flush=True)
    try:
        while not stop_requested.wait(0.5):
            pass
    finally:
        simulator.stop()
        log.info("provider simulator stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
