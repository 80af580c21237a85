"""X-Ray traces keep 30 days, out of reach of erasure: no handler puts its answer, its error or its input into them.

The shared Powertools tracer is given a recording provider, as X-Ray's would be in Lambda, and every handler is run
through a request whose answer or failure holds a customer's number and words.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import responses

from tests.helpers import LambdaContext, basic, http_event, load_handler
from tests.integration.conftest import MESSAGE_ID
from tests.integration.test_records import inbound
from tests.integration.test_sender import BASE_URL, text_command

CUSTOMER = "+64211234567"
WORDS = "Kia ora! Is my order on its way?"


class RecordingSubsegment:
    def __init__(self, log: list[Any]):
        self.log = log

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        self.log.append(("metadata", key, value))

    def put_annotation(self, key: str, value: Any) -> None:
        self.log.append(("annotation", key, value))

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        self.log.append(("exception", str(exception)))


class RecordingProvider:
    def __init__(self) -> None:
        self.log: list[Any] = []

    @contextmanager
    def in_subsegment(self, name: str | None = None, **_: Any) -> Iterator[RecordingSubsegment]:
        self.log.append(("subsegment", name))
        yield RecordingSubsegment(self.log)


@pytest.fixture
def traces(monkeypatch: pytest.MonkeyPatch) -> RecordingProvider:
    from wab.observability import tracer

    provider = RecordingProvider()
    monkeypatch.setattr(tracer, "provider", provider)
    return provider


def recorded(provider: RecordingProvider) -> str:
    assert ("subsegment", "## lambda_handler") in provider.log  # the handler was traced
    return json.dumps(provider.log, default=str)


def test_the_record_api_answer_is_not_traced(aws, traces):
    callbacks, messages = load_handler("callbacks"), load_handler("messages")
    callbacks.dependencies.cache_clear()
    messages.store.cache_clear()
    body = inbound(1)
    event = http_event("POST", "/callbacks/mo", body=body, headers={"authorization": basic()})
    assert callbacks.lambda_handler(event, LambdaContext())["statusCode"] == 200

    answer = messages.lambda_handler(
        http_event("GET", f"/messages/{body['id']}", path_parameters={"message_id": body["id"]}), LambdaContext()
    )

    assert CUSTOMER in answer["body"]
    text = recorded(traces)
    assert CUSTOMER.lstrip("+") not in text and "Kia ora" not in text


def test_a_sender_failure_is_not_traced_with_the_command(sender, provider, traces):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command(text={"body": WORDS}))
    sender.run()
    sender.put("{not json: " + CUSTOMER)  # an invalid command holding a number
    sender.route()

    text = recorded(traces)
    assert CUSTOMER.lstrip("+") not in text and WORDS not in text


def test_an_unexpected_crash_is_not_put_into_the_traces_metadata(aws, traces, monkeypatch):
    callbacks = load_handler("callbacks")
    callbacks.dependencies.cache_clear()

    def crash(*_: Any, **__: Any) -> None:
        raise RuntimeError(f"crashed on {CUSTOMER}: {WORDS}")

    monkeypatch.setattr(callbacks.app, "resolve", crash)
    with pytest.raises(RuntimeError):
        callbacks.lambda_handler(http_event("POST", "/callbacks/mo", body=inbound(2)), LambdaContext())

    assert [entry for entry in traces.log if entry[0] == "metadata"] == []
