"""The provider simulator over HTTP: answers, validation, auth, WhatsApp errors, faults, and the callbacks it makes
to a small local receiver standing in for the gateway's callback endpoints."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from local.simulator import Faults, RetryPolicy, Simulator, SimulatorConfig, SimulatorError

API_USER, API_PASSWORD = "api-user", "api-secret"
CALLBACK_USER, CALLBACK_PASSWORD = "cb-user", "cb:p@ss"  # ':' and '@' arrive percent-encoded in the URL
CALLBACK_AUTH = "Basic " + base64.b64encode(f"{CALLBACK_USER}:{CALLBACK_PASSWORD}".encode()).decode()
CUSTOMER = "+64211234567"
BUSINESS = "1234567890"
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TEMPLATE = {"type": "template", "template": {"name": "order_shipped", "language": {"code": "en"}}}
TEXT = {"type": "text", "text": {"body": "Kia ora"}}


# --- a stand-in for the gateway's callback endpoints ----------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


class Receiver:
    """Records every POST; answers 200 unless statuses were planned for a path with `answer_next`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._planned: dict[str, deque[int]] = defaultdict(deque)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = receiver._record(Received(self.path, dict(self.headers), body))
                data = b'{"status":"ok"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _record(self, request: Received) -> int:
        with self._lock:
            self.requests.append(request)
            planned = self._planned[request.path]
            return planned.popleft() if planned else 200

    def answer_next(self, path: str, *statuses: int) -> None:
        with self._lock:
            self._planned[path].extend(statuses)

    def posted(self, path: str, **matching: Any) -> list[Received]:
        with self._lock:
            return [
                request
                for request in self.requests
                if request.path == path and all(request.body.get(key) == value for key, value in matching.items())
            ]

    def wait_for(self, path: str, count: int, timeout: float = 3, **matching: Any) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(found := self.posted(path, **matching)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)}/{count} callbacks to {path} matching {matching}: {self.requests}")
            time.sleep(0.005)
        return found

    def dlr_statuses(self, message_id: str, count: int) -> list[str]:
        return [request.body["status"] for request in self.wait_for("/dlr", count, id=message_id)]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._planned.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- fixtures --------------------------------------------------------------------------------------------------------

FAST = dict(dlr_sent_delay=0.01, dlr_received_delay=0.02, timeout_seconds=0.5, seed=7)
FAST_RETRY = RetryPolicy(max_attempts=4, first_delay=0.02, max_delay=0.05)


def config_for(receiver_url: str, **overrides: Any) -> SimulatorConfig:
    netloc = receiver_url.removeprefix("http://")
    credentials = f"{CALLBACK_USER}:{requests.utils.quote(CALLBACK_PASSWORD, safe='')}"
    values: dict[str, Any] = dict(
        port=0,
        api_username=API_USER,
        api_password=API_PASSWORD,
        source=BUSINESS,
        mo_url=f"http://{credentials}@{netloc}/mo",
        dlr_url=f"http://{credentials}@{netloc}/dlr",
        faults=Faults(**FAST),
        retry=FAST_RETRY,
        callback_workers=4,
        callback_timeout=2,
    )
    values.update(overrides)
    return SimulatorConfig(**values)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def module_simulator(receiver: Receiver) -> Iterator[Simulator]:
    with Simulator(config_for(receiver.url)) as simulator:
        yield simulator


@pytest.fixture
def sim(module_simulator: Simulator, receiver: Receiver) -> Simulator:
    assert requests.post(module_simulator.url + "/_sim/reset").status_code == 200
    receiver.reset()
    return module_simulator


@pytest.fixture
def api(sim: Simulator) -> requests.Session:
    session = requests.Session()
    session.auth = (API_USER, API_PASSWORD)
    return session


def send(
    api: requests.Session, sim: Simulator, destination: Any = CUSTOMER, path: str = "/messages", **body: Any
) -> requests.Response:
    return api.post(sim.api_url + path, json={"destination": destination, "source": BUSINESS, **(body or TEMPLATE)})


def control(sim: Simulator, path: str, body: Any = None) -> Any:
    response = requests.post(sim.url + path, json=body or {}) if body is not None else requests.get(sim.url + path)
    assert response.status_code == 200, response.text
    return response.json()


def customer_writes(sim: Simulator, **body: Any) -> dict[str, Any]:
    return control(sim, "/_sim/mo", {"type": "text", "from": CUSTOMER, **body})


# --- sending ---------------------------------------------------------------------------------------------------------


def test_send_is_accepted_with_the_queued_ids_then_fresh_uuids(sim: Simulator, api: requests.Session) -> None:
    assert control(sim, "/_sim/ids", {"ids": ["mt-1", "mt-2"]}) == {"queued": 2}

    first = send(api, sim, reference="order-1", **TEMPLATE)
    second = send(api, sim)
    third = send(api, sim)

    assert (first.status_code, first.json()) == (202, [{"id": "mt-1", "status": "accepted", "reference": "order-1"}])
    assert second.json() == [{"id": "mt-2", "status": "accepted", "reference": ""}]
    assert UUID4.fullmatch(third.json()[0]["id"])
    assert first.headers["Content-Type"] == "application/json"


def test_to_is_accepted_as_the_destination(sim: Simulator, api: requests.Session) -> None:
    response = api.post(sim.api_url + "/messages", json={"to": "64211234567", "source": BUSINESS, **TEMPLATE})

    assert response.status_code == 202
    assert control(sim, "/_sim/messages")[0]["destination"] == "64211234567"


@pytest.mark.parametrize(
    "body, error",
    [
        ([{"destination": CUSTOMER}], "request body must be a JSON object"),
        ({"source": BUSINESS, **TEMPLATE}, "destination is required"),
        ({"destination": "12ab", "source": BUSINESS, **TEMPLATE}, "destination must be a phone number in E.164 format"),
        ({"destination": "+1234", "source": BUSINESS, **TEMPLATE}, "destination must be a phone number"),
        ({"destination": [CUSTOMER], "source": BUSINESS, **TEMPLATE}, "use /messages/broadcast"),
        ({"destination": CUSTOMER, "source": BUSINESS, "type": "fax", "fax": {}}, "type 'fax' is not supported"),
        ({"destination": CUSTOMER, "source": BUSINESS, "text": {"body": "x"}}, "type is required"),
        ({"destination": CUSTOMER, "source": BUSINESS, "type": "text"}, "text object is required for type text"),
        (
            {"destination": CUSTOMER, "source": BUSINESS, "type": "text", "text": {"body": "x" * 4097}},
            "text.body is longer than 4096 characters (4097)",
        ),
        (
            {"destination": CUSTOMER, "source": BUSINESS, "type": "image", "image": {"caption": "hi"}},
            "image needs an id (uploaded media) or a link",
        ),
        (
            {
                "destination": CUSTOMER,
                "source": BUSINESS,
                "type": "document",
                "document": {"id": "1", "caption": "c" * 1025},
            },
            "document.caption must be a string of at most 1024 characters",
        ),
        (
            {
                "destination": CUSTOMER,
                "source": BUSINESS,
                "type": "template",
                "template": {"name": "x", "language": {}},
            },
            "template.language.code is required",
        ),
        (
            {"destination": CUSTOMER, "source": BUSINESS, "type": "location", "location": {"latitude": -36.8}},
            "location.longitude is required",
        ),
        (
            {"destination": CUSTOMER, "source": BUSINESS, "type": "reaction", "reaction": {"emoji": "👍"}},
            "reaction.message_id is required",
        ),
        (
            {"destination": CUSTOMER, "source": BUSINESS, "type": "interactive", "interactive": {"type": "button"}},
            "interactive.action must be an object",
        ),
        (
            {
                "destination": CUSTOMER,
                "source": BUSINESS,
                "type": "interactive",
                "interactive": {"type": "cta_url", "action": {"name": "cta_url", "parameters": {"url": "https://x"}}},
            },
            "interactive.action.parameters.display_text is required",
        ),
        (
            {
                "destination": CUSTOMER,
                "source": BUSINESS,
                "type": "interactive",
                "interactive": {"type": "flow", "action": {"name": "flow", "parameters": {"flow_cta": "Go"}}},
            },
            "interactive.action.parameters needs flow_id or flow_name",
        ),
        (
            {"destination": CUSTOMER, "source": BUSINESS, "type": "interactive", "interactive": {"type": "poll"}},
            "interactive.type must be one of",
        ),
        (
            {"destination": CUSTOMER, "source": BUSINESS, "type": "contacts", "contacts": []},
            "contacts must be a non-empty list of contacts",
        ),
        ({"destination": CUSTOMER, **TEMPLATE}, "source is required"),
        ({"destination": CUSTOMER, "source": BUSINESS, "reference": 42, **TEMPLATE}, "reference must be a string"),
    ],
)
def test_invalid_sends_are_answered_400_naming_the_problem(
    sim: Simulator, api: requests.Session, body: Any, error: str
) -> None:
    response = api.post(sim.api_url + "/messages", json=body)

    assert response.status_code == 400
    answer = response.json()
    assert error in answer["error"]
    assert (answer["message"], answer["statusCode"]) == ("WhatsApp Cloud API error", 400)
    assert control(sim, "/_sim/messages") == []


@pytest.mark.parametrize(
    "interactive",
    [
        {
            "type": "cta_url",
            "body": {"text": "The dates are out"},
            "action": {"name": "cta_url", "parameters": {"display_text": "See the dates", "url": "https://x.test"}},
        },
        {
            "type": "flow",
            "body": {"text": "Book"},
            "action": {"name": "flow", "parameters": {"flow_cta": "Book now", "flow_id": "1197715005513101"}},
        },
    ],
)
def test_cta_url_and_flow_messages_are_accepted_and_recorded(
    sim: Simulator, api: requests.Session, interactive: dict[str, Any]
) -> None:
    control(sim, "/_sim/faults", {"enforce_window": False})
    body = {"destination": CUSTOMER, "source": BUSINESS, "type": "interactive", "interactive": interactive}
    response = api.post(sim.api_url + "/messages", json=body)

    assert response.status_code == 202, response.text
    [recorded] = control(sim, "/_sim/messages")
    assert recorded["type"] == "interactive"
    assert recorded["body"]["interactive"] == interactive


def test_malformed_json_is_a_400(sim: Simulator, api: requests.Session) -> None:
    response = api.post(
        sim.api_url + "/messages", data=b'{"destination": ', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"].startswith("request body is not valid JSON")


@pytest.mark.parametrize("auth", [None, (API_USER, "wrong"), ("someone", API_PASSWORD)])
def test_missing_or_wrong_credentials_are_a_401(sim: Simulator, auth: tuple[str, str] | None) -> None:
    response = requests.post(sim.api_url + "/messages", auth=auth, json={"destination": CUSTOMER, **TEMPLATE})

    assert response.status_code == 401
    assert response.json()["statusCode"] == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="wab"'
    assert requests.get(sim.api_url + "/messages?id=x", auth=auth).status_code == 401


# --- WhatsApp's rules -------------------------------------------------------------------------------------------------


def test_free_form_needs_the_customer_to_have_written_in_the_last_24_hours(
    sim: Simulator, api: requests.Session
) -> None:
    outside = send(api, sim, **TEXT)
    assert outside.status_code == 400
    assert outside.json() == {
        "error": "(#131047) Re-engagement message: more than 24 hours have passed since the customer last replied",
        "message": "WhatsApp Cloud API error",
        "statusCode": 400,
    }
    assert send(api, sim, **TEMPLATE).status_code == 202  # templates open conversations

    customer_writes(sim, **{"from": "64 21 123 4567"})  # the same contact, spelled differently

    assert send(api, sim, **TEXT).status_code == 202


def test_the_window_check_can_be_switched_off(sim: Simulator, api: requests.Session) -> None:
    assert control(sim, "/_sim/faults", {"enforce_window": False})["enforce_window"] is False

    assert send(api, sim, destination="+64270000001", **TEXT).status_code == 202


def test_missing_template_and_undeliverable_number(sim: Simulator, api: requests.Session) -> None:
    missing = send(api, sim, type="template", template={"name": "does_not_exist", "language": {"code": "en"}})
    undeliverable = send(api, sim, destination="+15550000000")

    assert (missing.status_code, missing.json()["error"]) == (
        400,
        "(#132001) Template name does not exist in the translation",
    )
    assert (undeliverable.status_code, undeliverable.json()["error"]) == (400, "(#131026) Message undeliverable")


# --- DLRs -------------------------------------------------------------------------------------------------------------


def test_every_accepted_message_gets_sent_then_received_with_basic_auth(
    sim: Simulator, api: requests.Session, receiver: Receiver
) -> None:
    message_id = send(api, sim, reference="order-7", **TEMPLATE).json()[0]["id"]

    dlrs = receiver.wait_for("/dlr", 2, id=message_id)

    assert [dlr.body for dlr in dlrs] == [
        {"id": message_id, "status": "sent", "reference": "order-7"},
        {"id": message_id, "status": "received", "reference": "order-7"},
    ]
    assert {dlr.headers["Authorization"] for dlr in dlrs} == {CALLBACK_AUTH}
    assert {dlr.headers["Content-Type"] for dlr in dlrs} == {"application/json"}
    listed = wait_until(lambda: control(sim, "/_sim/messages")[0], lambda record: len(record["dlrs"]) == 2)
    assert listed["dlrs"] == [
        {"status": "sent", "http_status": 200, "attempts": 1},
        {"status": "received", "http_status": 200, "attempts": 1},
    ]


def test_a_dlr_is_retried_until_the_gateway_answers_2xx(
    sim: Simulator, api: requests.Session, receiver: Receiver
) -> None:
    receiver.answer_next("/dlr", 500, 503)
    message_id = send(api, sim).json()[0]["id"]

    assert receiver.dlr_statuses(message_id, 4) == ["sent", "sent", "sent", "received"]
    record = wait_until(lambda: control(sim, "/_sim/messages")[0], lambda record: len(record["dlrs"]) == 2)
    assert record["dlrs"][0] == {"status": "sent", "http_status": 200, "attempts": 3}


def test_a_dlr_to_an_unreachable_gateway_is_given_up_after_the_last_attempt(receiver: Receiver) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = config_for(
        receiver.url,
        dlr_url=f"http://127.0.0.1:{closed_port}/dlr",
        faults=Faults(**FAST, auto_dlr=True, enforce_window=False),
    )
    with Simulator(config) as simulator:
        api = requests.Session()
        api.auth = (API_USER, API_PASSWORD)
        send(api, simulator, **TEXT)

        record = wait_until(lambda: control(simulator, "/_sim/messages")[0], lambda record: record["dlrs"])

    assert record["dlrs"][0] == {"status": "sent", "http_status": None, "attempts": 4}


@pytest.mark.parametrize(
    "faults, statuses",
    [
        ({"duplicate_dlr_rate": 1}, ["sent", "sent", "received", "received"]),
        ({"out_of_order_dlr_rate": 1}, ["received", "sent"]),
        ({"reject_rate": 1}, ["sent", "rejected"]),
    ],
)
def test_dlr_faults(
    sim: Simulator, api: requests.Session, receiver: Receiver, faults: dict[str, Any], statuses: list[str]
) -> None:
    control(sim, "/_sim/faults", faults)
    message_id = send(api, sim).json()[0]["id"]

    assert receiver.dlr_statuses(message_id, len(statuses)) == statuses


def test_no_dlrs_when_auto_dlr_is_off_and_one_by_hand(
    sim: Simulator, api: requests.Session, receiver: Receiver
) -> None:
    control(sim, "/_sim/faults", {"auto_dlr": False})
    message_id = send(api, sim, reference="ref-9", **TEMPLATE).json()[0]["id"]
    time.sleep(0.1)
    assert receiver.posted("/dlr") == []

    answer = control(sim, "/_sim/dlr", {"id": message_id, "status": "read"})

    assert answer == {"id": message_id, "status": "read", "reference": "ref-9", "callback_status": 200, "attempts": 1}
    assert receiver.posted("/dlr")[0].body == {"id": message_id, "status": "read", "reference": "ref-9"}
    replayed = control(sim, "/_sim/dlr", {"id": "replayed-id", "status": "sent", "reference": "r"})
    assert replayed["callback_status"] == 200


# --- faults on the API ------------------------------------------------------------------------------------------------


def test_throttle_and_error_faults(sim: Simulator, api: requests.Session) -> None:
    control(sim, "/_sim/faults", {"throttle_rate": 1})
    throttled = send(api, sim)
    control(sim, "/_sim/faults", {"throttle_rate": 0, "error_rate": 1})
    failed = send(api, sim)

    assert (throttled.status_code, throttled.json()) == (
        429,
        {"error": "(#130429) Rate limit hit", "message": "WhatsApp Cloud API error", "statusCode": 429},
    )
    assert failed.status_code == 500 and failed.json()["statusCode"] == 500
    assert control(sim, "/_sim/messages") == []


def test_latency_and_timeout_faults(sim: Simulator, api: requests.Session) -> None:
    control(sim, "/_sim/faults", {"latency_ms": 150})
    started = time.monotonic()
    assert send(api, sim).status_code == 202
    assert time.monotonic() - started >= 0.15

    control(sim, "/_sim/faults", {"latency_ms": 0, "timeout_rate": 1, "timeout_seconds": 0.3, "auto_dlr": False})
    with pytest.raises(requests.ReadTimeout):
        api.post(sim.api_url + "/messages", json={"destination": CUSTOMER, "source": BUSINESS, **TEMPLATE}, timeout=0.1)
    # Like a real timeout, the client cannot know: the held request is then served as usual.
    wait_until(lambda: control(sim, "/_sim/messages"), lambda messages: len(messages) == 2)


def test_rates_follow_the_seed(sim: Simulator, api: requests.Session) -> None:
    def outcomes() -> list[int]:
        control(sim, "/_sim/faults", {"throttle_rate": 0.5, "seed": 42, "auto_dlr": False})
        return [send(api, sim).status_code for _ in range(20)]

    first, second = outcomes(), outcomes()

    assert first == second
    assert set(first) == {202, 429}


def test_a_number_over_its_rate_is_throttled_with_130429_and_recovers_as_the_bucket_refills(
    sim: Simulator, api: requests.Session
) -> None:
    control(sim, "/_sim/faults", {"number_rate": 5, "auto_dlr": False})
    answers = [send(api, sim).status_code for _ in range(7)]  # a burst of one second's worth goes through

    assert answers == [202] * 5 + [429] * 2
    assert send(api, sim, path="/messages/broadcast", destination=[CUSTOMER]).status_code == 429
    assert control(sim, "/_sim/stats")["throttled"] == 3
    time.sleep(0.45)  # two more tokens
    assert [send(api, sim).status_code for _ in range(3)] == [202, 202, 429]


def test_a_broadcast_takes_one_unit_of_the_number_rate_per_recipient(sim: Simulator, api: requests.Session) -> None:
    control(sim, "/_sim/faults", {"number_rate": 4, "auto_dlr": False})
    recipients = [f"+6421000000{n}" for n in range(3)]

    assert send(api, sim, path="/messages/broadcast", destination=recipients).status_code == 202
    assert send(api, sim, path="/messages/broadcast", destination=recipients[:2]).status_code == 429
    assert send(api, sim).status_code == 202


def test_one_recipient_over_the_pair_rate_gets_131056(sim: Simulator, api: requests.Session) -> None:
    control(sim, "/_sim/faults", {"pair_rate_window_seconds": 0.5, "pair_rate_burst": 2, "auto_dlr": False})

    assert [send(api, sim).status_code for _ in range(2)] == [202, 202]
    refused = send(api, sim)
    assert (refused.status_code, refused.json()["error"]) == (
        400,
        "(#131056) (Business Account, Consumer Account) pair rate limit hit",
    )
    assert send(api, sim, destination="+64219999999").status_code == 202  # other recipients are not held back
    assert control(sim, "/_sim/stats")["pair_rate_limited"] == 1
    time.sleep(0.5)
    assert send(api, sim).status_code == 202


def test_accepted_messages_carry_their_time_to_the_microsecond(sim: Simulator, api: requests.Session) -> None:
    control(sim, "/_sim/faults", {"auto_dlr": False})
    send(api, sim)
    send(api, sim)

    times = [message["accepted_at"] for message in control(sim, "/_sim/messages")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", at) for at in times), times
    assert times == sorted(times) and times[0] != times[1]


def test_faults_are_partially_updated_validated_and_reset(sim: Simulator) -> None:
    before = control(sim, "/_sim/faults")
    after = control(sim, "/_sim/faults", {"error_rate": 0.25})

    assert after == {**before, "error_rate": 0.25}
    assert requests.post(sim.url + "/_sim/faults", json={"error_rate": 2}).json() == {
        "error": "error_rate must be between 0 and 1"
    }
    assert "unknown fault 'eror_rate'" in requests.post(sim.url + "/_sim/faults", json={"eror_rate": 1}).json()["error"]
    assert requests.post(sim.url + "/_sim/faults", json={"auto_dlr": "yes"}).status_code == 400
    assert control(sim, "/_sim/reset", {})["faults"] == before


# --- broadcast -------------------------------------------------------------------------------------------------------


def test_broadcast_accepts_each_recipient_and_each_gets_dlrs(
    sim: Simulator, api: requests.Session, receiver: Receiver
) -> None:
    control(sim, "/_sim/ids", {"ids": ["b-1"]})
    recipients = ["+64211111111", "+64222222222", "64233333333"]

    response = send(api, sim, destination=recipients, path="/messages/broadcast", reference="promo", **TEMPLATE)

    assert response.status_code == 202
    answer = response.json()
    assert [item["destination"] for item in answer] == recipients
    assert answer[0] == {"destination": "+64211111111", "id": "b-1", "status": "accepted"}
    assert all(item["status"] == "accepted" and UUID4.fullmatch(item["id"]) for item in answer[1:])
    for item in answer:
        assert receiver.dlr_statuses(item["id"], 2) == ["sent", "received"]
    assert len(control(sim, "/_sim/messages?reference=promo")) == 3


@pytest.mark.parametrize(
    "destination, error",
    [
        (["+64211111111", "nope"], "destination[1] must be a phone number"),
        ([], "destination must be a list of 1 to 10000"),
        ("+64211111111", "destination must be a list"),
        (["+64211111111", "+15550000000"], "(#131026)"),
    ],
)
def test_a_broadcast_with_any_bad_recipient_is_refused_whole(
    sim: Simulator, api: requests.Session, destination: Any, error: str
) -> None:
    response = send(api, sim, destination=destination, path="/messages/broadcast")

    assert response.status_code == 400 and error in response.json()["error"]
    assert control(sim, "/_sim/messages") == []


# --- media ------------------------------------------------------------------------------------------------------------


def test_media_upload_answers_a_media_id(sim: Simulator, api: requests.Session) -> None:
    response = api.post(
        sim.api_url + "/media?source=" + BUSINESS,
        headers={"x-xsrf-token": "t"},
        files={"file": ("parcel.jpg", b"\xff\xd8\xff\xe0 jpeg bytes", "image/jpeg")},
    )

    assert response.status_code == 200
    [item] = response.json()
    assert list(item) == ["id"] and item["id"].isdigit()


@pytest.mark.parametrize(
    "files, code",
    [
        ({"document": ("a.pdf", b"%PDF", "application/pdf")}, "missing_file"),
        ({"file": ("a.pdf", b"", "application/pdf")}, "empty_file"),
        ({"file": ("a.gif", b"GIF89a", "image/gif")}, "unsupported_mime_type"),
        ({"file": ("big.webp", b"R" * (500 * 1024 + 1), "image/webp")}, "file_too_large"),
        ({"file": ("big.jpg", b"J" * (5 * 1024 * 1024 + 1), "image/jpeg")}, "file_too_large"),
    ],
)
def test_media_upload_problems_are_a_422(
    sim: Simulator, api: requests.Session, files: dict[str, Any], code: str
) -> None:
    response = api.post(sim.api_url + "/media?source=" + BUSINESS, files=files)

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["field"], error["code"]) == ("file", code)
    assert error["description"]


def test_media_upload_that_is_not_multipart_is_a_422(sim: Simulator, api: requests.Session) -> None:
    response = api.post(sim.api_url + "/media", json={"file": "x"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "missing_file"


# --- records ----------------------------------------------------------------------------------------------------------


def test_get_message_for_an_mt_and_an_mo_has_content_as_a_json_string(sim: Simulator, api: requests.Session) -> None:
    mt_id = send(api, sim, reference="order-3", **TEMPLATE).json()[0]["id"]
    mo = customer_writes(sim, text="Where is my parcel?")

    mt_record = api.get(sim.api_url + "/messages", params={"id": mt_id})
    mo_record = api.get(sim.api_url + "/messages", params={"id": mo["id"]})

    assert mt_record.status_code == 200
    mt = mt_record.json()
    assert {key: mt[key] for key in ("id", "source", "destination", "direction", "reference")} == {
        "id": mt_id,
        "source": BUSINESS,
        "destination": CUSTOMER,
        "direction": "MT",
        "reference": "order-3",
    }
    assert json.loads(mt["content"]) == {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": TEMPLATE["template"],
        "biz_opaque_callback_data": mt_id,
    }
    expected_mo = {"id": mo["id"], "source": CUSTOMER, "destination": BUSINESS, "direction": "MO", "reference": ""}
    assert {key: mo_record.json()[key] for key in expected_mo} == expected_mo
    assert isinstance(mo_record.json()["content"], str)
    assert json.loads(mo_record.json()["content"]) == mo["content"]


def test_get_message_unknown_or_without_id(sim: Simulator, api: requests.Session) -> None:
    unknown = api.get(sim.api_url + "/messages", params={"id": "no-such-id"})

    assert (unknown.status_code, unknown.json()["statusCode"]) == (404, 404)
    assert api.get(sim.api_url + "/messages").status_code == 400


def test_sim_messages_lists_the_request_and_filters_by_reference(sim: Simulator, api: requests.Session) -> None:
    send(api, sim, reference="a", **TEMPLATE)
    send(api, sim, reference="b", **TEMPLATE)

    [listed] = control(sim, "/_sim/messages?reference=b")

    assert listed["reference"] == "b" and listed["type"] == "template" and listed["destination"] == CUSTOMER
    assert listed["body"] == {"destination": CUSTOMER, "source": BUSINESS, "reference": "b", **TEMPLATE}
    assert listed["accepted_at"].endswith("Z")
    assert len(control(sim, "/_sim/messages")) == 2


# --- MOs --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, options, check",
    [
        ("text", {"text": "Kia ora"}, lambda c: c["text"] == {"preview_url": False, "body": "Kia ora"}),
        (
            "image",
            {"text": "the parcel"},
            lambda c: (
                c["image"]["mime_type"] == "image/jpeg"
                and c["image"]["caption"] == "the parcel"
                and len(c["image"]["sha256"]) == 64
                and c["image"]["id"].isdigit()
            ),
        ),
        ("audio", {}, lambda c: c["audio"]["voice"] is True and c["audio"]["mime_type"].startswith("audio/ogg")),
        ("document", {}, lambda c: c["document"]["filename"].endswith(".pdf")),
        ("location", {}, lambda c: set(c["location"]) >= {"latitude", "longitude", "name", "address"}),
        ("contacts", {}, lambda c: c["contacts"][0]["name"]["formatted_name"]),
        (
            "interactive",
            {},
            lambda c: c["interactive"]["type"] == "button_reply" and c["interactive"]["button_reply"]["id"],
        ),
        ("interactive", {"interactive_type": "list_reply"}, lambda c: c["interactive"]["list_reply"]["title"]),
        ("button", {}, lambda c: c["button"]["payload"] and c["context"]["from"] == BUSINESS),
        ("reaction", {"message_id": "wamid.X"}, lambda c: c["reaction"] == {"message_id": "wamid.X", "emoji": "👍"}),
        (
            "order",
            {},
            lambda c: (
                set(c["order"]["product_items"][0]) == {"product_retailer_id", "quantity", "item_price", "currency"}
                and c["order"]["catalog_id"]
            ),
        ),
        ("system", {}, lambda c: c["system"]["type"] == "user_changed_number" and c["system"]["new_wa_id"]),
        (
            "unsupported",
            {},
            lambda c: (
                c["errors"]
                == [
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "message": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."},
                    }
                ]
            ),
        ),
        ("request_welcome", {}, lambda c: "request_welcome" not in c),
        ("hologram", {}, lambda c: isinstance(c["hologram"], dict)),
    ],
)
def test_mo_of_each_type_reaches_the_gateway(
    sim: Simulator, receiver: Receiver, kind: str, options: dict[str, Any], check: Callable[[dict[str, Any]], Any]
) -> None:
    answer = customer_writes(sim, type=kind, **options)

    assert answer["callback_status"] == 200 and UUID4.fullmatch(answer["id"])
    [posted] = receiver.posted("/mo")
    assert posted.headers["Authorization"] == CALLBACK_AUTH
    assert posted.body == {
        "id": answer["id"],
        "source": CUSTOMER,
        "destination": BUSINESS,
        "content": answer["content"],
    }
    content = posted.body["content"]
    assert (content["type"], content["from"]) == (kind, CUSTOMER)
    assert content["id"].startswith("wamid.") and content["timestamp"].isdigit()
    assert abs(int(content["timestamp"]) - time.time()) < 5
    assert check(content)


def test_the_customer_edits_and_deletes_a_message_it_sent(sim: Simulator, receiver: Receiver) -> None:
    sent = customer_writes(sim, text="Deliver on Tuesday")

    edited = customer_writes(sim, type="edit", original_id=sent["id"], text="Deliver on Wednesday")
    deleted = customer_writes(sim, type="revoke", original_id=sent["id"])
    by_whatsapp_id = customer_writes(sim, type="revoke", original_id="wamid.ELSEWHERE")

    assert edited["content"]["edit"] == {
        "original_message_id": sent["content"]["id"],
        "message": {"type": "text", "text": {"body": "Deliver on Wednesday"}},
    }
    assert deleted["content"]["revoke"] == {"original_message_id": sent["content"]["id"]}
    assert by_whatsapp_id["content"]["revoke"] == {"original_message_id": "wamid.ELSEWHERE"}
    for answer in (edited, deleted):
        [posted] = receiver.posted("/mo", id=answer["id"])
        assert posted.body["content"] == answer["content"] and answer["content"]["id"] != sent["content"]["id"]


def test_mo_content_as_string_base64_and_capital_destination(sim: Simulator, receiver: Receiver) -> None:
    as_string = customer_writes(sim, text="one", content_as_string=True)
    encoded = customer_writes(sim, text="two", encoding="base64")
    capital = customer_writes(sim, text="three", destination_key="Destination", to="+6498765432")

    [string_body] = receiver.posted("/mo", id=as_string["id"])
    assert isinstance(string_body.body["content"], str)
    assert json.loads(string_body.body["content"]) == as_string["content"]
    [base64_body] = receiver.posted("/mo", id=encoded["id"])
    assert base64_body.body["encoding"] == "base64"
    assert json.loads(base64.b64decode(base64_body.body["content"])) == encoded["content"]
    [capital_body] = receiver.posted("/mo", id=capital["id"])
    assert capital_body.body["Destination"] == "+6498765432" and "destination" not in capital_body.body


def test_mo_with_raw_content_is_sent_as_is_and_retried(sim: Simulator, receiver: Receiver) -> None:
    raw = {
        "from": CUSTOMER,
        "id": "wamid.RAW",
        "timestamp": "1700000000",
        "type": "text",
        "text": {"body": "raw"},
        "surprise": {"nested": [1, 2]},
    }
    receiver.answer_next("/mo", 503)

    answer = customer_writes(sim, content=raw)

    assert answer["callback_status"] == 200
    assert [request.body["content"] for request in receiver.posted("/mo")] == [raw, raw]


def test_bad_control_requests_are_400(sim: Simulator) -> None:
    assert requests.post(sim.url + "/_sim/ids", json={"ids": "x"}).status_code == 400
    assert requests.post(sim.url + "/_sim/dlr", json={"status": "sent"}).status_code == 400
    assert requests.post(sim.url + "/_sim/mo", json=["text"]).status_code == 400
    assert requests.get(sim.url + "/_sim/nothing").status_code == 404
    assert requests.delete(sim.url + "/_sim/faults").status_code == 405


# --- lifecycle --------------------------------------------------------------------------------------------------------


def test_a_busy_port_is_a_clear_error_and_stop_closes_everything(receiver: Receiver) -> None:
    threads_before = set(threading.enumerate())
    simulator = Simulator(config_for(receiver.url)).start()
    kept_alive = requests.Session()
    assert kept_alive.get(simulator.url + "/_sim/faults").status_code == 200

    with pytest.raises(SimulatorError, match="already in use"):
        Simulator(config_for(receiver.url, port=simulator.port)).start()

    url = simulator.url
    simulator.stop()
    with pytest.raises(requests.ConnectionError):
        kept_alive.get(url + "/_sim/faults", timeout=1)
    wait_until(lambda: set(threading.enumerate()) - threads_before, lambda started: not started)


def test_only_loopback_is_allowed(receiver: Receiver) -> None:
    with pytest.raises(SimulatorError, match="loopback"):
        Simulator(config_for(receiver.url, host="0.0.0.0"))
    with pytest.raises(SimulatorError, match="loopback"):
        Simulator(config_for(receiver.url, dlr_url="http://u:p@example.com/dlr"))


# --- helpers ----------------------------------------------------------------------------------------------------------


def wait_until(read: Callable[[], Any], done: Callable[[Any], Any], timeout: float = 3) -> Any:
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        time.sleep(0.01)
    return value
