"""GET /messages/{id} for an id not stored here: the provider's record, in our shape; 404 when it has none; 503 when it
cannot be asked."""

import json
from typing import Any

import pytest
import requests
import responses

from tests.helpers import LambdaContext, answer_json, basic, http_event, load_handler

BASE_URL = "https://provider.test/rest/wab/v1"  # the provider secret of the `aws` fixture
MT_ID = "53a3e147-0cc5-4001-874a-000000000000"
MT_CONTENT = {
    "messaging_product": "whatsapp",
    "to": "+64123456789",
    "type": "template",
    "template": {
        "name": "sample_flight_confirmation",
        "language": {"policy": "", "code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "parameter_name": "", "text": "Home"}]}],
    },
    "biz_opaque_callback_data": MT_ID,
}


@pytest.fixture
def get(aws):
    messages = load_handler("messages")
    messages.store.cache_clear()
    messages.provider_for.cache_clear()

    def get(message_id: str, remaining_ms: int = 10_000) -> tuple[int, Any]:
        event = http_event(
            "GET", f"/messages/{message_id}", route="GET /messages/{id}", path_parameters={"id": message_id}
        )
        response = messages.lambda_handler(event, LambdaContext(remaining_ms=remaining_ms))
        return response["statusCode"], answer_json(response)

    yield get
    messages.provider_for.cache_clear()


def test_an_id_not_stored_is_read_from_the_provider_in_our_record_shape(get, provider):
    provider.add(
        responses.GET,
        f"{BASE_URL}/messages",
        match=[responses.matchers.query_param_matcher({"id": MT_ID})],
        json={
            "id": MT_ID,
            "source": "167141142137144145111111",
            "destination": "+64123456789",
            "direction": "MT",
            "reference": "c15e301d-ab04-46a0-8a76-9bfb589a5df9",
            "content": json.dumps(MT_CONTENT),
        },
    )

    status, record = get(MT_ID)

    assert status == 200
    assert record == {
        "id": MT_ID,
        "direction": "MT",
        "source": "167141142137144145111111",
        "destination": "+64123456789",
        "type": "template",
        "status": None,
        "reference": "c15e301d-ab04-46a0-8a76-9bfb589a5df9",
        "content": MT_CONTENT,
        "status_history": [],
        "created_at": None,
        "updated_at": None,
    }
    [call] = provider.calls
    assert call.request.headers["accept"] == "application/json"
    assert call.request.headers["Authorization"].startswith("Basic ")


def test_an_inbound_record_keeps_the_providers_direction_and_exact_numbers(get, provider):
    content = (
        '{"from":"+64123456789","id":"wamid.e53f","type":"location",'
        '"location":{"latitude":-36.848461,"longitude":174.763336},"timestamp":"1767739600"}'
    )
    provider.add(
        responses.GET,
        f"{BASE_URL}/messages",
        json={
            "id": "c1fc05e6-863e-43bf-86dc-000000000000",
            "source": "+64123456789",
            "destination": "167141142137144145111111",
            "direction": "MO",
            "reference": "",
            "content": content,
        },
    )

    status, record = get("c1fc05e6-863e-43bf-86dc-000000000000")

    assert status == 200
    assert (record["direction"], record["type"], record["reference"], record["status"]) == (
        "MO",
        "location",
        None,
        None,
    )
    assert record["content"]["location"] == {"latitude": -36.848461, "longitude": 174.763336}


def test_a_stored_record_is_answered_without_asking_the_provider(get, provider, aws):
    callbacks = load_handler("callbacks")
    callbacks.dependencies.cache_clear()
    dlr = http_event(
        "POST",
        "/callbacks/dlr",
        body={"id": MT_ID, "status": "sent", "reference": "r"},
        headers={"authorization": basic()},
    )
    assert callbacks.lambda_handler(dlr, LambdaContext())["statusCode"] == 200

    status, record = get(MT_ID)

    assert (status, record["status"]) == (200, "sent")
    assert len(provider.calls) == 0


def test_404_when_the_provider_has_none_either(get, provider):
    provider.add(
        responses.GET,
        f"{BASE_URL}/messages",
        status=404,
        json={"errors": [{"field": "id", "code": "", "description": "Not Found"}]},
    )

    status, answer = get(MT_ID)

    assert (status, answer["error"]) == (404, "not_found")


@pytest.mark.parametrize(
    "failure",
    [{"status": 500, "body": "down"}, {"body": requests.ConnectTimeout("slow")}, {"status": 200, "body": "not json"}],
)
def test_503_when_the_provider_cannot_be_asked(get, provider, failure):
    provider.add(responses.GET, f"{BASE_URL}/messages", **failure)

    status, answer = get(MT_ID)

    assert (status, answer["error"]) == (503, "dependency_failed")


@pytest.mark.parametrize("in_its_code", [False, True])
def test_the_provider_s_own_words_reach_neither_the_answer_nor_the_log(get, provider, log_lines, in_its_code):
    """A provider's error text may repeat a number or a message, even as a 422's error code; the answer and its log
    line give a code of the gateway's shape only."""
    words = "upstream failed sending to +64211234567: 'Hi Jane, your PIN is 4321'"
    if in_its_code:
        provider.add(responses.GET, f"{BASE_URL}/messages", status=422, json={"errors": [{"code": words}]})
    else:
        provider.add(responses.GET, f"{BASE_URL}/messages", status=500, body=words)

    status, answer = get(MT_ID)

    assert (status, answer["error"]) == (503, "dependency_failed")
    said = json.dumps(answer) + json.dumps(log_lines())
    assert "64211234567" not in said and "PIN" not in said


@pytest.mark.parametrize("remaining_ms", [10_000, 4_000])
def test_the_provider_is_given_only_the_time_the_function_has_left(get, provider, remaining_ms):
    """A fallback still waiting when the function times out would answer 500 (and cost the caller its retry budget)
    instead of the documented 503: the call's connect and read timeouts fit in what is left, with time to answer."""
    provider.add(responses.GET, f"{BASE_URL}/messages", body=requests.ReadTimeout("no answer"))

    status, answer = get(MT_ID, remaining_ms=remaining_ms)

    assert (status, answer["error"]) == (503, "dependency_failed")
    [call] = provider.calls
    connect, read = call.request.req_kwargs["timeout"]
    assert connect + read < remaining_ms / 1000 - 0.5


def test_no_call_is_started_without_time_to_finish_it(get, provider):
    status, answer = get(MT_ID, remaining_ms=1_200)

    assert (status, answer["error"]) == (503, "dependency_failed")
    assert len(provider.calls) == 0
