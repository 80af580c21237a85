"""`./wab`'s own decisions, without a stack: when a followed message has ended, an empty dead-letter queue, ids in
paths."""

import argparse
import json
from typing import Any

import pytest

from local import cli, client
from local.client import Gateway


def event(detail_type: str, **detail: Any) -> dict[str, Any]:
    return {"detail-type": detail_type, "detail": detail}


@pytest.mark.parametrize(
    "followed, outcome",
    [
        (event("WhatsApp Message Accepted"), None),
        (event("WhatsApp Message Status Changed", status="sent"), None),
        (event("WhatsApp Message Status Changed", status="received"), 0),
        (event("WhatsApp Message Status Changed", status="read"), 0),  # WhatsApp may report read before delivered
        (event("WhatsApp Message Status Changed", status="rejected"), 1),
        (event("WhatsApp Message Failed", error={"code": "template_not_found"}), 1),
    ],
)
def test_send_wait_ends_when_the_message_is_delivered_read_or_failed(followed, outcome):
    assert cli._outcome(followed) == outcome


class NoDeadLetters:
    def dead_letters(self) -> list[dict[str, Any]]:
        return []

    def dead_letters_waiting(self) -> int:
        return 0

    def redrive_all(self) -> list[dict[str, Any]]:
        return []


@pytest.mark.parametrize("action, code", [("show", 1), ("list", 0), ("redrive", 0)])
def test_an_empty_dead_letter_queue_is_said_not_a_traceback(action, code, capsys):
    assert cli.command_dlq(NoDeadLetters(), argparse.Namespace(action=action, message_id=None)) == code  # type: ignore[arg-type]
    assert capsys.readouterr().err == "the dead-letter queue is empty\n"


def test_a_message_id_is_one_path_segment_whatever_it_holds(monkeypatch):
    gateway = Gateway({"api_url": "http://127.0.0.1:1", "region": "eu-west-1"})
    paths: list[str] = []
    monkeypatch.setattr(gateway, "_signed_get", lambda path, query: paths.append(path) or (200, {}))

    gateway.get_message("../references/x/summary")
    gateway.get_message("wamid.PLUS+1=")

    gateway.get_message("..")
    gateway.reference_summary(".")

    assert paths == [
        "/messages/..%2Freferences%2Fx%2Fsummary",
        "/messages/wamid.PLUS%2B1%3D",
        "/messages/%2E%2E",  # not resolved away as the parent path
        "/references/%2E/summary",
    ]


def test_the_local_stack_is_found_in_the_state_directory_make_local_was_given(monkeypatch, tmp_path):
    """`WAB_STATE_DIR=... make local` writes stack.json there; `./wab` with the same variable finds it."""
    monkeypatch.delenv("WAB_STACK_JSON", raising=False)
    monkeypatch.setenv("WAB_STATE_DIR", str(tmp_path))
    with pytest.raises(client.StackUnavailable) as missing:
        client.Gateway.local()
    assert str(tmp_path / "stack.json") in str(missing.value)
    (tmp_path / "stack.json").write_text('{"api_url": "http://127.0.0.1:9"}')  # left by a stack that stopped
    with pytest.raises(client.StackUnavailable) as stopped:
        client.Gateway.local()
    assert "left from a stack that stopped" in str(stopped.value)


class RecordingGateway:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def request(self, detail_type: str, detail: dict[str, Any]) -> str:
        self.requests.append((detail_type, detail))
        return "event-1"


def test_templates_put_refuses_a_catalogue_the_gateway_would_refuse_and_says_why(tmp_path, capsys):
    good = {"name": "spring_sale", "language": "en", "category": "marketing", "body": {"parameters": 1}}
    bad = {"name": "order_shipped", "language": "en", "category": "utility", "body": {"parameters": 2, "formats": []}}
    gateway = RecordingGateway()
    for templates, code in (([good, bad], 2), ([], 2), ([good] * 1001, 2), ([good], 0)):
        document = tmp_path / "catalogue.json"
        document.write_text(json.dumps({"templates": templates}))
        assert cli.command_templates(gateway, argparse.Namespace(file=document, wait=0)) == code  # type: ignore[arg-type]

    refusals = capsys.readouterr().err
    assert "formats lists 0 formats for 2 parameters" in refusals
    assert "at least 1 item" in refusals and "at most 1000 items" in refusals
    assert gateway.requests == [("WhatsApp Template Catalogue Updated", {"templates": [good]})]


class Simulated:
    def __init__(self, callback_status: int | None):
        self.callback_status = callback_status

    def simulate(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"id": "mo-1", "callback_status": self.callback_status}


@pytest.mark.parametrize("callback_status, code", [(200, 0), (401, 1), (500, 1), (None, 1)])
def test_mo_fails_when_the_gateway_did_not_take_the_callback(callback_status, code, capsys):
    arguments = argparse.Namespace(type="text", text="Hi", sender="+64211234567")

    assert cli.command_mo(Simulated(callback_status), arguments) == code  # type: ignore[arg-type]
    assert (str(callback_status) in capsys.readouterr().err) == (code == 1)


class Silent:
    """A gateway whose followed message says nothing within the wait: retried, or waiting for its status."""

    def request(self, detail_type: str, detail: dict[str, Any]) -> str:
        return "event-1"

    def subscription(self, pattern: dict[str, Any]) -> Any:
        from contextlib import nullcontext

        return nullcontext(lambda timeout: iter(()))


def test_send_wait_without_a_final_status_is_not_a_failure(capsys):
    arguments = argparse.Namespace(
        destination="+64211234567", reference="r-1", template=None, text="Hello", param=[], language="en", wait=0.1
    )

    assert cli.command_send(Silent(), arguments) == cli.STILL_IN_FLIGHT != 1  # type: ignore[arg-type]
    assert "may still be on its way" in capsys.readouterr().err


class Answering(Silent):
    """A gateway that answers a followed request with one event of `detail_type`, carrying its reference."""

    def __init__(self, detail_type: str | None):
        self.detail_type = detail_type
        self.requests: list[dict[str, Any]] = []

    def request(self, detail_type: str, detail: dict[str, Any]) -> str:
        self.requests.append(detail)
        return "event-1"

    def subscription(self, pattern: dict[str, Any]) -> Any:
        from contextlib import nullcontext

        [reference] = pattern["detail"]["reference"]
        answer = {"detail-type": self.detail_type, "detail": {"reference": reference}}
        return nullcontext(lambda timeout: iter([answer] if self.detail_type else []))


@pytest.mark.parametrize(
    "answer, code",
    [("WhatsApp Template Catalogue Applied", 0), ("WhatsApp Message Failed", 1), (None, cli.STILL_IN_FLIGHT)],
)
def test_templates_put_wait_says_whether_the_gateway_applied_it(tmp_path, capsys, answer, code):
    document = tmp_path / "catalogue.json"
    document.write_text(json.dumps({"templates": [{"name": "t", "language": "en", "category": "utility"}]}))
    gateway = Answering(answer)

    assert cli.command_templates(gateway, argparse.Namespace(file=document, wait=0.1)) == code  # type: ignore[arg-type]
    assert gateway.requests[0]["reference"].startswith("templates-")
    assert ("may still be on its way" in capsys.readouterr().err) == (answer is None)


def test_a_stack_that_is_not_there_or_not_local_is_said_not_a_traceback(monkeypatch, capsys):
    from botocore.exceptions import ClientError

    class CloudFormation:
        def describe_stacks(self, StackName: str) -> Any:
            error = {"Code": "ValidationError", "Message": f"Stack with id {StackName} does not exist"}
            raise ClientError({"Error": error}, "DescribeStacks")

    monkeypatch.setattr(client.boto3, "client", lambda *args, **kwargs: CloudFormation())

    assert cli.main(["--stack", "nope", "get", "x"]) == 2
    assert "stack nope in eu-west-1: Stack with id nope does not exist" in capsys.readouterr().err

    deployed = Gateway({"api_url": "https://api.example", "region": "eu-west-1"})
    with pytest.raises(client.StackUnavailable, match="simulator is the local stack's"):
        deployed.simulate("/_sim/mo", {})


class Summaries:
    def __init__(self, body: dict[str, Any]):
        self.body = body

    def reference_summary(self, reference: str) -> tuple[int, dict[str, Any]]:
        return 200, self.body


def test_a_report_of_a_reference_nothing_was_counted_under_says_so(capsys):
    untouched = {"reference": "r-1", "accepted": 0, "failed": {}, "first_at": None}
    counted = {**untouched, "accepted": 1, "first_at": "2026-12-01T10:00:00Z"}

    assert cli.command_report(Summaries(untouched), argparse.Namespace(reference="r-1")) == 0  # type: ignore[arg-type]
    assert "nothing has been counted" in capsys.readouterr().err
    assert cli.command_report(Summaries(counted), argparse.Namespace(reference="r-1")) == 0  # type: ignore[arg-type]
    assert capsys.readouterr().err == ""
