"""The threaded HTTP/1.1 server shared by the local HTTP API and the provider simulator."""

import contextlib
import logging
import socket
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class KeepAliveHTTPServer(ThreadingHTTPServer):
    """Tracks its keep-alive connections so `close_connections()` can end them: a handler thread waiting for a
    client's next request would otherwise outlive the server's shutdown."""

    allow_reuse_address = True
    # The listen backlog: socketserver's default of 5 resets connections as soon as a few dozen clients arrive at
    # once, which no API Gateway or function URL would do.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handler: type) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-answer is routine (its read timeout, Ctrl-C); anything else deserves a traceback.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("connection from %s ended: %s", client_address, error)
        else:
            log.exception("error serving %s", client_address)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
