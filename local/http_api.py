"""Serve the template's HTTP API routes locally, calling the real handlers with API Gateway payload format 2.0.

Behaves like an API Gateway HTTP API on its `$default` stage, as far as a client or a handler can tell:
- routes come from the translated template (`RouteSpec`); the most specific route wins (literal segments over
  `{param}` over `{greedy+}`, a method over `ANY`, `$default` last); no route → 404 `{"message":"Not Found"}`;
- `AWS_IAM` routes need a SigV4 `Authorization` header (or presigned query) with `x-amz-date`; it is parsed, not
  verified, so any test credentials do; missing or malformed → 403 `{"message":"Forbidden"}`;
- a route with any other authorizer (Lambda, JWT) is never left open: it answers 500 and a warning names it;
- the event is a genuine format 2.0 event; the body is base64-encoded (`isBase64Encoded: true`) unless its
  content type is text-like and it is valid UTF-8 — so a form post or a body without a content type arrive
  base64-encoded, as they do from API Gateway;
- the handler's answer becomes HTTP like API Gateway does it; a handler exception, a Lambda error or a malformed
  answer → 500 `{"message":"Internal Server Error"}`; a body over 10 MB → 413;
- the stage's throttling (`DefaultRouteSettings`, `RouteSettings`): a token bucket per route, filled at the rate up
  to the burst; a request finding it empty → 429 `{"message":"Too Many Requests"}` before any authorization.
Not emulated: account-level throttling, CORS, custom domains, stage variables, Lambda and JWT authorizers.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.keepalive import KeepAliveHTTPServer
from local.lambda_runtime import InvocationError, LocalFunction
from local.template import IamAuth, RouteSpec, UnsupportedAuth

log = logging.getLogger(__name__)
access_log = logging.getLogger("local.http_api.access")
_ROUTE_WORD = re.compile(r"[a-z_]*")  # the words routes are made of ("callbacks", "messages"); ids and numbers are not

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
STAGE = "$default"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ",".join(values) if values else None


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def message_response(status: int, message: str) -> HttpResponse:
    """API Gateway's own answers: a JSON body with a message."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return HttpResponse(status, [("content-type", "application/json")], body)


# ---------------------------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRoute:
    spec: RouteSpec
    pattern: re.Pattern[str] | None  # None for $default
    parameter_names: tuple[str, ...]
    specificity: tuple[int, ...]  # smaller sorts first


def compile_route(spec: RouteSpec) -> CompiledRoute:
    if spec.path == "$default":
        return CompiledRoute(spec, None, (), (1, 0, 0, 0, 0))
    names: list[str] = []
    parts: list[str] = []
    literals = variables = greedy = 0
    for segment in spec.path.strip("/").split("/") if spec.path != "/" else []:
        match = re.fullmatch(r"\{([^}]+?)(\+?)\}", segment)
        if match is None:
            parts.append(re.escape(segment))
            literals += 1
        elif match.group(2):
            names.append(match.group(1))
            parts.append("(.+)")
            greedy += 1
        else:
            names.append(match.group(1))
            parts.append("([^/]+)")
            variables += 1
    pattern = re.compile("/" + "/".join(parts))
    return CompiledRoute(spec, pattern, tuple(names), (0, greedy, -literals, variables, int(spec.method == "ANY")))


@dataclass(frozen=True)
class RouteMatch:
    route: RouteSpec
    path_parameters: dict[str, str]


class RouteTable:
    def __init__(self, routes: list[RouteSpec] | tuple[RouteSpec, ...]):
        self.routes = sorted((compile_route(route) for route in routes), key=lambda compiled: compiled.specificity)

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        for compiled in self.routes:
            if compiled.spec.method not in (method, "ANY"):
                continue
            if compiled.pattern is None:
                return RouteMatch(compiled.spec, {})
            found = compiled.pattern.fullmatch(raw_path)
            if found:
                values = [unquote(value) for value in found.groups()]
                return RouteMatch(compiled.spec, dict(zip(compiled.parameter_names, values, strict=True)))
        return None


# ---------------------------------------------------------------------------------------------------------------
# The format 2.0 event
# ---------------------------------------------------------------------------------------------------------------

_TEXT_MEDIA_TYPES = re.compile(
    r"text/.*|application/(json|xml|javascript|ecmascript|x-javascript|graphql)|application/.*\+(json|xml)"
)


def is_text_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return bool(_TEXT_MEDIA_TYPES.fullmatch(media_type))


def encode_body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """The event's (body, isBase64Encoded): text stays text only when its type is text-like and it is UTF-8."""
    if is_text_media_type(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def new_request_id() -> str:
    """An id shaped like API Gateway's (`JKJaXmPLvHcESHA=`)."""
    return base64.b64encode(os.urandom(11)).decode("ascii")


def _apigateway_time(epoch_seconds: float) -> str:
    moment = time.gmtime(epoch_seconds)
    return (
        f"{moment.tm_mday:02d}/{_MONTHS[moment.tm_mon - 1]}/{moment.tm_year}:{time.strftime('%H:%M:%S', moment)} +0000"
    )


def _joined_query_parameters(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def build_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    api_id: str,
    account_id: str,
    request_id: str | None = None,
    now: float | None = None,
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API payload format 2.0 event for `request` on the matched route."""
    now = time.time() if now is None else now
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    domain_name = headers.get("host", "localhost")
    route_key = match.route.route_key
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = _joined_query_parameters(request.raw_query)
    if query:
        event["queryStringParameters"] = query
    request_context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id or new_request_id(),
        "routeKey": route_key,
        "stage": STAGE,
        "time": _apigateway_time(now),
        "timeEpoch": int(now * 1000),
    }
    if authorizer is not None:
        request_context["authorizer"] = dict(authorizer)
    event["requestContext"] = request_context
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    if request.body:
        event["body"], event["isBase64Encoded"] = encode_body(request.body, headers.get("content-type"))
    else:
        event["isBase64Encoded"] = False
    return event


# ---------------------------------------------------------------------------------------------------------------
# Authorization
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigV4Credential:
    access_key: str
    date: str
    region: str
    service: str


_CREDENTIAL = re.compile(
    r"(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request"
)


def parse_sigv4(request: HttpRequest) -> SigV4Credential | None:
    """The credential of a SigV4-signed request (header or presigned query); None when unsigned or malformed."""
    authorization = request.header("authorization")
    if authorization:
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme != "AWS4-HMAC-SHA256":
            return None
        fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
        amz_date = request.header("x-amz-date") or request.header("date")
    else:
        query = dict(parse_qsl(request.raw_query, keep_blank_values=True))
        if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            return None
        fields = {
            "Credential": query.get("X-Amz-Credential", ""),
            "SignedHeaders": query.get("X-Amz-SignedHeaders", ""),
            "Signature": query.get("X-Amz-Signature", ""),
        }
        amz_date = query.get("X-Amz-Date")
    credential = _CREDENTIAL.fullmatch(fields.get("Credential", ""))
    signed_headers = fields.get("SignedHeaders", "").split(";")
    if (
        credential is None
        or credential.group("service") != "execute-api"
        or "host" not in signed_headers
        or not re.fullmatch(r"[0-9a-f]{64}", fields.get("Signature", ""))
        or not amz_date
    ):
        return None
    return SigV4Credential(
        access_key=credential.group("key"),
        date=credential.group("date"),
        region=credential.group("region"),
        service=credential.group("service"),
    )


def iam_authorizer_context(credential: SigV4Credential, account_id: str) -> dict[str, Any]:
    user_id = "AIDA" + credential.access_key[-16:].upper()
    return {
        "iam": {
            "accessKey": credential.access_key,
            "accountId": account_id,
            "callerId": user_id,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{account_id}:user/wab-local",
            "userId": user_id,
        }
    }


# ---------------------------------------------------------------------------------------------------------------
# The handler's answer as HTTP
# ---------------------------------------------------------------------------------------------------------------


class MalformedResponse(ValueError):
    """The handler answered something API Gateway would reject (it answers 500 then)."""


def lambda_result_to_http(result: Any) -> HttpResponse:
    """Turn a format 2.0 Lambda answer into the HTTP answer API Gateway would give."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return HttpResponse(200, [("content-type", "application/json")], json.dumps(result).encode())
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError):
        raise MalformedResponse(f"statusCode {result['statusCode']!r} is not a number") from None
    if not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), _header_text(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), _header_text(value)) for value in values)
    for cookie in result.get("cookies") or []:
        headers.append(("set-cookie", str(cookie)))
    body = result.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise MalformedResponse("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise MalformedResponse("isBase64Encoded is true but body is not base64") from None
    else:
        payload = body.encode("utf-8")
    return HttpResponse(status, headers, payload)


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------------------------------------------


class TokenBucket:
    """API Gateway's throttle: `rate` requests a second on average, up to `burst` at once."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.capacity = max(burst, 1) if rate > 0 else burst
        self._tokens = float(self.capacity)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


class HttpApi:
    """Routes requests to local functions the way the API's integrations and authorization say."""

    def __init__(
        self,
        routes: tuple[RouteSpec, ...] | list[RouteSpec],
        functions: Mapping[str, LocalFunction],
        *,
        api_id: str,
        account_id: str,
        throttles: Mapping[str, tuple[float, int]] | None = None,
        default_throttle: tuple[float, int] | None = None,
    ):
        """`throttles` maps route keys to (rate, burst); other routes share `default_throttle` each in its own
        bucket, as a stage's default route settings apply to each route."""
        self._buckets = {
            route.route_key: TokenBucket(*limits)
            for route in routes
            if (limits := (throttles or {}).get(route.route_key, default_throttle))
        }
        self.routes = RouteTable(routes)
        self.functions = functions
        self.api_id = api_id
        self.account_id = account_id
        for route in routes:
            if isinstance(route.auth, UnsupportedAuth):
                log.warning(
                    "route %s uses a %s authorizer (%s), which the local stack cannot run: it answers 500",
                    route.route_key,
                    route.auth.kind,
                    route.auth.name,
                )

    def handle(self, request: HttpRequest, request_id: str | None = None) -> HttpResponse:
        request_id = request_id or new_request_id()
        match = self.routes.match(request.method, request.raw_path)
        if match is None:
            return message_response(404, "Not Found")
        route = match.route
        bucket = self._buckets.get(route.route_key)
        if bucket is not None and not bucket.take():
            return message_response(429, "Too Many Requests")
        if route.payload_format_version != "2.0":
            log.warning(
                "route %s uses payload format %s; only 2.0 is emulated", route.route_key, route.payload_format_version
            )
            return message_response(500, "Internal Server Error")
        authorizer: dict[str, Any] | None = None
        if isinstance(route.auth, IamAuth):
            credential = parse_sigv4(request)
            if credential is None:
                return message_response(403, "Forbidden")
            authorizer = iam_authorizer_context(credential, self.account_id)
        elif isinstance(route.auth, UnsupportedAuth):
            return message_response(500, "Internal Server Error")
        event = build_event(
            request,
            match,
            api_id=self.api_id,
            account_id=self.account_id,
            request_id=request_id,
            authorizer=authorizer,
        )
        try:
            result = self.functions[route.function_id].invoke(event)
            return lambda_result_to_http(result)
        except InvocationError:
            return message_response(500, "Internal Server Error")
        except MalformedResponse as exc:
            log.warning("%s answered %s malformed: %s", route.function_id, route.route_key, exc)
            return message_response(500, "Internal Server Error")


# ---------------------------------------------------------------------------------------------------------------
# The HTTP server
# ---------------------------------------------------------------------------------------------------------------


class _RequestTooLarge(Exception):
    pass


class _ApiRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # headers and body go out in separate writes: don't wait for delayed ACKs
    server_version = "wab-local-http-api"
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: _ApiServer

    def version_string(self) -> str:
        return self.server_version

    def _handle(self) -> None:
        request_id = new_request_id()
        try:
            body = self._read_body()
        except _RequestTooLarge:
            self.close_connection = True
            self._send(message_response(413, "Request Entity Too Large"), request_id)
            return
        except ValueError:  # a malformed chunked body
            self.close_connection = True
            self._send(message_response(400, "Bad Request"), request_id)
            return
        raw_path, _, raw_query = self.path.partition("?")
        request = HttpRequest(
            method=self.command,
            raw_path=raw_path or "/",
            raw_query=raw_query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        try:
            response = self.server.api.handle(request, request_id)
        except Exception:
            log.exception("the local HTTP API failed on %s %s", self.command, raw_path)
            response = message_response(500, "Internal Server Error")
        self._send(response, request_id)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    def handle_expect_100(self) -> bool:
        if self._declared_length() > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(message_response(413, "Request Entity Too Large"), new_request_id())
            return False
        return super().handle_expect_100()

    def _declared_length(self) -> int:
        try:
            return int(self.headers.get("content-length") or 0)
        except ValueError:
            return 0

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            return self._read_chunked()
        length = self._declared_length()
        if length > MAX_BODY_BYTES:
            raise _RequestTooLarge()
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _RequestTooLarge()
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: HttpResponse, request_id: str) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("apigw-requestid", request_id)
        self.send_header("content-length", str(len(response.body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """The request line without the values in its path (`/contacts/{number}` names a customer) or its query, as
        the deployed API's access log holds route keys only: a segment other than a route's own words is `…`."""
        raw_path = getattr(self, "path", "").partition("?")[0]  # none yet when the request line itself is refused
        shown = "/".join(part if _ROUTE_WORD.fullmatch(part) else "…" for part in raw_path.split("/"))
        self.log_message('"%s %s %s" %s %s', self.command, shown, self.request_version, code, size)

    def log_message(self, format: str, *args: Any) -> None:
        """`<client> <server port> <request line> <status> …`: the port tells the API from a function URL."""
        access_log.info("%s %s %s", self.client_address[0], self.server.server_address[1], format % args)


class _ApiServer(KeepAliveHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the request threads: nothing is left running

    def __init__(self, address: tuple[str, int], api: HttpApi):
        self.api = api
        super().__init__(address, _ApiRequestHandler)


class HttpApiServer:
    """The threaded HTTP/1.1 server in front of `HttpApi`; binds at construction so a busy port fails early."""

    def __init__(self, host: str, port: int, api: HttpApi | None = None):
        self._server = _ApiServer((host, port), api)  # type: ignore[arg-type]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self, api: HttpApi) -> None:
        self._server.api = api
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="local-http-api", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()
