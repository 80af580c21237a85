"""The simulator's HTTP server: the routes of the provider API and of `/_sim`, bodies read within limits, and
every answer as JSON."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from local.keepalive import KeepAliveHTTPServer
from local.simulator.config import API_PREFIX
from local.simulator.media import MAX_UPLOAD_BYTES, media_error
from local.simulator.validation import ApiError, bad_request

if TYPE_CHECKING:
    from local.simulator.core import Simulator

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 16 * 1024 * 1024


class SimulatorServer(KeepAliveHTTPServer):
    daemon_threads = True

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
RouteHandler = Callable[["Simulator", HttpRequest], Answer]


@dataclass(frozen=True)
class Route:
    handlers: dict[str, RouteHandler]
    provider_api: bool = False
    max_body: int = MAX_JSON_BYTES


ROUTES: dict[str, Route] = {
    f"{API_PREFIX}/messages": Route(
        {
            "POST": lambda sim, request: (202, sim.send(request.json(provider=True))),
            "GET": lambda sim, request: (200, sim.message_record(request.param("id"))),
        },
        provider_api=True,
    ),
    f"{API_PREFIX}/messages/broadcast": Route(
        {
            "POST": lambda sim, request: (202, sim.broadcast(request.json(provider=True))),
        },
        provider_api=True,
    ),
    f"{API_PREFIX}/media": Route(
        {
            "POST": lambda sim, request: (
                200,
                sim.upload_media(request.headers.get("Content-Type", ""), request.body, request.param("source")),
            ),
        },
        provider_api=True,
        max_body=MAX_UPLOAD_BYTES,
    ),
    "/_sim/faults": Route(
        {
            "GET": lambda sim, request: (200, sim.faults()),
            "POST": lambda sim, request: (200, sim.update_faults(request.json(provider=False))),
        }
    ),
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
    server: SimulatorServer

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
                    raise ApiError(
                        401, {"error": "Unauthorized", "message": "missing or wrong API credentials", "statusCode": 401}
                    )
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
