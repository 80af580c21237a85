"""How provider answers become domain errors (one test per class of failure)."""

import json

import pytest
import requests
from wab.errors import ProviderCredentialsRejected, ProviderRejected, ProviderUnavailable
from wab.provider import classify_failure, failure_from_exception, whatsapp_error_code


def cloud_api_error(text: str, status: int = 400) -> str:
    """The provider's 400 body: the WhatsApp error in `error`, a generic `message`."""
    return json.dumps({"error": text, "message": "WhatsApp Cloud API error", "statusCode": status})


@pytest.mark.parametrize(
    "code, text",
    [
        ("131047", "(#131047) Re-engagement message"),
        ("131026", "(#131026) Message undeliverable"),
        ("131048", "(#131048) Spam rate limit hit"),
        ("131031", "(#131031) Account has been locked"),
        ("131042", "(#131042) Business eligibility payment issue"),
        ("132001", "(#132001) Template name does not exist in the translation"),
    ],
)
def test_a_permanent_whatsapp_error_is_a_rejection_with_its_code_and_text(code, text):
    failure = classify_failure(400, cloud_api_error(text))

    assert isinstance(failure, ProviderRejected)
    assert (failure.code, failure.message, failure.http_status) == (code, text, 400)


def test_a_numeric_code_field_is_read_too():
    assert classify_failure(400, json.dumps({"code": 131047, "error": "Re-engagement message"})).code == "131047"
    assert (
        classify_failure(400, json.dumps({"error": {"code": 132001, "message": "template missing"}})).code == "132001"
    )


@pytest.mark.parametrize(
    "status, body, code",
    [
        (429, '{"error": "Too Many Requests"}', "throttled"),
        (400, cloud_api_error("(#130429) Rate limit hit"), "throttled"),
        (
            400,
            cloud_api_error("(#131056) (Business Account, Consumer Account) pair rate limit hit"),
            "pair_rate_limited",
        ),
    ],
)
def test_throttling_is_unavailability_to_retry(status, body, code):
    failure = classify_failure(status, body)

    assert isinstance(failure, ProviderUnavailable)
    assert failure.code == code


def test_throttling_keeps_the_providers_retry_after():
    assert classify_failure(429, "", {"Retry-After": "30"}).retry_after == 30
    assert classify_failure(429, "", {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}).retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_and_request_timeouts_are_unavailability(status):
    failure = classify_failure(status, "<html>Bad Gateway</html>")

    assert isinstance(failure, ProviderUnavailable)
    assert (failure.code, failure.message) == (
        f"http_{status}",
        f"provider answered HTTP {status}: <html>Bad Gateway</html>",
    )


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_their_own_class(status):
    assert isinstance(classify_failure(status, '{"error": "Unauthorized"}'), ProviderCredentialsRejected)


def test_other_client_errors_are_rejections_named_by_status():
    failure = classify_failure(400, json.dumps({"error": "destination is required", "statusCode": 400}))

    assert isinstance(failure, ProviderRejected)
    assert (failure.code, failure.message) == ("http_400", "destination is required")
    assert classify_failure(413, "too big").code == "http_413"


def test_a_media_422_lists_every_error_under_the_first_code():
    body = json.dumps(
        {
            "errors": [
                {"field": "file", "code": "unsupported_type", "description": "image/bmp is not supported"},
                {"field": "", "code": "", "description": "Unprocessable Entity"},
            ]
        }
    )

    failure = classify_failure(422, body)

    assert isinstance(failure, ProviderRejected)
    assert (failure.code, failure.message) == (
        "unsupported_type",
        "file: image/bmp is not supported; Unprocessable Entity",
    )
    assert (
        classify_failure(
            422, json.dumps({"errors": [{"field": "", "code": "", "description": "Unprocessable Entity"}]})
        ).code
        == "http_422"
    )


def test_an_answer_that_is_not_json_is_still_classified():
    failure = classify_failure(400, b"\xff\xfe not json")

    assert isinstance(failure, ProviderRejected)
    assert failure.code == "http_400"


@pytest.mark.parametrize(
    "exc, code",
    [
        (requests.ConnectTimeout("connect timed out"), "timeout"),
        (requests.ReadTimeout("read timed out"), "timeout"),
        (requests.ConnectionError("connection refused"), "connection_failed"),
    ],
)
def test_timeouts_and_connection_failures_are_unavailability(exc, code):
    failure = failure_from_exception(exc)

    assert isinstance(failure, ProviderUnavailable)
    assert failure.code == code


def test_whatsapp_error_code_needs_the_marker():
    assert whatsapp_error_code({"error": "error 131047 happened"}) is None
    assert whatsapp_error_code({"message": "(#131051) Unsupported message type"}) == "131051"
    assert whatsapp_error_code(["not", "an", "object"]) is None


# --- backoff -------------------------------------------------------------------------------------------------------


def test_an_upload_still_sending_at_its_deadline_is_a_timeout_to_retry():
    import io
    import time

    from wab.provider import MultipartFile, UploadTooSlow

    body = MultipartFile(
        "file", "a.pdf", "application/pdf", io.BytesIO(b"x" * 200_000), 200_000, deadline=time.monotonic()
    )
    chunks = iter(body)
    next(chunks)  # the part's head goes out before any of the file
    with pytest.raises(UploadTooSlow) as raised:
        list(chunks)

    failure = failure_from_exception(requests.ConnectionError(raised.value))  # as requests wraps it
    assert (type(failure), failure.code) == (ProviderUnavailable, "timeout")


def test_call_timeouts_fit_before_the_deadline():
    import time

    from wab.provider import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, call_timeouts

    assert call_timeouts(None) == (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
    connect, read = call_timeouts(time.monotonic() + 4)
    assert connect + read <= 4
    assert call_timeouts(time.monotonic() + 60) == (CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
    with pytest.raises(ProviderUnavailable):
        call_timeouts(time.monotonic() + 0.1)
