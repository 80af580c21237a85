"""boto3 clients, created on first use and once per container (so moto can be active first in tests).

boto3 itself is imported with the function: every invocation needs it, and Lambda's init phase is where a cold start
spends its time most cheaply.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, Literal

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from wab.errors import DependencyFailed

_creation_lock = threading.Lock()  # boto3's default session is not safe for concurrent client creation

# The services the gateway calls.
Service = Literal["dynamodb", "events", "s3", "secretsmanager", "sqs", "stepfunctions"]
# Connections kept per client: a sender batch runs its records side by side, and each settles a broadcast chunk on
# 16 threads (wab.outbox); with botocore's default of 10 the rest reconnect on every call and urllib3 warns that its
# pool is full.
MAX_POOL_CONNECTIONS = 50


@cache
def client(service: Service) -> Any:
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=3,
        read_timeout=10,
        max_pool_connections=MAX_POOL_CONNECTIONS,
    )
    with _creation_lock:
        return boto3.client(service, config=config)


@cache
def secrets() -> Any:
    """Powertools' secrets provider (with its value cache) on the shared client: the module-level `get_secret`
    builds a boto3 session of its own, ~40 ms more of cold start."""
    return SecretsProvider(boto3_client=client("secretsmanager"))


def reset_clients() -> None:
    """Forget every client and cached secret (tests switch between emulated accounts)."""
    client.cache_clear()
    secrets.cache_clear()


# Answers that refuse the request itself (too large, a key too long, a value of the wrong form): sent again, it is
# refused again. What the gateway sends should never be refused so, and `Refused` says it was.
REFUSALS = frozenset(
    {
        "ValidationException",
        "SerializationException",
        "BatchRequestTooLong",
        "AWS.SimpleQueueService.BatchRequestTooLong",
        "InvalidMessageContents",
        "InvalidParameterValue",
    }
)


class Refused(Exception):
    """AWS refused a request as it stands: not a dependency's failure that a retry cures but a gap in the gateway's
    own checks (a bug). Not a GatewayError: a queue consumer counts it as a crash, so a command that meets it is
    retried a few times and then reported and dead-lettered (`wab.retry`) instead of holding up its message group for
    the whole retry window; an API answers 500."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


@contextmanager
def dependency(operation: str, *, expected: tuple[str, ...] = ()) -> Iterator[None]:
    """AWS failures inside become DependencyFailed ("<operation> failed: <code>": retry later), or Refused when AWS
    refused the request itself (`REFUSALS`), except a ClientError whose code is one of `expected`, which the caller
    handles as an answer (a condition that did not hold, say)."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        if code in expected:
            raise
        if code in REFUSALS:
            raise Refused(f"{operation} refused: {code}") from exc
        raise DependencyFailed(f"{operation} failed: {code}") from exc
    except BotoCoreError as exc:
        raise DependencyFailed(f"{operation} failed: {type(exc).__name__}") from exc
