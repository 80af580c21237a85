"""The whole local stack, started once per session on free ports, and small helpers to talk to it."""

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.client import Gateway
from local.stack import LocalStack

TEST_CREDENTIALS = Credentials("AKIDE2ETESTING", "e2e-testing-secret")  # any credentials do: the signature is parsed
E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the e2e tests last: while the session's stack runs, os.environ points boto3 at it (AWS_ENDPOINT_URL …),
    which would send the moto-mocked tests of the other tiers to the stack instead."""
    items.sort(key=lambda item: E2E_DIR in Path(str(item.path)).parents)


# The send path paced and retried at a scale a test can watch in seconds: 20 messages a second per number, retries at
# most 2 s apart (the defaults are 80/s and 300 s). The provider's callbacks go to the callbacks function's own URL
# (CallbackEndpoint FunctionUrl), while the tests that post callbacks themselves use the HTTP API's routes: both ways in
# are exercised.
E2E_PARAMETERS = {"NumberRatePerSecond": "20", "SendRetryMaxDelaySeconds": "2", "CallbackEndpoint": "FunctionUrl"}


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state_dir: Path = tmp_path_factory.mktemp("wab-local")
    with LocalStack(
        api_port=0, aws_port=0, simulator_port=0, state_dir=state_dir, parameter_overrides=E2E_PARAMETERS
    ) as stack:
        yield stack


@pytest.fixture(scope="session")
def callback_auth(local_stack: LocalStack) -> tuple[str, str]:
    """The HTTP Basic credentials the provider puts in its callback URLs."""
    return local_stack.info["callback_username"], local_stack.info["callback_password"]


def signed_request(
    local_stack: LocalStack,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
) -> requests.Response:
    """A SigV4-signed (service `execute-api`) request to the HTTP API, as an IAM-authenticated caller sends it."""
    url = local_stack.info["api_url"] + path
    aws_request = AWSRequest(method=method, url=url, params=params or {})
    SigV4Auth(TEST_CREDENTIALS, "execute-api", local_stack.info["region"]).add_auth(aws_request)
    prepared = aws_request.prepare()
    return requests.request(method, prepared.url, headers=dict(prepared.headers), timeout=30)


@pytest.fixture
def signed_get(local_stack: LocalStack) -> Callable[..., requests.Response]:
    """`signed_get("/messages/<id>")` or `signed_get("/references/<reference>/messages", {"limit": "10"})`."""
    return lambda path, params=None: signed_request(local_stack, "GET", path, params)


def receive_until(
    local_stack: LocalStack, queue_url: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> dict[str, Any]:
    """Receive (and delete) JSON messages from a queue until one matches; return it, or fail after `timeout`."""
    sqs = local_stack.client("sqs")
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            body = json.loads(message["Body"])
            seen.append(body)
            if predicate(body):
                return body
    pytest.fail(f"nothing matching arrived on {queue_url} within {timeout} s; saw {seen}")


@pytest.fixture
def wait_for_event(local_stack: LocalStack) -> Callable[..., dict[str, Any]]:
    """`wait_for_event(lambda event: event["detail-type"] == "…")`: read the event tap until an event matches."""
    return lambda predicate, timeout=10: receive_until(
        local_stack, local_stack.info["event_tap_queue_url"], predicate, timeout
    )


@pytest.fixture
def gateway(local_stack: LocalStack) -> Iterator[Gateway]:
    """The stack's client, with the provider simulator reset before and after the test."""
    gateway = Gateway(local_stack.info)
    gateway.simulate("/_sim/reset", {})
    yield gateway
    gateway.simulate("/_sim/reset", {})


def customer() -> str:
    """A phone number no other test uses."""
    return "+6421" + str(uuid.uuid4().int)[:7]
