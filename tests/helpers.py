"""Helpers shared by the test tiers: API Gateway HTTP API events, a Lambda context, handler loading."""

import base64
import functools
import importlib.util
import json
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CALLBACK_USER = "wab-callbacks"
CALLBACK_PASSWORD = "correct-horse-battery-staple"


def basic(user: str = CALLBACK_USER, password: str = CALLBACK_PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def load_handler(function: str, environment: int = 0) -> ModuleType:
    """Import functions/<function>/app.py under a unique module name (every handler file is called app.py).

    `environment`: another execution environment of the function, with its own import of the module, as Lambda runs
    concurrent invocations (Powertools' resolver keeps the current request on the module's `app`).
    """
    name = f"{function}_app" if not environment else f"{function}_app_{environment}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / function / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.lambda_handler = _attributed(function, module.lambda_handler)
    return module


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 10_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event. `body` is sent as JSON; `raw_body` as given
    (bytes that are not UTF-8 are base64-encoded, as API Gateway does)."""
    headers = {key.lower(): value for key, value in (headers or {}).items()}
    is_base64 = False
    if body is not None:
        text: str | None = json.dumps(body)
        headers.setdefault("content-type", "application/json")
    elif isinstance(raw_body, bytes):
        try:
            text = raw_body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(raw_body).decode(), True
    else:
        text = raw_body
    query_string = "&".join(f"{key}={value}" for key, value in (query or {}).items())
    return {
        "version": "2.0",
        "routeKey": route or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": headers,
        "queryStringParameters": query or None,
        "pathParameters": path_parameters,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.test",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route or f"{method} {path}",
            "stage": "$default",
            "time": "25/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795600000000,
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def answer_json(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None


# The function whose handler is running, innermost last: what the AWS calls made meanwhile are attributed to
# (tests/integration/conftest.py checks each against the function's role). Per thread, as tests may run two functions
# side by side; a thread a handler starts (its thread pools) has none of its own and takes the latest started.
RUNNING: list[str] = []
_running_here = threading.local()


def running() -> str | None:
    here = getattr(_running_here, "functions", None)
    return here[-1] if here else (RUNNING[-1] if RUNNING else None)


# Called with the function's name after each invocation: the table's stream is relayed then, as its event source
# mapping would soon after the writes (tests/integration/conftest.py).
AFTER_INVOCATION: list[Callable[[str], None]] = []


def _attributed(function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        here = _running_here.__dict__.setdefault("functions", [])
        here.append(function)
        RUNNING.append(function)
        try:
            return handler(*args, **kwargs)
        finally:
            here.pop()
            RUNNING.remove(function)
            for after in AFTER_INVOCATION:
                after(function)

    return run
