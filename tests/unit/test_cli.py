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
    with pytest.raises(client.StackNotRunning) as missing:
        client.Gateway.local()
    assert str(tmp_path / "stack.json") in str(missing.value)
    (tmp_path / "stack.json").write_text('{"api_url": "http://127.0.0.1:9"}')  # left by a stack that stopped
    with pytest.raises(client.StackNotRunning) as stopped:
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
        assert cli.command_templates(gateway, argparse.Namespace(file=document)) == code  # type: ignore[arg-type]

    refusals = capsys.readouterr().err
    assert "formats lists 0 formats for 2 parameters" in refusals
    assert "at least 1 item" in refusals and "at most 1000 items" in refusals
    assert gateway.requests == [("WhatsApp Template Catalogue Updated", {"templates": [good]})]
