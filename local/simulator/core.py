"""The simulator itself: its lifecycle, the provider API's behaviour (WhatsApp's rules, faults, DLR plans) and the
control operations behind `/_sim`."""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from local.simulator.callbacks import (
    CallbackClient,
    CallbackJob,
    CallbackScheduler,
    CallbackTarget,
    Delivery,
    check_loopback,
)
from local.simulator.config import API_PREFIX, Faults, SimulatorConfig, SimulatorError
from local.simulator.inbound import encode_mo_content, inbound_message
from local.simulator.media import new_media_id, read_upload
from local.simulator.server import SimulatorServer
from local.simulator.state import DlrStep, MoRecord, MtRecord, SimulatorState, utc_now_iso
from local.simulator.validation import (
    ApiError,
    SendRequest,
    bad_request,
    contact_key,
    parse_send_request,
    provider_error,
)

log = logging.getLogger(__name__)

DEFAULT_CUSTOMER = "+64211234567"
CUSTOMER_SERVICE_WINDOW_SECONDS = 24 * 3600

UNDELIVERABLE_NUMBER = "15550000000"
MISSING_TEMPLATE = "does_not_exist"
ERROR_OUTSIDE_WINDOW = "(#131047) Re-engagement message: more than 24 hours have passed since the customer last replied"
ERROR_NO_TEMPLATE = "(#132001) Template name does not exist in the translation"
ERROR_UNDELIVERABLE = "(#131026) Message undeliverable"
ERROR_THROTTLED = "(#130429) Rate limit hit"
ERROR_PAIR_RATE = "(#131056) (Business Account, Consumer Account) pair rate limit hit"


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
        self._server: SimulatorServer | None = None
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
            self._server = SimulatorServer((self.config.host, self.config.port), self)
        except OSError as exc:
            raise SimulatorError(
                f"cannot listen on {self.config.host}:{self.config.port}: "
                f"{'the port is already in use' if _is_address_in_use(exc) else exc}"
            ) from None
        self.scheduler.start()
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="simulator-http", daemon=True
        )
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
        return [
            {"destination": record.destination, "id": record.id, "status": "accepted"}
            for record in self._accept(request)
        ]

    def _accept(self, request: SendRequest) -> list[MtRecord]:
        accepted_at = utc_now_iso()
        with self.state.lock:
            faults = self.state.faults
            self._check_whatsapp_rules(request, faults)
            records = []
            for destination in request.destinations:
                record = MtRecord(
                    self.state.next_id(),
                    destination,
                    request.source,
                    request.type,
                    request.reference,
                    request.body,
                    accepted_at,
                )
                self.state.add_message(record)
                records.append(record)
            plans = [self._dlr_plan(faults) for _ in records] if faults.auto_dlr else []
        for record, plan in zip(records, plans, strict=False):  # no plans at all when DLRs are not automatic
            self._schedule_dlrs(record, plan)
        return records

    def _check_whatsapp_rules(self, request: SendRequest, faults: Faults) -> None:
        """The errors WhatsApp answers for a well-formed request; caller holds the state lock."""
        now = time.monotonic()
        recipients = [contact_key(destination) for destination in request.destinations]
        source = contact_key(request.source)
        if self.state.pair_rate_exceeded(source, recipients, now):
            self.state.fault_answers.update(pair_rate_limited=1)
            raise bad_request(ERROR_PAIR_RATE)
        if not self.state.take_number_rate(source, len(recipients), now):
            self.state.fault_answers.update(throttled=1)
            raise provider_error(429, ERROR_THROTTLED)
        self.state.count_pair_sends(source, recipients, now)
        if any(contact_key(destination) == UNDELIVERABLE_NUMBER for destination in request.destinations):
            raise bad_request(ERROR_UNDELIVERABLE)
        if request.type == "template":
            if request.type_object.get("name") == MISSING_TEMPLATE:
                raise bad_request(ERROR_NO_TEMPLATE)
        elif faults.enforce_window:
            opened_after = time.time() - CUSTOMER_SERVICE_WINDOW_SECONDS
            if any(
                self.state.last_inbound.get(contact_key(destination), 0) < opened_after
                for destination in request.destinations
            ):
                raise bad_request(ERROR_OUTSIDE_WINDOW)

    def _dlr_plan(self, faults: Faults) -> list[DlrStep]:
        """The DLRs one message will get; caller holds the state lock (the dice are shared)."""
        duplicate = self.state.chance(faults.duplicate_dlr_rate)
        final = "rejected" if self.state.chance(faults.reject_rate) else "received"
        statuses = ["sent", final]
        if self.state.chance(faults.out_of_order_dlr_rate):
            statuses.reverse()
        delays = [faults.dlr_sent_delay, faults.dlr_received_delay]
        return [DlrStep(status, delay, duplicate) for status, delay in zip(statuses, delays, strict=True)]

    def _schedule_dlrs(self, record: MtRecord, steps: list[DlrStep]) -> None:
        """Each DLR is scheduled once the one before it is delivered (or given up), so they arrive in plan order."""
        target = self.dlr_target
        if not steps or target is None:
            return
        step, later = steps[0], steps[1:]
        payload = {"id": record.id, "status": step.status, "reference": record.reference}

        def done(delivery: Delivery) -> None:
            self._record_dlr(record, step.status, delivery)
            if step.duplicate:
                self.scheduler.schedule(CallbackJob(target, payload, self._recorder(record, step.status)), 0)
            self._schedule_dlrs(record, later)

        self.scheduler.schedule(CallbackJob(target, payload, done), step.delay)

    def _recorder(self, record: MtRecord, status: str) -> Callable[[Delivery], None]:
        return lambda delivery: self._record_dlr(record, status, delivery)

    def _record_dlr(self, record: MtRecord, status: str, delivery: Delivery) -> None:
        with self.state.lock:
            record.dlrs.append({"status": status, "http_status": delivery.http_status, "attempts": delivery.attempts})

    def upload_media(self, content_type: str, body: bytes, source: str | None) -> list[dict[str, str]]:
        upload = read_upload(content_type, body)
        media_id = new_media_id()
        with self.state.lock:
            self.state.media[media_id] = {
                "id": media_id,
                "source": source,
                "filename": upload.filename,
                "mime_type": upload.content_type,
                "size": len(upload.data),
                "sha256": hashlib.sha256(upload.data).hexdigest(),
            }
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
        """How many faults were answered since the last reset: `{"throttled", "errors", "held",
        "pair_rate_limited"}` (`throttled` counts both `throttle_rate` and `number_rate` answers)."""
        with self.state.lock:
            kinds = ("throttled", "errors", "held", "pair_rate_limited")
            return {kind: self.state.fault_answers[kind] for kind in kinds}

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
            return [
                record.listing()
                for record in self.state.messages.values()
                if reference is None or record.reference == reference
            ]

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
        original_id (what an `edit` or `revoke` changes: the id this endpoint answered for that MO, or a WhatsApp id),
        extra (keys added to the callback envelope).
        """
        if not isinstance(body, dict):
            raise ApiError(400, {"error": "body must be a JSON object"})
        if not isinstance(body.get("extra") or {}, dict):
            raise ApiError(400, {"error": "extra must be an object (keys added to the callback envelope)"})
        sender = str(body.get("from") or DEFAULT_CUSTOMER)
        business = str(body.get("to") or self.config.source)
        now = time.time()
        options = dict(body)
        if body.get("original_id"):
            options["original_id"] = self._whatsapp_id(str(body["original_id"]))
        content = (
            body["content"]
            if "content" in body
            else inbound_message(str(body.get("type") or "text"), sender, business, options, now)
        )
        envelope_content, encoding_keys = encode_mo_content(
            content, as_string=bool(body.get("content_as_string")), base64_encoded=body.get("encoding") == "base64"
        )
        mo_id = str(uuid.uuid4())
        envelope = {
            "id": mo_id,
            "source": sender,
            str(body.get("destination_key") or "destination"): business,
            "content": envelope_content,
            **encoding_keys,
            **(body.get("extra") or {}),
        }
        with self.state.lock:
            self.state.last_inbound[contact_key(sender)] = now
            self.state.add_mo(MoRecord(mo_id, sender, business, content))
        callback_status = None
        if self.mo_target is None:
            log.warning("no MO URL configured: MO %s is recorded but not delivered", mo_id)
        else:
            callback_status = self.callbacks.deliver(self.mo_target, envelope).http_status
        return {"id": mo_id, "content": content, "callback_status": callback_status}

    def _whatsapp_id(self, mo_or_whatsapp_id: str) -> str:
        """The WhatsApp id of the MO this simulator sent under that id, or the id itself (taken to be a WhatsApp id)."""
        with self.state.lock:
            sent = self.state.mos.get(mo_or_whatsapp_id)
        content = sent.content if sent else None
        if isinstance(content, dict) and isinstance(content.get("id"), str):
            return content["id"]
        return mo_or_whatsapp_id


def _is_address_in_use(exc: OSError) -> bool:
    return exc.errno == errno.EADDRINUSE
