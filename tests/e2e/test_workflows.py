"""Step Functions workflows that wait on the gateway, end to end on the local stack: moto runs the state machines
(the local stack asks it to), a `.waitForTaskToken` Task puts the send request on the gateway's bus, and the gateway
answers the task token when the provider simulator's DLRs or the simulated customer's reply come in."""

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.client import Gateway
from local.stack import LocalStack
from local.template import load_template
from tests.e2e.conftest import customer

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "order-confirmation" / "template.yaml"
SOURCE = "e2e.workflows"
ROLE = "arn:aws:iam::123456789012:role/workflow"


def start(local_stack: LocalStack, definition: dict[str, Any], execution_input: dict[str, Any]) -> str:
    sfn = local_stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"e2e-{uuid.uuid4().hex[:12]}", definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    return sfn.start_execution(stateMachineArn=machine, input=json.dumps(execution_input))["executionArn"]


def finished(local_stack: LocalStack, execution: str, timeout: float = 30) -> dict[str, Any]:
    sfn = local_stack.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            pytest.fail(f"the execution was still running after {timeout} s")
        time.sleep(0.1)
    return described


def sent(gateway: Gateway, reference: str, count: int = 1, timeout: float = 15) -> list[dict[str, Any]]:
    """The messages the simulator accepted with this reference, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while len(messages := gateway.simulate(f"/_sim/messages?reference={reference}")) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"the provider has {len(messages)} messages with reference {reference}, not {count}")
        time.sleep(0.1)
    return messages


def stored(gateway: Gateway, message_id: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (answer := gateway.get_message(message_id))[0] != 200 or answer[1]["status"] is None:
        if time.monotonic() > deadline:
            pytest.fail(f"message {message_id} was not stored")
        time.sleep(0.1)
    return answer[1]


@pytest.fixture
def answers(local_stack: LocalStack) -> Iterator[list[tuple[str, str | None]]]:
    """The SendTaskSuccess / SendTaskFailure calls the gateway's functions make to moto while the test runs (they run in
    this process): each as (operation, the output's message id or the error)."""
    from wab import aws as wab_aws

    calls: list[tuple[str, str | None]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        detail = json.loads(params["output"]).get("id") if "output" in params else params.get("error")
        calls.append((model.name, detail))

    client = wab_aws.client("stepfunctions")
    for operation in ("SendTaskSuccess", "SendTaskFailure"):
        client.meta.events.register(f"before-parameter-build.sfn.{operation}", record, unique_id=f"e2e-{operation}")
    yield calls
    for operation in ("SendTaskSuccess", "SendTaskFailure"):
        client.meta.events.unregister(f"before-parameter-build.sfn.{operation}", unique_id=f"e2e-{operation}")


def send_and_wait(bus: str, reference: str, wait: dict[str, Any]) -> dict[str, Any]:
    """A one-state workflow: send the order_shipped template to $.customer and wait as `wait` says."""
    return {
        "StartAt": "Send",
        "States": {
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::events:putEvents.waitForTaskToken",
                "Parameters": {
                    "Entries": [
                        {
                            "EventBusName": bus,
                            "Source": SOURCE,
                            "DetailType": "WhatsApp Send Requested",
                            "Detail": {
                                "destination.$": "$.customer",
                                "type": "template",
                                "template": {"name": "order_shipped", "language": {"code": "en"}},
                                "reference": reference,
                                "task_token.$": "$$.Task.Token",
                                **wait,
                            },
                        }
                    ]
                },
                "ResultPath": "$.message",
                "End": True,
            }
        },
    }


def test_a_workflow_waiting_for_delivery_is_answered_once_with_the_record(
    gateway: Gateway, local_stack: LocalStack, answers: list[tuple[str, str | None]]
) -> None:
    gateway.simulate("/_sim/faults", {"duplicate_dlr_rate": 1.0, "out_of_order_dlr_rate": 1.0})
    reference = f"e2e-wait-{uuid.uuid4()}"
    definition = send_and_wait(local_stack.info["event_bus_name"], reference, {"wait_for": "delivered"})
    execution = start(local_stack, definition, {"customer": customer()})

    result = finished(local_stack, execution)

    assert result["status"] == "SUCCEEDED", result
    message = json.loads(result["output"])["message"]
    [accepted] = sent(gateway, reference)
    assert (message["id"], message["reference"], message["status"]) == (accepted["id"], reference, "received")
    assert "task_token" not in json.dumps(message) and "wait" not in message
    # Every DLR twice, out of order: still one answer.
    deadline = time.monotonic() + 10
    while sum(dlr["http_status"] == 200 for dlr in sent(gateway, reference)[0]["dlrs"]) < 4:
        assert time.monotonic() < deadline, "the simulator did not deliver every DLR"
        time.sleep(0.1)
    assert [answer for answer in answers if answer[1] == accepted["id"]] == [("SendTaskSuccess", accepted["id"])]


def test_the_order_confirmation_example_waits_for_the_customers_button_and_branches_on_it(
    gateway: Gateway, local_stack: LocalStack
) -> None:
    resources = load_template(EXAMPLE)["Resources"]
    text = json.dumps(resources["OrderConfirmation"]["Properties"]["Definition"])
    for name, value in {"EventBusName": local_stack.info["event_bus_name"], "CommandSource": SOURCE}.items():
        text = text.replace(f"${{{name}}}", value)  # what SAM's DefinitionSubstitutions does
    order, number = str(uuid.uuid4().int)[:8], customer()
    execution = start(local_stack, json.loads(text), {"order_id": order, "customer": number})

    [confirmation] = sent(gateway, f"order-{order}")
    assert confirmation["type"] == "template"
    stored(gateway, confirmation["id"])  # the wait began with the record
    tap = {
        "from": number,
        "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time()) + 1),
        "type": "button",
        "button": {"payload": "CONFIRM", "text": "Confirm"},
        "context": {"from": "1234567890", "id": "wamid.confirmation"},
    }
    assert gateway.simulate("/_sim/mo", {"from": number, "content": tap})["callback_status"] == 200

    result = finished(local_stack, execution)

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert output["outcome"] == "confirmed"
    assert output["confirmation"]["id"] == confirmation["id"]
    assert output["confirmation"]["reply"]["content"]["button"] == {"payload": "CONFIRM", "text": "Confirm"}
    _, thanks = sent(gateway, f"order-{order}", count=2)
    assert (thanks["type"], thanks["body"]["text"]["body"]) == (
        "text",
        f"Thank you! Order {order} is confirmed for delivery tomorrow.",
    )


def test_a_workflow_whose_reply_never_comes_is_failed_with_wait_timeout(
    gateway: Gateway, local_stack: LocalStack
) -> None:
    reference = f"e2e-timeout-{uuid.uuid4()}"
    wait = {"wait_for": "reply", "wait_timeout_seconds": 2}
    execution = start(
        local_stack, send_and_wait(local_stack.info["event_bus_name"], reference, wait), {"customer": customer()}
    )

    result = finished(local_stack, execution)

    assert result["status"] == "FAILED", result
    sfn = local_stack.client("stepfunctions")
    history = sfn.get_execution_history(executionArn=execution)["events"]
    [failed] = [event["taskFailedEventDetails"] for event in history if event["type"] == "TaskFailed"]
    assert failed["error"] == "wait_timeout"  # moto keeps no cause; the integration tests check it


def test_a_workflow_waiting_on_a_broadcast_is_answered_once_with_its_counts(
    gateway: Gateway, local_stack: LocalStack
) -> None:
    reference = f"e2e-broadcast-{uuid.uuid4()}"
    recipients = [customer() for _ in range(3)]
    definition = send_and_wait(local_stack.info["event_bus_name"], reference, {"wait_for": "delivered"})
    send = definition["States"]["Send"]["Parameters"]["Entries"][0]
    send["DetailType"] = "WhatsApp Broadcast Requested"
    send["Detail"].pop("destination.$")
    send["Detail"]["destination.$"] = "$.customers"
    execution = start(local_stack, definition, {"customers": recipients})

    result = finished(local_stack, execution)

    assert result["status"] == "SUCCEEDED", result
    counts = json.loads(result["output"])["message"]
    assert len(sent(gateway, reference, count=3)) == 3
    assert (counts["reference"], counts["recipients"], counts["with_outcome"]) == (reference, 3, 3)
    assert (counts["accepted"], counts["received"], counts["failed"]) == (3, 3, {})
    assert not any(number in json.dumps(counts) for number in recipients)
