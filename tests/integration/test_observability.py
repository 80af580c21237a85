"""What operators see: the EMF metrics (names, dimensions, values) and the keys on the sender's log lines.

Metrics are written to stdout as CloudWatch Embedded Metric Format; tests/conftest.py turns them off, these tests
turn them back on and read them.
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import responses

from tests.helpers import ROOT, LambdaContext, basic, http_event, load_handler
from tests.integration.conftest import MESSAGE_ID, NAMESPACE, metric
from tests.integration.test_sender import BASE_URL, text_command

CUSTOMER = "+64211234567"
BUSINESS = "1234567890"


@pytest.fixture
def callbacks(aws) -> Callable[..., int]:
    module = load_handler("callbacks")
    module.dependencies.cache_clear()

    def post(route: str, body: dict[str, Any], auth: str = basic()) -> int:
        event = http_event("POST", f"/callbacks/{route}", body=body, headers={"authorization": auth})
        return module.lambda_handler(event, LambdaContext())["statusCode"]

    return post


def mo(message_id: str = "c1fc05e6-863e-43bf-86dc-000000000001", **content: Any) -> dict[str, Any]:
    whatsapp = {
        "from": CUSTOMER,
        "id": f"wamid.{message_id}",
        "timestamp": "1795600000",
        "type": "text",
        "text": {"body": "hi"},
    }
    return {"id": message_id, "source": CUSTOMER, "destination": BUSINESS, "content": {**whatsapp, **content}}


# --- callbacks -----------------------------------------------------------------------------------------------------


def test_a_new_mo_counts_once_by_type_and_a_duplicate_not_at_all(callbacks, emf):
    assert callbacks("mo", mo()) == 200
    assert emf() == {metric("MessagesReceived", type="text"): 1}

    assert callbacks("mo", mo()) == 200  # the provider's retry
    assert emf() == {}

    brand_new = mo("c1fc05e6-863e-43bf-86dc-000000000002", type="hologram", hologram={"x": 1})
    assert callbacks("mo", brand_new) == 200
    assert emf() == {metric("MessagesReceived", type="unknown"): 1}  # a type nobody documents yet: one bounded name


def test_a_dlr_that_moves_the_status_counts_the_transition_by_status(callbacks, emf):
    dlr = {"id": "b95fc11e-37f0-4770-a082-6ea22d4c4d12", "status": "sent"}

    assert callbacks("dlr", dlr) == 200
    assert emf() == {metric("StatusReports"): 1, metric("StatusTransitions", status="sent"): 1}

    assert callbacks("dlr", dlr) == 200  # a duplicate DLR is a report, not a transition
    assert callbacks("dlr", {**dlr, "status": "queued_upstream"}) == 200  # kept in the history, but no move
    assert emf() == {metric("StatusReports"): 2}

    assert callbacks("dlr", {**dlr, "status": "read"}) == 200
    assert emf() == {metric("StatusReports"): 1, metric("StatusTransitions", status="read"): 1}


def test_a_rejected_callback_counts_by_reason(callbacks, emf):
    assert callbacks("mo", mo(), auth=basic(password="wrong")) == 401
    assert callbacks("dlr", {"id": "not a provider id!", "status": "sent"}) == 422

    assert emf() == {
        metric("CallbacksRejected", reason="unauthorized"): 1,  # what CallbackAuthRejectionsAlarm watches
        metric("CallbacksRejected", reason="invalid_payload"): 1,
    }


def test_a_refused_dlr_logs_its_delivery_status_apart_from_the_http_status(callbacks, log_lines):
    """A DLR naming an inbound message is refused (409); the line says both, neither hiding the other."""
    assert callbacks("mo", mo()) == 200
    assert callbacks("dlr", {"id": mo()["id"], "status": "sent"}) == 409

    [line] = [line for line in log_lines() if line["message"] == "request refused"]
    assert (line["delivery_status"], line["status"], line["error"]) == ("sent", 409, "not_outbound")


def test_an_unexpected_error_is_a_500_logged_by_type_and_place_without_its_text(callbacks, log_lines, monkeypatch):
    from wab import callbacks as inbound

    def crash(*_: Any, **__: Any) -> None:
        raise RuntimeError(f"crashed on {CUSTOMER}: the customer's words")

    monkeypatch.setattr(inbound, "receive_mo", crash)
    assert callbacks("mo", mo()) == 500

    [line] = [line for line in log_lines() if line["message"] == "unexpected error"]
    assert line["error"] == "RuntimeError" and "test_observability.py:" in line["at"]
    assert CUSTOMER.lstrip("+") not in json.dumps(line) and "words" not in json.dumps(line)


def test_the_auth_alarm_watches_the_metric_the_callbacks_emit():
    from tests.integration.conftest import template_resources

    alarm = template_resources()["CallbackAuthRejectionsAlarm"]["Properties"]
    dimensions = tuple(sorted((d["Name"], d["Value"]) for d in alarm["Dimensions"]))
    assert (alarm["Namespace"], (alarm["MetricName"], dimensions)) == (
        NAMESPACE,
        metric("CallbacksRejected", reason="unauthorized"),
    )


# --- the sender ----------------------------------------------------------------------------------------------------


def test_an_accepted_send_counts_once(sender, provider, emf):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command(idempotency_key="k-1"))
    sender.run()
    assert emf() == {metric("SendsAccepted"): 1}

    sender.put(text_command(idempotency_key="k-1"))  # asked for again: nothing is sent, nothing counts
    sender.run()
    assert emf() == {}


def test_a_window_rejection_counts_as_a_rejection_and_a_failed_send_by_code(sender, provider, emf):
    sender.configure(WINDOW_POLICY="enforce")
    sender.put(text_command())  # this customer never wrote

    sender.run()

    assert emf() == {metric("WindowRejections"): 1, metric("SendsFailed", code="outside_24h_window"): 1}


def test_a_retry_counts_by_reason_and_a_permanent_error_by_its_code(sender, provider, emf):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=429, json={"error": "Too Many Requests"})
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=400,
        json={"error": "(#131026) Message undeliverable", "message": "WhatsApp Cloud API error", "statusCode": 400},
    )
    sender.put(text_command())

    sender.run()
    sender.time_passes()
    sender.run()

    assert emf() == {metric("SendRetries", reason="throttled"): 1, metric("SendsFailed", code="131026"): 1}


def test_a_command_given_up_after_its_retry_window_counts_what_the_give_up_alarm_watches(
    sender, provider, emf, monkeypatch
):
    from datetime import timedelta

    from wab import clock

    from tests.integration.conftest import template_resources

    provider.add(responses.POST, f"{BASE_URL}/messages", status=503, body="busy")
    sender.put(text_command())
    sender.run()
    future = clock.now() + timedelta(hours=7)  # past the default window of 360 minutes
    monkeypatch.setattr(clock, "now", lambda: future)
    sender.time_passes()
    sender.run()

    given_up = metric("SendsFailed", code="retry_window_exceeded")
    assert emf() == {metric("SendRetries", reason="http_503"): 1, given_up: 1}
    alarm = template_resources()["SendsGivenUpAlarm"]["Properties"]
    dimensions = tuple(sorted((d["Name"], d["Value"]) for d in alarm["Dimensions"]))
    assert (alarm["Namespace"], (alarm["MetricName"], dimensions)) == (NAMESPACE, given_up)


def test_a_failure_code_of_any_shape_counts_under_other_not_a_dimension_of_its_own(emf):
    """A provider's own code (a 422's `errors[].code`) may be anything: each value would be a metric billed monthly."""
    from wab.models.events.sending import FailureReason, MessageFailed
    from wab.outcomes import count_failures

    count_failures(
        [
            MessageFailed(error=FailureReason(code=code, message="x"))
            for code in ("file_too_large", "Bad Code!", "x" * 80)
        ]
    )

    assert emf() == {metric("SendsFailed", code="file_too_large"): 1, metric("SendsFailed", code="other"): 2}


# --- log lines -----------------------------------------------------------------------------------------------------


def test_the_sender_logs_each_records_keys_and_no_secret_header_or_body(sender, provider, log_lines):
    from wab.observability import logger

    provider.add(responses.POST, f"{BASE_URL}/messages", status=503, body="busy")
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(text_command(idempotency_key="shipment-7"))
    sender.run()
    sender.time_passes()
    sender.run()
    logger.info("after the batch")

    *during, after = log_lines()
    assert [line["message"] for line in during] == [
        "provider call failed",
        "command will be retried",
        "message accepted",
    ]
    [record] = sender.last_records
    delivery_id = json.loads(record["body"])["delivery_id"]  # the request's: the id its requester was given
    for line in during:
        assert (line["sqs_message_id"], line["correlation_id"]) == (record["messageId"], delivery_id)
        assert (line["command"], line["reference"], line["idempotency_key"]) == ("send", "order-7", "send:shipment-7")
    assert during[-1]["message_id"] == MESSAGE_ID  # the provider's id, as the callbacks function logs it
    assert not {"sqs_message_id", "correlation_id", "command", "reference", "idempotency_key"} & set(after)
    text = json.dumps(during)
    for secret_header_or_body in ("api-secret", "Authorization", "Basic ", "Your order has shipped"):
        assert secret_header_or_body not in text


def test_the_provider_s_error_text_never_reaches_the_logs(sender, provider, log_lines):
    """A provider may echo the recipient or the message in its errors: they go to the requester, not to the logs."""
    echo = f"recipient {CUSTOMER} cannot receive 'Your order has shipped'"
    provider.add(responses.POST, f"{BASE_URL}/messages", status=503, json={"error": echo})
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=400,
        json={"error": f"(#131026) {echo}", "message": "WhatsApp Cloud API error", "statusCode": 400},
    )
    sender.put(text_command())
    sender.run()
    sender.time_passes()
    sender.run()

    lines = log_lines()
    assert [line["error"] for line in lines if line["message"] == "provider call failed"] == ["http_503", "131026"]
    text = json.dumps(lines)
    assert CUSTOMER not in text and CUSTOMER[1:] not in text and "Your order has shipped" not in text
    [failed] = [e["detail"] for e in sender.published() if e["detail-type"] == "WhatsApp Message Failed"]
    assert CUSTOMER in failed["error"]["message"]  # the requester is told all the provider said


def test_records_handled_side_by_side_each_log_their_own_keys(sender, provider, log_lines):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    sender.put(*(text_command(destination=f"+6421000000{n}", reference=f"order-{n}") for n in range(4)))

    sender.run()

    accepted = [line for line in log_lines() if line["message"] == "message accepted"]
    by_message = {
        record["messageId"]: json.loads(record["body"])["command"]["reference"] for record in sender.last_records
    }
    assert len(accepted) == len(by_message) == 4
    assert {line["sqs_message_id"]: line["reference"] for line in accepted} == by_message


def test_an_erasure_logs_the_contact_by_its_hash_only(sender, log_lines):
    sender.put({"command": "erase_contact", "contact": CUSTOMER, "reference": "gdpr-1"})

    sender.run()

    [line] = [line for line in log_lines() if line["message"] == "contact erased"]
    assert (line["command"], line["reference"], line["records_erased"]) == ("erase_contact", "gdpr-1", 0)
    assert CUSTOMER[1:] not in json.dumps(log_lines())


def test_an_invocation_that_counted_nothing_leaves_no_warning_line():
    """Most invocations count nothing (nothing failed or was retried): Powertools would warn of it on stderr, a line
    per container that tells an operator nothing. In a process of its own: pytest's filters ignore that warning."""
    code = (
        "from wab.observability import metrics\n"
        "metrics.log_metrics(lambda event, context: None)({}, None)\n"
        "print('ran')\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "layers" / "wab"),
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
        "PYTHONWARNINGS": "",
    }
    process = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)

    assert process.stdout.strip().endswith("ran")
    assert "Warning" not in process.stderr
