"""The sample events in events/ (for `sam local invoke`) are real payloads the handlers accept."""

import json

from tests.helpers import ROOT, LambdaContext, answer_json, load_handler


def sample(name: str) -> dict:
    return json.loads((ROOT / "events" / name).read_text())


def invoke(function: str, event: dict) -> tuple[int, dict]:
    response = load_handler(function).lambda_handler(event, LambdaContext())
    return response["statusCode"], answer_json(response)


def test_the_sample_callbacks_and_record_reads_work_end_to_end(aws, sent):
    load_handler("callbacks").dependencies.cache_clear()
    load_handler("messages").store.cache_clear()
    sent("b95fc11e-37f0-4770-a082-6ea22d4c4d12", reference="order-1042")  # the message the sample DLR reports on

    assert invoke("callbacks", sample("callbacks-mo.json")) == (200, {"status": "ok"})
    assert invoke("callbacks", sample("callbacks-dlr.json")) == (200, {"status": "ok"})

    status, record = invoke("messages", sample("messages-get.json"))
    assert (status, record["status"], record["reference"]) == (200, "received", "order-1042")
    status, page = invoke("messages", sample("messages-list-by-contact.json"))
    assert status == 200
    assert [(item["direction"], item["content"]["text"]["body"]) for item in page["items"]] == [
        ("MO", "Kia ora! Is my order on its way?"),
        ("MT", "Your order has shipped"),
    ]
    assert [event["detail-type"] for event in aws.published()] == [
        "WhatsApp Message Received",
        "WhatsApp Message Status Changed",
    ]


def test_the_sample_wait_timer_is_a_timer_the_waits_function_takes(aws, sent, step_functions, waits):
    sent("b95fc11e-37f0-4770-a082-6ea22d4c4d12", reference="order-1042")  # a message no task waits on

    assert load_handler("waits").lambda_handler(sample("waits-timer.json"), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert step_functions.calls == [] and waits.delays == []  # its wait is not this token's: nothing to do
