"""The provider's WhatsApp Business REST API: send, broadcast, upload media, read a message record.

One `requests.Session` per container keeps connections alive. The base URL and the HTTP Basic credentials come from
the provider secret (`{"base_url", "username", "password", "xsrf_token"?}`) through Powertools parameters, cached;
when the provider refuses them the secret is read again once (it may have been rotated) and the call repeated once.
Every failure becomes a domain error, decided in one place (`classify_failure`):

| answer | error | the sender |
|---|---|---|
| 429, or WhatsApp 130429 (throughput) / 131056 (pair rate) | ProviderUnavailable | retries with backoff |
| 408, 5xx, timeout, connection failure | ProviderUnavailable | retries with backoff |
| 401 / 403 (after one refresh) | ProviderCredentialsRejected | retries; ends in the DLQ, which alarms |
| other 4xx (131047, 131026, 132001, …; 422 media errors) | ProviderRejected(code, message) | reports Failed |

Nothing secret is logged: only paths, status codes and the provider's error text.
"""

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import IO, Any

import requests
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from pydantic import ConfigDict, SecretStr, ValidationError, field_validator

from wab import aws, jsoncodec
from wab.errors import (
    CODE_SHAPE,
    UNREADABLE_ANSWER,
    DependencyFailed,
    GatewayError,
    InvalidPayload,
    ProviderCredentialsRejected,
    ProviderRejected,
    ProviderUnavailable,
)
from wab.models.types import Model, OpenModel, ProviderId
from wab.observability import logger, trace_requests

CONNECT_TIMEOUT_SECONDS = 3.05  # just over a TCP retransmission window
READ_TIMEOUT_SECONDS = 10
MIN_CALL_SECONDS = 0.5  # with less time than this before the deadline, a call is not started
# 131049: the contact's per-user marketing limit this period; it passes in hours, so it is retried, never final.
RETRYABLE_WHATSAPP_CODES = {"130429": "throttled", "131056": "pair_rate_limited", "131049": "marketing_limited"}
WHATSAPP_CODE = re.compile(r"\(#(\d+)\)")
MAX_ERROR_TEXT = 1000
UPLOAD_CHUNK_BYTES = 64 * 1024
LOOPBACK_HTTP = r"^http://(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?(/|$)"
POOL_SIZE = 10  # connections kept to the provider: one per record of a batch the sender runs side by side

trace_requests()


class ProviderCredentials(Model):
    model_config = ConfigDict(extra="ignore")

    base_url: str
    username: str
    password: SecretStr
    xsrf_token: SecretStr | None = None  # sent as x-xsrf-token on media uploads when the account needs one

    @field_validator("base_url")
    @classmethod
    def https_url(cls, value: str) -> str:
        """HTTPS, so credentials and messages never cross a network in the clear; plain HTTP only to this machine
        (the local stack's provider simulator)."""
        if re.match(r"^https://[^\s/]+", value) or re.match(LOOPBACK_HTTP, value):
            return value.rstrip("/")
        raise ValueError("must be an https:// URL (http:// only to 127.0.0.1 or localhost)")


class SendAnswer(OpenModel):
    id: ProviderId  # the key of the message's record: an id that cannot be one is no answer the gateway can use
    status: str | None = None
    reference: str | None = None


class BroadcastAnswer(OpenModel):
    destination: str
    id: str | None = None
    status: str | None = None


class ProviderMessage(OpenModel):
    """A record from `GET /messages?id=`; `content` is the WhatsApp message as a JSON string."""

    id: str
    source: str | None = None
    destination: str | None = None
    direction: str | None = None
    reference: str | None = None
    content: Any = None


# Opens the file to upload and tells its length in bytes; called again when the upload has to be repeated.
OpenFile = Callable[[], tuple[IO[bytes], int]]


class ProviderClient:
    def __init__(self, secret_arn: str, *, secret_max_age: int = 300):
        self.secret_arn = secret_arn
        self.secret_max_age = secret_max_age
        self._session: requests.Session | None = None

    # --- the API ---------------------------------------------------------------------------------------------------

    # Each call takes an optional deadline (a `time.monotonic()` value): the call, its credential retry and an upload's
    # body included, ends by then with ProviderUnavailable("timeout"), so it never outlives the Lambda invocation
    # that made it (which would fail the invocation's other work with it).

    def send(self, body: dict[str, Any], *, deadline: float | None = None) -> SendAnswer:
        """`POST /messages`: the provider's id for the accepted message."""
        answer = _json_or_none(self._request("POST", "/messages", json_body=body, deadline=deadline).content)
        items = answer if isinstance(answer, list) else [answer]
        try:
            return SendAnswer.model_validate(items[0])
        except (ValidationError, IndexError):
            raise _unreadable_acceptance() from None

    def broadcast(self, body: dict[str, Any], *, deadline: float | None = None) -> list[BroadcastAnswer]:
        """`POST /messages/broadcast`: one answer per recipient."""
        answer = _json_or_none(self._request("POST", "/messages/broadcast", json_body=body, deadline=deadline).content)
        try:
            return [BroadcastAnswer.model_validate(item) for item in answer]
        except (ValidationError, TypeError):
            raise _unreadable_acceptance() from None

    def upload_media(
        self, *, source: str, filename: str, content_type: str, open_file: OpenFile, deadline: float | None = None
    ) -> str:
        """`POST /media?source=` with the file streamed as multipart field `file`: the media id."""

        # The body must be out in time for the provider's answer to come back before the deadline: up to the read
        # timeout (or half the time left, when less) is kept for that answer.
        answer_time = min(READ_TIMEOUT_SECONDS, (deadline - time.monotonic()) / 2) if deadline is not None else None

        def body() -> "MultipartFile":
            stream, length = open_file()
            body_deadline = deadline - answer_time if deadline is not None and answer_time is not None else None
            return MultipartFile("file", filename, content_type, stream, length, deadline=body_deadline)

        response = self._request(
            "POST",
            "/media",
            params={"source": source},
            make_body=body,
            for_upload=True,
            deadline=deadline,
            read_timeout=answer_time,
        )
        answer = _json_or_none(response.content)
        items = answer if isinstance(answer, list) else [answer]
        media_id = items[0].get("id") if items and isinstance(items[0], dict) else None
        if not isinstance(media_id, str) or not media_id:
            raise ProviderRejected(UNREADABLE_ANSWER, "the provider took the upload but gave no media id")
        return media_id

    def get_message(self, message_id: str, *, deadline: float | None = None) -> ProviderMessage | None:
        """`GET /messages?id=`: the provider's record, or None when it has none."""
        response = self._request("GET", "/messages", params={"id": message_id}, absent_ok=True, deadline=deadline)
        if response.status_code == 404:
            return None
        try:
            return ProviderMessage.model_validate(_json_or_none(response.content))
        except ValidationError:
            raise ProviderUnavailable(
                "the provider's message record is not readable", code="unreadable_answer"
            ) from None

    # --- transport -------------------------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        make_body: Callable[[], "MultipartFile"] | None = None,
        for_upload: bool = False,
        absent_ok: bool = False,
        deadline: float | None = None,
        read_timeout: float | None = None,
    ) -> requests.Response:
        """Call the provider; on refused credentials read the secret again and call once more."""
        for attempt in (1, 2):
            credentials = self._credentials(refresh=attempt == 2)
            headers = {"accept": "application/json"}
            data: Any = None
            if json_body is not None:
                headers["content-type"] = "application/json"
                data = jsoncodec.encode(json_body).encode()
            if make_body is not None:
                data = make_body()
                headers["content-type"] = data.content_type
            if for_upload and credentials.xsrf_token:
                headers["x-xsrf-token"] = credentials.xsrf_token.get_secret_value()
            timeouts = call_timeouts(deadline, read_timeout)
            response = self._send_http(
                method, credentials.base_url + path, credentials, headers, params, data, timeouts
            )
            if 200 <= response.status_code < 300 or (absent_ok and response.status_code == 404):
                return response
            failure = classify_failure(response.status_code, response.content, response.headers)
            log_failure(method, path, response.status_code, failure)
            if not isinstance(failure, ProviderCredentialsRejected) or attempt == 2:
                raise failure
            logger.warning("provider refused the credentials; reading the secret again", extra={"path": path})
        raise AssertionError("unreachable")

    def _send_http(
        self,
        method: str,
        url: str,
        credentials: ProviderCredentials,
        headers: dict[str, str],
        params: dict[str, str] | None,
        data: Any,
        timeouts: tuple[float, float],
    ) -> requests.Response:
        try:
            return self._http().request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                auth=(credentials.username, credentials.password.get_secret_value()),
                timeout=timeouts,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise failure_from_exception(exc) from exc

    def _http(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE, max_retries=0))
            session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE, max_retries=0))
            self._session = session
        return self._session

    def _credentials(self, *, refresh: bool) -> ProviderCredentials:
        try:
            secret = aws.secrets().get(
                self.secret_arn, transform="json", max_age=self.secret_max_age, force_fetch=refresh
            )
            return ProviderCredentials.model_validate(secret)
        except GetParameterError as exc:
            raise DependencyFailed("the provider secret could not be read") from exc
        except ValidationError as exc:
            fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
            raise DependencyFailed(f"the provider secret is incomplete or wrong: {fields}") from None


def _unreadable_acceptance() -> ProviderRejected:
    # The provider said yes, so the message may be on its way: retrying could send it twice. Report it instead.
    return ProviderRejected(
        UNREADABLE_ANSWER, "the provider accepted the request but its answer names no usable message id"
    )


# --- failures ----------------------------------------------------------------------------------------------------


def classify_failure(status: int, body: bytes | str, headers: Any = None) -> GatewayError:
    """The domain error for a provider answer that is not a success (see the table at the top)."""
    payload = _json_or_none(body)
    whatsapp_code = whatsapp_error_code(payload)
    text = error_text(payload, body)
    if status in (401, 403):
        return ProviderCredentialsRejected(f"the provider refused the credentials (HTTP {status})")
    if status == 429 or whatsapp_code in RETRYABLE_WHATSAPP_CODES:
        code = RETRYABLE_WHATSAPP_CODES.get(whatsapp_code or "", "throttled")
        return ProviderUnavailable(
            f"provider throttled the request: {text}", code=code, retry_after=retry_after_seconds(headers)
        )
    if status == 408 or status >= 500 or status < 400:
        return ProviderUnavailable(
            f"provider answered HTTP {status}: {text}", code=f"http_{status}", retry_after=retry_after_seconds(headers)
        )
    if status == 422 and isinstance(payload, dict) and isinstance(payload.get("errors"), list):
        return _unprocessable(payload["errors"])
    return ProviderRejected(whatsapp_code or f"http_{status}", text, http_status=status)


def call_timeouts(deadline: float | None, read_timeout: float | None = None) -> tuple[float, float]:
    """requests' (connect, read) timeouts for a call that must end by `deadline`, reading for at most `read_timeout`
    (READ_TIMEOUT_SECONDS when not given)."""
    read = min(READ_TIMEOUT_SECONDS, read_timeout or READ_TIMEOUT_SECONDS)
    if deadline is None:
        return CONNECT_TIMEOUT_SECONDS, read
    left = deadline - time.monotonic()
    if left < MIN_CALL_SECONDS:
        raise ProviderUnavailable("no time was left for the provider call", code="timeout")
    connect = min(CONNECT_TIMEOUT_SECONDS, left / 2)
    return connect, min(read, left - connect)


class UploadTooSlow(OSError):
    """The upload's body was still being sent at its deadline."""


def failure_from_exception(exc: requests.RequestException) -> ProviderUnavailable:
    """Timeouts and connection failures: the provider may be fine a moment later."""
    # requests wraps an OSError raised while sending the body (UploadTooSlow) in a ConnectionError
    too_slow = any(isinstance(arg, UploadTooSlow) for arg in exc.args)
    kind = "timeout" if isinstance(exc, requests.Timeout) or too_slow else "connection_failed"
    return ProviderUnavailable(f"provider not reached: {type(exc).__name__}", code=kind)


def whatsapp_error_code(payload: Any) -> str | None:
    """The WhatsApp error code of a 400 answer: a numeric `code`, or `(#131047)` inside the error text."""
    if not isinstance(payload, dict):
        return None
    candidates = [payload]
    if isinstance(payload.get("error"), dict):  # Meta's own shape: {"error": {"code": 131047, "message": …}}
        candidates.insert(0, payload["error"])
    for candidate in candidates:
        code = candidate.get("code")
        if (isinstance(code, int) and not isinstance(code, bool)) or (isinstance(code, str) and code.isdigit()):
            return str(code)
    for candidate in candidates:
        for field in ("error", "message"):
            if isinstance(candidate.get(field), str) and (match := WHATSAPP_CODE.search(candidate[field])):
                return match.group(1)
    return None


def error_text(payload: Any, body: bytes | str) -> str:
    """The provider's own words about the failure, short."""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        text = error if isinstance(error, str) and error else payload.get("message")
        if isinstance(text, str) and text:
            return text[:MAX_ERROR_TEXT]
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return raw.strip()[:MAX_ERROR_TEXT] or "no details"


def retry_after_seconds(headers: Any) -> float | None:
    value = (headers or {}).get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 <= seconds <= 86400 else None


def _unprocessable(errors: list[Any]) -> ProviderRejected:
    """A 422 `{errors: [{field, code, description}]}`: the first error's code, every description."""
    described = [error for error in errors if isinstance(error, dict)]
    code = next((str(error["code"]) for error in described if error.get("code")), "http_422")
    if not CODE_SHAPE.fullmatch(code):  # a code is told back, logged and counted: never the provider's prose
        code = "http_422"
    parts = []
    for error in described:
        field = error.get("field")
        description = str(error.get("description") or error.get("code") or "invalid")
        parts.append(f"{field}: {description}" if field else description)
    return ProviderRejected(code, ("; ".join(parts) or "Unprocessable Entity")[:MAX_ERROR_TEXT], http_status=422)


def _json_or_none(body: bytes | str) -> Any:
    try:
        return jsoncodec.decode(body, what="provider answer")
    except InvalidPayload:
        return None


def log_failure(method: str, path: str, status: int, failure: GatewayError) -> None:
    """The failure by its code and status only: the provider's own text may echo a recipient or the message (it goes
    to the requester, in `WhatsApp Message Failed`, never to the logs)."""
    logger.warning(
        "provider call failed", extra={"method": method, "path": path, "http_status": status, "error": failure.code}
    )


# --- multipart upload ------------------------------------------------------------------------------------------


class MultipartFile:
    """A multipart/form-data body with one file field, streamed from `stream` in chunks.

    Its length is known up front (`len()`), so requests sends a Content-Length instead of chunked encoding and the
    file never has to be held in memory whole.
    """

    def __init__(
        self,
        field: str,
        filename: str,
        content_type: str,
        stream: IO[bytes],
        length: int,
        *,
        deadline: float | None = None,
    ):
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{_header_safe(filename)}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._stream = stream
        self._length = length
        self._deadline = deadline

    def __len__(self) -> int:
        return len(self._head) + self._length + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        sent = 0
        while chunk := self._stream.read(UPLOAD_CHUNK_BYTES):
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise UploadTooSlow(f"the upload had sent {sent} of {self._length} bytes at its deadline")
            sent += len(chunk)
            yield chunk
        if sent != self._length:
            # requests turns an OSError raised while sending into a ConnectionError: retried like any failed call
            raise OSError(f"the file changed while uploading ({sent} of {self._length} bytes)")
        yield self._tail


def _header_safe(filename: str) -> str:
    return "".join(char for char in filename if char.isprintable()).replace('"', "%22").replace("\\", "%5C") or "file"
