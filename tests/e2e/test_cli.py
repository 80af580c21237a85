"""`./wab` as a person runs it against the local stack: no AWS credentials of their own, exit codes that say how the
message ended, a clear word when the stack is gone, and the dead-letter queue's commands."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from local.client import Gateway
from local.stack import LocalStack
from tests.helpers import ROOT

pytestmark = pytest.mark.e2e


def wab(local_stack: LocalStack, *args: str, home: Path, stack_json: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI in a new process with no AWS credentials or configuration anywhere in its environment."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("AWS_") and key != "BOTO_CONFIG"
    }
    environment.update(HOME=str(home), WAB_STACK_JSON=str(stack_json or local_stack.stack_json), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "local.cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_send_wait_follows_its_own_message_to_received_with_no_aws_credentials(local_stack, tmp_path):
    customer = "+6421" + str(uuid.uuid4().int)[:7]
    sent = wab(
        local_stack, "send", customer, "--template", "order_shipped", "--param", "1042", "--wait", "20", home=tmp_path
    )

    assert sent.returncode == 0, sent.stderr
    lines = [json.loads(line) for line in sent.stdout.splitlines()]
    assert lines[-1]["status"] == "received"
    assert "Traceback" not in sent.stderr


def test_send_wait_exits_non_zero_when_the_message_fails(local_stack, tmp_path):
    failed = wab(local_stack, "send", "+64211234567", "--template", "does_not_exist", "--wait", "20", home=tmp_path)

    assert failed.returncode == 1
    assert json.loads(failed.stdout.splitlines()[-1])["detail-type"] == "WhatsApp Message Failed"


def test_a_stack_json_left_by_a_stopped_stack_is_told_at_once(local_stack, tmp_path):
    stale = tmp_path / "stack.json"
    stale.write_text(json.dumps({**local_stack.info, "api_url": "http://127.0.0.1:9"}))

    answer = wab(local_stack, "get", "b95fc11e-37f0-4770-a082-6ea22d4c4d12", home=tmp_path, stack_json=stale)

    assert answer.returncode == 2
    assert "not running" in answer.stderr and "Traceback" not in answer.stderr


def test_a_contacts_listing_takes_the_plus_and_prints_decimals_as_stored(local_stack, tmp_path):
    customer = "+6421" + str(uuid.uuid4().int)[:7]
    latitude = "-36.848461123456789012345"  # more digits than a float holds
    content = (
        f'{{"from": "{customer[1:]}", "id": "wamid.{uuid.uuid4().hex}", "timestamp": "1795600000", "type": "location", '
        f'"location": {{"latitude": {latitude}, "longitude": 174.763336}}}}'
    )
    answer = requests.post(  # as the provider calls back: the JSON text keeps every digit
        local_stack.info["api_url"] + "/callbacks/mo",
        data=f'{{"id": "{uuid.uuid4()}", "source": "{customer}", "destination": "1234567890", "content": {content}}}',
        headers={"content-type": "application/json"},
        auth=(local_stack.info["callback_username"], local_stack.info["callback_password"]),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text

    listed = wab(local_stack, "list", "--contact", customer, home=tmp_path)

    assert listed.returncode == 0, listed.stderr
    assert f'"latitude": {latitude}' in listed.stdout
    assert json.loads(listed.stdout)["items"][0]["source"] == customer


@pytest.mark.parametrize("moved_by", ["gateway", "sqs"])
def test_dlq_list_show_and_redrive_send_a_dead_letter_back_once_and_lose_nothing(local_stack, tmp_path, moved_by):
    """The gateway's own dead letters say where they failed; a lane message SQS moved after too many receives says
    nothing. Either goes back to its lane as the same request: two copies of one (a crash between putting a dead letter
    and deleting its original) are one send, as the provider may have taken the first before the gateway crashed."""
    sqs = local_stack.client("sqs")
    command = {
        "command": "send",
        "destination": "+64211234567",
        "type": "template",
        "reference": f"dlq-{uuid.uuid4()}",
        "template": {"name": "order_shipped", "language": {"code": "en"}},
        "task_token": "AQB4AAAA-a-step-functions-task-token-" + uuid.uuid4().hex,
    }
    lane_message = {"command": command, "delivery_id": str(uuid.uuid4()), "requested_by": "test", "requested_at_ms": 1}
    attributes = {
        name: {"DataType": "String", "StringValue": value}
        for name, value in (("queue", "priority"), ("message_id", "m-1"), ("reason", "unprocessable"))
    }
    copies = [
        sqs.send_message(
            QueueUrl=local_stack.info["dlq_url"],
            MessageBody=json.dumps(lane_message),
            MessageAttributes=attributes if moved_by == "gateway" else {},
            MessageGroupId="priority",
            MessageDeduplicationId=uuid.uuid4().hex,
        )
        for _ in range(2)
    ]

    listed = wab(local_stack, "dlq", "list", home=tmp_path)
    letters = [json.loads(line) for line in listed.stdout.splitlines() if command["reference"] in line]
    assert [
        (letter["queue"], letter["reason"], letter["command"]["reference"], letter["sqs_message_id"])
        for letter in letters
    ] == [
        ("priority", "unprocessable", command["reference"], "m-1")
        if moved_by == "gateway"
        else ("lane", "redriven by SQS after repeated receives", command["reference"], copy["MessageId"])
        for copy in copies
    ]
    shown = wab(local_stack, "dlq", "show", letters[0]["id"], home=tmp_path)
    assert json.loads(shown.stdout)["command"] == {**command, "task_token": "…"}  # a task token is a secret
    assert command["task_token"] not in listed.stdout + shown.stdout

    for letter in letters:
        redriven = wab(local_stack, "dlq", "redrive", letter["id"], home=tmp_path)
        assert redriven.returncode == 0, redriven.stderr
    assert command["reference"] not in wab(local_stack, "dlq", "list", home=tmp_path).stdout
    simulator = Gateway(local_stack.info)
    deadline = time.monotonic() + 15
    while not (sent := simulator.simulate(f"/_sim/messages?reference={command['reference']}")) or lane_busy(
        sqs, local_stack.info["priority_lane_url"]
    ):
        assert time.monotonic() < deadline, "the redriven command was not sent"
        time.sleep(0.25)
    assert len(sent) == 1


def lane_busy(sqs, url: str) -> bool:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return any(int(attributes[name]) for name in names)


def test_dlq_redrive_takes_every_dead_letter_even_those_a_fifo_group_holds_back(local_stack, tmp_path):
    """A FIFO queue hands out at most ten of a group while they are in flight: a listing says more wait, and a
    redrive of all goes on until the queue is empty."""
    sqs = local_stack.client("sqs")
    reference = f"dlq-many-{uuid.uuid4().hex[:8]}"
    for number in range(13):
        command = {
            "command": "send",
            "destination": f"+6421{number:07d}",
            "type": "template",
            "reference": reference,
            "template": {"name": "order_shipped", "language": {"code": "en"}},
        }
        lane_message = {
            "command": command,
            "delivery_id": uuid.uuid4().hex,
            "requested_by": "test",
            "requested_at_ms": 1,
        }
        sqs.send_message(
            QueueUrl=local_stack.info["dlq_url"],
            MessageBody=json.dumps(lane_message),
            MessageAttributes={"queue": {"DataType": "String", "StringValue": "priority"}},
            MessageGroupId="priority",
            MessageDeduplicationId=uuid.uuid4().hex,
        )

    listed = wab(local_stack, "dlq", "list", home=tmp_path)
    assert "more wait behind these" in listed.stderr

    redriven = wab(local_stack, "dlq", "redrive", home=tmp_path)

    assert redriven.returncode == 0, redriven.stderr
    assert sum(reference in line for line in redriven.stdout.splitlines()) == 13
    assert wab(local_stack, "dlq", "list", home=tmp_path).stdout.strip() == ""


def test_a_broadcast_asked_for_on_the_command_line_is_reported_as_the_provider_sent_it(local_stack, tmp_path):
    gateway = Gateway.local(local_stack.stack_json)
    reference = f"campaign-{uuid.uuid4().hex[:8]}"
    recipients = [f"+6429{uuid.uuid4().int % 10**7:07d}" for _ in range(12)]
    asked = wab(
        local_stack, "broadcast", *recipients, "--template", "order_shipped", "--reference", reference, home=tmp_path
    )
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["reference"] == reference
    deadline = time.monotonic() + 60
    while True:
        sent = gateway.simulate(f"/_sim/messages?reference={reference}")
        reported = sum(len(message["dlrs"]) for message in sent)
        report = wab(local_stack, "report", reference, home=tmp_path)
        assert report.returncode == 0, report.stderr
        summary = json.loads(report.stdout)
        if ((len(sent), reported) == (12, 24) and summary["received"] == 12) or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    statuses = [dlr["status"] for message in sent for dlr in message["dlrs"]]
    assert (summary["accepted"], summary["sent"], summary["received"]) == (
        len(sent),
        statuses.count("sent"),
        statuses.count("received"),
    )
    assert summary["delivery_rate"] == 1.0 and summary["failed"] == {}
