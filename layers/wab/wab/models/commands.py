"""Commands other services give the sender: send one message, broadcast one to many, upload media from S3, erase a
contact.

They arrive on the send queue either as an EventBridge envelope (`{"detail-type": "WhatsApp Send Requested",
"source": …, "detail": {…}}`, put there by the bus rules) or as the bare command sent straight to the queue. A bare
command says what it is in `"command": "send" | "broadcast" | "media_upload" | "erase_contact"`; without it the shape
decides: `bucket` and `key` make a media upload, a list `destination` a broadcast, anything else a send. An erasure is
never guessed from a shape: it must say `"command": "erase_contact"` (or come as its detail-type).

A message command is flat on the wire, as the provider takes it (`{destination, type, <type object>, source?,
reference?, idempotency_key?, context?}`); here the type and its object are gathered into `message`, validated by
the model of its WhatsApp message type (`wab.models.outbound`). `to` is accepted as a spelling of `destination`.
Everything is checked before the provider is called: E.164 recipients (a missing "+" is added), text up to 4,096
characters, captions up to 1,024, captions and file names only where WhatsApp takes them, required fields present
and not blank, a list's rows and a message's buttons as WhatsApp takes them.
WhatsApp objects with options this gateway does not model (template parameters, contact cards, interactive headers)
keep their extra keys and pass them on.
"""

import hashlib
import json
import re
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from wab import jsoncodec
from wab.errors import InvalidCommand, InvalidPayload
from wab.limits import MAX_SENT_CONTENT_BYTES, has_unstorable_key
from wab.models.catalogue import TemplateSpec
from wab.models.outbound import CONTENT_KEYS, Label, MessageContent
from wab.models.outbound.template import Template, TemplateContent
from wab.models.types import PhoneNumber, Reference, StrictModel
from wab.models.validation import describe
from wab.models.waits import (
    DEFAULT_WAIT_FOR,
    DEFAULT_WAIT_TIMEOUT_SECONDS,
    MAX_TASK_TOKEN,
    BroadcastWaitFor,
    TaskToken,
    WaitFor,
    WaitRequest,
    WaitTimeoutSeconds,
)

MAX_BROADCAST_RECIPIENTS = 10_000  # far more would not fit an SQS message or an EventBridge event anyway
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
CONTACT_PATTERN = r"^\+[0-9]{1,32}$"
DETAIL_TYPES = {
    "WhatsApp Send Requested": "send",
    "WhatsApp Broadcast Requested": "broadcast",
    "WhatsApp Media Upload Requested": "media_upload",
    "WhatsApp Contact Erasure Requested": "erase_contact",
    "WhatsApp Template Catalogue Updated": "update_catalogue",
}
COMMAND_KINDS = tuple(DETAIL_TYPES.values())
WAIT_FIELDS = frozenset({"task_token", "wait_for", "wait_timeout_seconds"})  # how a Step Functions task waits on a send
QUEUE_REQUESTER = "queue"  # who asked, for a command sent straight to the send queue (no bus event names a source)


def _normalise_number(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value if value.startswith("+") else f"+{value}"
    return value


def _check_e164(value: str) -> str:
    if not re.fullmatch(E164_PATTERN, value):
        raise ValueError("must be an E.164 phone number such as +64211234567")
    return value


E164 = Annotated[str, BeforeValidator(_normalise_number), AfterValidator(_check_e164)]


def _check_contact(value: str) -> str:
    if not re.fullmatch(CONTACT_PATTERN, value):
        raise ValueError("must be a phone number: digits, with or without a leading +")
    return value


# Any number a callback may have stored a contact under (`wab.models.types.PhoneNumber`, spelt with its "+"), E.164
# or not: whatever the gateway keeps about a contact can be erased.
ContactNumber = Annotated[str, BeforeValidator(_normalise_number), AfterValidator(_check_contact)]
# A caller's key; a part of a command (a broadcast's chunk or half) has one derived from it (`derived_key`).
MAX_IDEMPOTENCY_KEY = 512
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_IDEMPOTENCY_KEY)]
BroadcastPart = Annotated[str, StringConstraints(pattern=r"^(#(chunk-[0-9]+-of-[0-9]+|split-[12])){1,64}$")]


class ReplyContext(StrictModel):
    message_id: Label


# --- the commands --------------------------------------------------------------------------------------------------


class CommandBase(StrictModel):
    source: PhoneNumber | None = None  # the business number; the gateway's own (BUSINESS_NUMBER) when absent
    reference: Reference | None = None
    idempotency_key: IdempotencyKey | None = None

    @field_validator("reference", mode="before")
    @classmethod
    def empty_reference_is_none(cls, value: Any) -> Any:
        """`""` names nothing (the provider's callbacks say so too): no reference, the same everywhere it would go."""
        return None if value == "" else value

    def wire(self) -> dict[str, Any]:
        """The command as it travels (flat, `command` set), e.g. for a chunk put back on the send queue."""
        return self.model_dump(exclude_none=True)


class MessageCommand(CommandBase):
    message: MessageContent
    context: ReplyContext | None = None
    # Which lane: `high` goes ahead of bulk, `bulk` waits behind transactional traffic; by default a broadcast is
    # bulk and a single send transactional.
    priority: Literal["high", "bulk"] | None = None
    # What the message is, for opt-outs: marketing never reaches a contact who opted out. A template's category in the
    # catalogue says it too.
    category: Literal["marketing", "utility", "authentication"] | None = None

    @model_validator(mode="before")
    @classmethod
    def gather_message(cls, data: Any) -> Any:
        """Move the flat `type` and type objects into `message`, where the model of the type validates them."""
        if isinstance(data, dict) and "message" not in data:
            data = dict(data)
            data["message"] = {key: data.pop(key) for key in CONTENT_KEYS if key in data}
        return data

    def wire(self) -> dict[str, Any]:
        body = super().wire()
        body.update(body.pop("message"))
        return body

    @model_validator(mode="after")
    def storable(self) -> "MessageCommand":
        """What a command says is stored (its record, a message parked for later): a key DynamoDB refuses, where
        the objects take keys of the caller's, or a message too large for a record, would fail only after the
        provider had sent the message."""
        wire = self.wire()
        if has_unstorable_key(wire):
            raise ValueError("has a key DynamoDB cannot store (empty, or of 64 KB or more)")
        parts = {name: value for name, value in wire.items() if name != "destination"}
        size = len(jsoncodec.encode(parts).encode())
        if size > MAX_SENT_CONTENT_BYTES:
            limit = MAX_SENT_CONTENT_BYTES
            raise ValueError(f"the command is {size} bytes besides its recipients; the limit is {limit}")
        return self

    def provider_body(self, destination: str | list[str], source: str) -> dict[str, Any]:
        """What the provider's send and broadcast calls take."""
        body: dict[str, Any] = {"destination": destination, **self.message.wire(), "source": source}
        if self.context:
            body["context"] = self.context.model_dump()
        if self.reference:
            body["reference"] = self.reference
        return body

    def stored_content(self) -> dict[str, Any]:
        """The message as kept in the MT record: the type, its object and the reply context."""
        content = self.message.wire()
        if self.context:
            content["context"] = self.context.model_dump()
        return content


class SendCommand(MessageCommand):
    command: Literal["send"] = "send"
    destination: E164 = Field(validation_alias=AliasChoices("destination", "to"))
    # A free-form message outside the customer's window: this template goes instead, and the message is parked until
    # the customer replies (`wab.parking`).
    fallback_template: Template | None = None

    @model_validator(mode="after")
    def fallback_only_for_free_form(self) -> "SendCommand":
        if self.fallback_template is not None and not self.message.free_form:
            raise ValueError("fallback_template is for free-form messages; a template needs no fallback")
        return self

    def fallback(self) -> "SendCommand":
        """The template to send instead, as a command of its own (the same contact, reference and category)."""
        assert self.fallback_template is not None
        return self.model_copy(
            update={
                "message": TemplateContent(type="template", template=self.fallback_template),
                "fallback_template": None,
                "context": None,
            }
        )

    def parked(self, park_id: str) -> "SendCommand":
        """The message itself, to send once the customer's window opens: its own idempotency key, so the sender
        does it although it already did (parked) this command."""
        return self.model_copy(update={"fallback_template": None, "idempotency_key": park_id})

    # A Step Functions task waiting on the message (`wab.waits`, docs/workflows.md): its token, what it waits for
    # (default `delivered`) and for how long after the provider accepted the message (default a day, at most a week).
    task_token: TaskToken | None = None
    wait_for: WaitFor | None = None
    wait_timeout_seconds: WaitTimeoutSeconds | None = None

    @model_validator(mode="after")
    def waits_need_a_token(self) -> "SendCommand":
        _wait_fields_need_a_token(self)
        if self.task_token is not None and self.fallback_template is not None:
            # Which message would the task wait on: the template, or the one parked until the customer writes? Not
            # built yet: the task is told at once (`invalid_command`) rather than left waiting.
            raise ValueError("a message with a fallback_template cannot be waited on yet; send the template instead")
        return self

    @property
    def wait(self) -> WaitRequest | None:
        """The wait the command asks for, with its defaults; None without a task token."""
        return _asked_wait(self)


def _wait_fields_need_a_token(command: "SendCommand | BroadcastCommand") -> None:
    if command.task_token is None and (command.wait_for is not None or command.wait_timeout_seconds is not None):
        raise ValueError("wait_for and wait_timeout_seconds need a task_token")


def _asked_wait(command: "SendCommand | BroadcastCommand") -> WaitRequest | None:
    """The wait a command asks for, with its defaults; None without a task token."""
    if command.task_token is None:
        return None
    return WaitRequest(
        task_token=command.task_token,
        wait_for=command.wait_for or DEFAULT_WAIT_FOR,
        timeout_seconds=command.wait_timeout_seconds or DEFAULT_WAIT_TIMEOUT_SECONDS,
    )


class BroadcastCommand(MessageCommand):
    command: Literal["broadcast"] = "broadcast"
    destination: Annotated[list[E164], Field(min_length=1, max_length=MAX_BROADCAST_RECIPIENTS)] = Field(
        validation_alias=AliasChoices("destination", "to")
    )
    # Which part of the caller's broadcast this is, when the gateway divided it (`#chunk-2-of-3`, then `#split-1` for
    # a half of a call the provider refused whole): done once under the caller's key with the part added
    # (`key_basis`), while its events name the caller's own key. Set by the gateway, and kept by a part moved back
    # from the dead-letter queue, so it is done under its own key again; not in the public schema.
    part: SkipJsonSchema[BroadcastPart | None] = None

    @field_validator("destination")
    @classmethod
    def once_each(cls, numbers: list[str]) -> list[str]:
        """A recipient listed twice (even spelt differently) gets one copy."""
        return list(dict.fromkeys(numbers))

    # A Step Functions task waiting on the whole broadcast (`wab.broadcastwaits`): answered with its counts once
    # every recipient has an outcome for `wait_for` (default `delivered`), from the reference's summary.
    task_token: TaskToken | None = None
    wait_for: BroadcastWaitFor | None = None
    wait_timeout_seconds: WaitTimeoutSeconds | None = None

    @model_validator(mode="after")
    def waits_need_a_token_and_a_reference(self) -> "BroadcastCommand":
        _wait_fields_need_a_token(self)
        if self.task_token is not None and self.reference is None:
            raise ValueError("a broadcast waited on needs a reference: its summary is what the task waits on")
        return self

    @property
    def wait(self) -> WaitRequest | None:
        return _asked_wait(self)

    def without_wait(self) -> "BroadcastCommand":
        """The broadcast as its chunks carry it: the wait is the intake's to begin, once, not each chunk's."""
        return self.model_copy(update=dict.fromkeys(WAIT_FIELDS))


MediaKind = Literal["image", "video", "audio", "document", "sticker"]


class MediaUploadCommand(CommandBase):
    command: Literal["media_upload"] = "media_upload"
    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    key: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    kind: MediaKind | None = None  # decided from the MIME type when absent (image/webp counts as a sticker)


class EraseContactCommand(StrictModel):
    """Erase everything the gateway stores about a contact: its message records (MO and MT) and its window time."""

    command: Literal["erase_contact"] = "erase_contact"
    contact: ContactNumber
    reference: Reference | None = None
    idempotency_key: IdempotencyKey | None = None

    def wire(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class CatalogueUpdateCommand(StrictModel):
    """Run-time entries of the template catalogue (`wab.catalogue`), each replacing what it said of its template."""

    command: Literal["update_catalogue"] = "update_catalogue"
    templates: Annotated[list[TemplateSpec], Field(min_length=1, max_length=1000)]
    reference: Reference | None = None
    idempotency_key: IdempotencyKey | None = None

    def wire(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def _command_kind(value: dict[str, Any]) -> str | None:
    if "command" in value:
        return value["command"] if isinstance(value["command"], str) and value["command"] in COMMAND_KINDS else None
    if "bucket" in value and "key" in value:
        return "media_upload"
    if isinstance(value.get("destination", value.get("to")), list):
        return "broadcast"
    return "send"


AnyCommand = SendCommand | BroadcastCommand | MediaUploadCommand | EraseContactCommand | CatalogueUpdateCommand
COMMAND_MODELS: dict[str, type[AnyCommand]] = {
    "send": SendCommand,
    "broadcast": BroadcastCommand,
    "media_upload": MediaUploadCommand,
    "erase_contact": EraseContactCommand,
    "update_catalogue": CatalogueUpdateCommand,
}


def validate_command(payload: dict[str, Any]) -> AnyCommand:
    """The command as the model of its kind; ValidationError if invalid, InvalidCommand if of no known kind.

    Dispatching on the kind rather than validating a union of every command means the sender builds a command's
    validator when it first gets one of that kind, not all of them on its cold start.
    """
    kind = _command_kind(payload)
    if kind is None:
        raise InvalidCommand(
            "command: command must be send, broadcast, media_upload, erase_contact or update_catalogue",
            **_hints(payload),
        )
    return COMMAND_MODELS[kind].model_validate(payload)


# --- parsing -------------------------------------------------------------------------------------------------------


class Delivery(NamedTuple):
    """A command and how it came: in a bus event (its `source` and `id`) or straight on the send queue."""

    command: AnyCommand
    event_source: str | None = None
    event_id: str | None = None

    @property
    def requested_by(self) -> str:
        return self.event_source or QUEUE_REQUESTER


def parse_command(body: str | bytes) -> AnyCommand:
    """The command in an SQS message body (an EventBridge envelope or the bare command); InvalidCommand if none."""
    return parse_delivery(body).command


def parse_delivery(body: str | bytes) -> Delivery:
    """`parse_command`, keeping the envelope's source and id when the command came through the bus."""
    try:
        payload = jsoncodec.decode(body, what="message body", unique_everywhere=True)  # whose key would count?
    except InvalidPayload as exc:
        raise InvalidCommand(exc.message, **_hints_of_unclean(body)) from None
    if not isinstance(payload, dict):
        raise InvalidCommand("message body must be a JSON object")
    event_source, event_id = _envelope_identity(payload)
    replayed = "replay-name" in payload and "detail" in payload
    payload = _unwrap_envelope(payload)
    try:
        command = validate_command(payload)
    except ValidationError as exc:
        raise InvalidCommand(describe(exc, whole="command", locate=_caller_location), **_hints(payload)) from None
    if replayed and command.idempotency_key is None:
        # Without a key a request is known by its bus event's id, which a replay from the archive need not keep:
        # whether it was done already could not be told, and a send would go twice.
        raise InvalidCommand(
            "a request replayed from the event archive needs an idempotency_key to be done once",
            repeat=True,
            **_hints(payload),
        )
    return Delivery(command, event_source, event_id)


def _envelope_identity(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    if "detail-type" not in payload or "detail" not in payload:
        return None, None
    source, event_id = payload.get("source"), payload.get("id")
    return (
        source if isinstance(source, str) and source else None,
        event_id if isinstance(event_id, str) and event_id else None,
    )


def _unwrap_envelope(payload: dict[str, Any]) -> dict[str, Any]:
    if "detail-type" not in payload or "detail" not in payload:
        return payload
    detail_type, detail = payload["detail-type"], payload["detail"]
    if not isinstance(detail_type, str) or detail_type not in DETAIL_TYPES:
        raise InvalidCommand(f"detail-type {str(detail_type)[:100]!r} is not a command the sender takes")
    if not isinstance(detail, dict):
        raise InvalidCommand("detail must be a JSON object")
    kind = DETAIL_TYPES[detail_type]
    if detail.get("command", kind) != kind:
        raise InvalidCommand(
            f"detail.command {str(detail['command'])[:100]!r} contradicts detail-type {detail_type!r}", **_hints(detail)
        )
    return {**detail, "command": kind}


def _hints(payload: dict[str, Any]) -> dict[str, Any]:
    """What a failure report can say about a command that did not validate (only values that look right).

    A failed erasure names no number at all: its report must not put on the bus what it was asked to erase.
    """
    reference = payload.get("reference")
    command = payload.get("command", _command_kind(payload))  # a bare command is known by its shape
    destination = None if command == "erase_contact" else payload.get("destination", payload.get("to"))
    token = payload.get("task_token")
    key = payload.get("idempotency_key")
    # A broadcast's recipients, each counted once as spelt: its campaign counts each one as failed.
    recipients = len({str(each) for each in destination}) if isinstance(destination, list) and destination else None
    return {
        "recipients": recipients,
        "reference": reference if isinstance(reference, str) and len(reference) <= 256 else None,
        "idempotency_key": key if isinstance(key, str) and 0 < len(key) <= MAX_IDEMPOTENCY_KEY else None,
        "destination": destination if isinstance(destination, str) and len(destination) <= 32 else None,
        "command": command if isinstance(command, str) and command in COMMAND_KINDS else None,
        # A task waiting on a command that can never be done is told so (`wab.waits`), if its token can be a token.
        "task_token": token if isinstance(token, str) and 0 < len(token) <= MAX_TASK_TOKEN else None,
    }


def _hints_of_unclean(body: str | bytes) -> dict[str, Any]:
    """`_hints` of a body the codec refuses (a NUL character, a lone surrogate, deep nesting somewhere in it), read as
    plain JSON only for that: its report still names the command, its reference and its task; an unclean hint is
    left out."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(payload, dict):
        return {}
    detail_type, detail = payload.get("detail-type"), payload.get("detail")
    if isinstance(detail_type, str) and detail_type in DETAIL_TYPES and isinstance(detail, dict):
        payload = {**detail, "command": DETAIL_TYPES[detail_type]}
    hints = {}
    for name, value in _hints(payload).items():
        try:
            jsoncodec.check_clean(value)
        except InvalidPayload:
            value = None
        hints[name] = value
    return hints


def _caller_location(location: tuple[Any, ...]) -> list[Any]:
    parts = list(location)
    if parts[:1] == ["message"]:
        parts = parts[1:] or ["type"]  # the flat fields; a message of no known type is its `type`'s fault
    if parts[:1] == ["interactive"] and parts[1:2] in (["button"], ["list"], ["cta_url"], ["flow"]):
        parts = parts[:1] + parts[2:]
    return parts


# --- identity ------------------------------------------------------------------------------------------------------


def fingerprint(command: AnyCommand, *, delivery_id: str = "") -> str:
    """A hash of everything the command says, the same however it arrived (envelope or bare, `to` or `destination`).

    How a caller waits on the message (`task_token`, `wait_for`, `wait_timeout_seconds`) is not part of what it says: a
    Step Functions task retried with the same `idempotency_key` comes with a new token, and is a repeat of the same
    command, whose wait the new token takes over (`wab.waits`), not a reuse of the key for another command.
    """
    said = command.model_dump(mode="json", exclude_none=True, exclude={*WAIT_FIELDS, "part"})
    if getattr(command, "part", None):  # a part says which by its key (as parts did when their key was written in)
        said["idempotency_key"] = key_basis(command, delivery_id=delivery_id)
    if isinstance(said.get("destination"), list):  # a broadcast's recipients are a set: in any order, the same
        said["destination"] = sorted(said["destination"])
    canonical = json.dumps(said, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_basis(command: AnyCommand, *, delivery_id: str) -> str:
    """What makes two requests the same command: the caller's idempotency key, else the request's own delivery (the
    bus event's id, or the id of the message sent straight to the send queue). So a redelivered request is done once,
    and a new request that looks like an earlier one is a new command: a `reference` is only a correlation id, which
    many commands may share. A part of a broadcast adds its place, so the same broadcast divided again (redelivered,
    repeated) yields the same parts, each done once."""
    basis = command.idempotency_key or f"delivery:{delivery_id}"
    part = getattr(command, "part", None)
    return derived_key(basis, part) if part else basis


def part_of(command: BroadcastCommand, part: str) -> dict[str, Any]:
    """The update that makes a copy of the command its `part` (after any it already is)."""
    return {"part": (command.part or "") + part}


def derived_key(basis: str, suffix: str) -> str:
    """The idempotency key of a part of a command (a broadcast's chunk or half): its own key and the part's place,
    the key hashed when both together would be longer than a key may be."""
    if len(basis) + len(suffix) > MAX_IDEMPOTENCY_KEY:
        basis = "sha256:" + hashlib.sha256(basis.encode()).hexdigest()
    return basis + suffix


def idempotency_key(command: AnyCommand, *, delivery_id: str) -> str:
    """The key a command is done once under; the kind is part of it, so a send and an upload never collide."""
    return f"{command.command}:{key_basis(command, delivery_id=delivery_id)}"
