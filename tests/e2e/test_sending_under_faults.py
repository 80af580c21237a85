"""The send path on the local stack under the provider's faults and limits: an outage ridden out, a number paced to
its rate, one contact's messages in order through errors and retries. Short runs: the long ones are in `make bench`."""

import time
import uuid
from typing import Any

import pytest

from local.client import Gateway
from local.stack import LocalStack
from tests.e2e.conftest import E2E_PARAMETERS, customer

pytestmark = pytest.mark.e2e


def send(gateway: Gateway, destination: str, reference: str, number: int) -> None:
    """A template send (free-form text would need the customer's 24-hour window), numbered in its parameter."""
    template = {
        "name": "order_update",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": str(number)}]}],
    }
    gateway.request(
        "WhatsApp Send Requested",
        {"destination": destination, "type": "template", "template": template, "reference": reference},
        source="e2e.tests",
    )


def numbers(messages: list[dict[str, Any]]) -> list[int]:
    return [int(message["body"]["template"]["components"][0]["parameters"][0]["text"]) for message in messages]


def accepted(gateway: Gateway, reference: str) -> list[dict[str, Any]]:
    return sorted(gateway.simulate(f"/_sim/messages?reference={reference}"), key=lambda message: message["accepted_at"])


def wait_for(gateway: Gateway, reference: str, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(accepted(gateway, reference)) >= count:
            time.sleep(0.5)  # anything more would be a duplicate: give it the chance to show
            return accepted(gateway, reference)
        time.sleep(0.2)
    pytest.fail(f"{len(accepted(gateway, reference))} of {count} messages reached the provider in {timeout} s")


def failed_events(local_stack: LocalStack, reference: str) -> list[dict[str, Any]]:
    sqs = local_stack.client("sqs")
    events = []
    while messages := sqs.receive_message(QueueUrl=local_stack.info["event_tap_queue_url"], MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            sqs.delete_message(QueueUrl=local_stack.info["event_tap_queue_url"], ReceiptHandle=message["ReceiptHandle"])
            if f'"reference":"{reference}"' in message["Body"].replace(" ", "") and "Message Failed" in message["Body"]:
                events.append(message)
    return events


def test_a_provider_outage_is_ridden_out_and_every_message_arrives_once_in_order(gateway, local_stack):
    destination, reference = customer(), f"outage-{uuid.uuid4()}"
    gateway.simulate("/_sim/faults", {"error_rate": 1.0})
    for number in range(4):
        send(gateway, destination, reference, number)
    time.sleep(4)  # the provider answers 500 to everything: every attempt fails and is put back
    assert accepted(gateway, reference) == []
    gateway.simulate("/_sim/faults", {"error_rate": 0.0})

    messages = wait_for(gateway, reference, 4, timeout=30)

    assert numbers(messages) == [0, 1, 2, 3]
    assert failed_events(local_stack, reference) == []
    dlq = local_stack.client("sqs").get_queue_attributes(
        QueueUrl=local_stack.info["dlq_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert dlq["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_number_is_paced_to_its_configured_rate_and_the_provider_throttles_nothing(gateway):
    rate = float(E2E_PARAMETERS["NumberRatePerSecond"])
    gateway.simulate("/_sim/faults", {"number_rate": rate})  # the provider throttles above the same rate
    reference = f"paced-{uuid.uuid4()}"
    for number in range(40):  # 40 contacts at once: twice what the number may send in a second
        send(gateway, customer(), reference, number)

    messages = wait_for(gateway, reference, 40, timeout=30)

    assert gateway.simulate("/_sim/stats")["throttled"] <= 1
    times = [_seconds(message["accepted_at"]) for message in messages]
    # 40 messages at 20/s with a burst of half a second's worth take at least 1.45 s.
    assert times[-1] - times[0] >= (40 - 1 - rate * 0.5) / rate - 0.1


def test_one_contacts_messages_reach_the_provider_in_order_through_errors_and_throttling(gateway):
    gateway.simulate("/_sim/faults", {"error_rate": 0.25, "throttle_rate": 0.1, "seed": 11})
    reference = f"order-{uuid.uuid4()}"
    contacts = [customer() for _ in range(3)]
    for number in range(6):  # interleaved, as an application sends them
        for contact in contacts:
            send(gateway, contact, reference, number)

    messages = wait_for(gateway, reference, 18, timeout=60)

    for contact in contacts:
        assert numbers([message for message in messages if message["destination"] == contact]) == list(range(6))


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
