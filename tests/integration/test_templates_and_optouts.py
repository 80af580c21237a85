"""Templates checked against the catalogue and opt-outs honoured before the provider is called, on the whole send
path against moto (intake, lanes, sender) and a recorded provider."""

import json
from datetime import UTC, datetime
from typing import Any

import responses

from tests.integration.conftest import MESSAGE_ID
from tests.integration.test_sender import BASE_URL, broadcast_answer, details, recipients

CUSTOMER = "+64211234567"
SALE = {"name": "spring_sale", "language": "en", "category": "marketing", "body": {"parameters": 1}}
SHIPPED = {"name": "order_shipped", "language": "en", "category": "utility", "body": {"parameters": 1}}


def template_send(name: str, *parameters: str, destination: Any = CUSTOMER, **fields: Any) -> dict[str, Any]:
    components = (
        [{"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}] if parameters else []
    )
    return {
        "destination": destination,
        "type": "template",
        "template": {"name": name, "language": {"code": "en"}, "components": components},
        **fields,
    }


def catalogue(sender, *specs: dict[str, Any]) -> None:
    sender.put({"command": "update_catalogue", "templates": list(specs)})
    assert sender.route() == [{"batchItemFailures": []}]


def accepted_answer(*_: Any) -> tuple[int, dict, str]:
    return 202, {}, json.dumps([{"id": MESSAGE_ID, "status": "accepted"}])


def failure_codes(sender) -> list[tuple[str | None, str]]:
    return [
        (event.get("destination"), event["error"]["code"])
        for event in details(sender.published(), "WhatsApp Message Failed")
    ]


def test_a_catalogue_update_is_confirmed_once_applied_and_a_bad_one_refused_whole(sender):
    """Whoever asked is told: the entries the catalogue now holds, or why none of them were taken."""
    sender.put(
        {"command": "update_catalogue", "templates": [SALE, SHIPPED], "reference": "sync-42"},
        {"command": "update_catalogue", "templates": [SHIPPED, {**SALE, "category": "promotional"}]},
    )

    assert sender.route() == [{"batchItemFailures": []}]

    published = sender.published()
    [applied] = details(published, "WhatsApp Template Catalogue Applied")
    assert applied["templates"] == [
        {"name": "spring_sale", "language": "en"},
        {"name": "order_shipped", "language": "en"},
    ]
    assert (applied["reference"], applied["requested_by"]) == ("sync-42", "queue")
    [refused] = details(published, "WhatsApp Message Failed")
    assert (refused["command"], refused["error"]["code"]) == ("update_catalogue", "invalid_command")


def test_under_enforce_an_unknown_template_or_wrong_parameters_fail_before_the_provider(sender, provider):
    sender.configure(TEMPLATE_POLICY="enforce")
    catalogue(sender, SHIPPED)
    sender.put(template_send("no_such_template", "1"), template_send("order_shipped"))

    sender.run_until_empty()

    assert len(provider.calls) == 0
    failed = details(sender.published(), "WhatsApp Message Failed")
    assert [event["error"]["code"] for event in failed] == ["template_not_found", "template_parameters"]
    assert failed[1]["error"]["message"] == "body: expected 1 parameter, got 0"


def test_under_warn_a_mismatch_is_sent_and_only_logged(sender, provider):
    provider.add_callback(responses.POST, f"{BASE_URL}/messages", callback=accepted_answer)
    catalogue(sender, SHIPPED)
    sender.put(template_send("order_shipped"))

    sender.run_until_empty()

    assert len(provider.calls) == 1
    assert details(sender.published(), "WhatsApp Message Accepted")


def test_a_broadcast_with_a_bad_template_fails_once_and_no_recipient_is_sent(sender, provider):
    sender.configure(TEMPLATE_POLICY="enforce", BROADCAST_CHUNK_SIZE="2")
    catalogue(sender, SALE)
    sender.put(template_send("spring_sale", destination=recipients(7), reference="promo-bad"))

    assert sender.route() == [{"batchItemFailures": []}]

    assert sender.visible() == 0 and len(provider.calls) == 0
    [failed] = details(sender.published(), "WhatsApp Message Failed")
    assert (failed["command"], failed["reference"], failed["error"]["code"]) == (
        "broadcast",
        "promo-bad",
        "template_parameters",
    )


def test_a_template_whatsapp_refuses_is_marked_rejected_once_and_the_next_send_fails_fast(sender, provider):
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=400,
        json={"error": "(#132001) Template name does not exist in the translation", "message": "x", "statusCode": 400},
    )
    sender.put(template_send("order_shipped", "1"), template_send("order_shipped", "2"))  # policy warn, no catalogue

    sender.run_until_empty()
    sender.put(template_send("order_shipped", "3"))
    sender.run_until_empty()

    assert len(provider.calls) == 1  # the second and third were refused before the call
    published = sender.published()
    [rejected] = details(published, "WhatsApp Template Rejected")
    assert (rejected["name"], rejected["language"], rejected["code"]) == ("order_shipped", "en", "132001")
    assert [event["error"]["code"] for event in details(published, "WhatsApp Message Failed")] == [
        "132001",
        "template_not_found",
        "template_not_found",
    ]

    catalogue(sender, SHIPPED)  # approved now: the catalogue says so (containers read it again within a minute)
    sender.configure()
    provider.replace(
        responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}]
    )
    sender.put(template_send("order_shipped", "4"))
    sender.run_until_empty()
    assert len(provider.calls) == 2


def test_a_contact_who_stopped_marketing_gets_no_marketing_but_still_gets_utility(sender, provider):
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=400,
        json={"error": "(#131050) User has stopped marketing messages", "message": "x", "statusCode": 400},
    )
    provider.add_callback(responses.POST, f"{BASE_URL}/messages", callback=accepted_answer)
    catalogue(sender, SALE, SHIPPED)
    sender.put(template_send("spring_sale", "20%"))
    sender.run_until_empty()
    [opted_out] = details(sender.published(), "WhatsApp Contact Opted Out")
    assert (opted_out["reason"], opted_out["destination"]) == ("131050", CUSTOMER)

    sender.put(
        template_send("spring_sale", "30%"),  # marketing by the catalogue's category
        {"destination": CUSTOMER, "type": "text", "text": {"body": "new arrivals"}, "category": "marketing"},
        template_send("spring_sale", "40%", category="utility"),  # a command's word does not overrule the catalogue
        template_send("order_shipped", "1042"),  # utility: still reaches them
    )
    sender.configure(WINDOW_POLICY="off")
    sender.run_until_empty()

    assert len(provider.calls) == 2
    published = sender.published()
    assert [event["error"]["code"] for event in details(published, "WhatsApp Message Failed")] == ["opted_out"] * 3
    assert details(published, "WhatsApp Contact Opted Out") == []  # told once
    assert len(details(published, "WhatsApp Message Accepted")) == 1


def test_a_marketing_broadcast_skips_opted_out_recipients_each_reported(sender, provider):
    from wab.optouts import OptOuts

    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=broadcast_answer)
    catalogue(sender, SALE)
    numbers = recipients(4)
    for number in numbers[1:3]:
        OptOuts(sender.aws.table_name).record(number, opted_out=True, reason="keyword", at="2026-11-30T00:00:00Z")
    sender.put(template_send("spring_sale", "20%", destination=numbers))

    sender.run_until_empty()

    [call] = provider.calls
    assert json.loads(call.request.body)["destination"] == [numbers[0], numbers[3]]
    assert sorted(failure_codes(sender)) == [(numbers[1], "opted_out"), (numbers[2], "opted_out")]


def test_a_broadcast_call_refused_as_stopped_marketing_opts_out_only_the_recipient_it_was_for(sender, provider):
    """Refused as a whole, a call to many does not say which of them stopped marketing: the call is split until it
    does, and only that recipient is recorded."""
    from wab.optouts import OptOuts

    numbers = recipients(3)

    def answer(request: Any) -> tuple[int, dict, str]:
        if numbers[1] in json.loads(request.body)["destination"]:
            return (
                400,
                {},
                json.dumps({"error": "(#131050) User has stopped marketing", "message": "x", "statusCode": 400}),
            )
        return broadcast_answer(request)

    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=answer)
    catalogue(sender, SALE)
    sender.put(template_send("spring_sale", "20%", destination=numbers))

    sender.run_until_empty()

    [opted_out] = details(sender.published(), "WhatsApp Contact Opted Out")
    assert opted_out["destination"] == numbers[1]
    assert OptOuts(sender.aws.table_name).opted_out(numbers) == {numbers[1]}


def test_the_per_user_marketing_limit_is_retried_later_never_final(sender, provider):
    provider.add(
        responses.POST,
        f"{BASE_URL}/messages",
        status=400,
        json={
            "error": "(#131049) This message was not delivered to maintain healthy ecosystem engagement.",
            "message": "x",
            "statusCode": 400,
        },
    )
    sender.put(template_send("spring_sale", "20%", category="marketing"))

    result = sender.run()

    assert len(result["batchItemFailures"]) == 1 and sender.visibility_changes
    assert details(sender.published(), "WhatsApp Message Failed") == []


def keyword_mo(text: str, message_id: str, timestamp: int = 1795600000) -> dict[str, Any]:
    content = {"from": CUSTOMER, "id": f"wamid.{message_id}", "timestamp": str(timestamp), "type": "text"}
    return {
        "id": message_id,
        "source": CUSTOMER,
        "destination": "1234567890",
        "content": {**content, "text": {"body": text}},
    }


def test_a_customer_who_writes_stop_gets_no_marketing_until_they_write_start(sender, provider, post):
    provider.add_callback(responses.POST, f"{BASE_URL}/messages", callback=accepted_answer)
    catalogue(sender, SALE)

    assert post("mo", keyword_mo("Stop!", "mo-1"))[0] == 200
    assert post("mo", keyword_mo("Stop!", "mo-1"))[0] == 200  # the provider's retry
    assert post("mo", keyword_mo("STOP", "mo-2"))[0] == 200  # said again: no news
    assert post("mo", keyword_mo("stop sending me the wrong size", "mo-3"))[0] == 200  # not a keyword
    published = sender.published()
    [opted_out] = details(published, "WhatsApp Contact Opted Out")
    assert (opted_out["reason"], opted_out["destination"]) == ("keyword", CUSTOMER)
    assert len(details(published, "WhatsApp Message Received")) == 3  # the keywords are messages too

    sender.put(template_send("spring_sale", "20%"))
    sender.run_until_empty()
    assert len(provider.calls) == 0
    assert failure_codes(sender) == [(CUSTOMER, "opted_out")]

    assert post("mo", keyword_mo("start", "mo-4"))[0] == 200
    [opted_in] = details(sender.published(), "WhatsApp Contact Opted In")
    assert opted_in["reason"] == "keyword"
    sender.put(template_send("spring_sale", "20%"))
    sender.run_until_empty()
    assert len(provider.calls) == 1


def test_the_customer_s_latest_word_stands_whatever_order_the_provider_delivers_in(sender, provider, post):
    """STOP written after START, delivered before it (the provider retries, reorders): the contact stays opted out."""
    provider.add_callback(responses.POST, f"{BASE_URL}/messages", callback=accepted_answer)
    catalogue(sender, SALE)

    assert post("mo", keyword_mo("STOP", "mo-2", timestamp=1795600010))[0] == 200
    assert post("mo", keyword_mo("START", "mo-1", timestamp=1795600000))[0] == 200  # written first, delivered late
    published = sender.published()
    assert len(details(published, "WhatsApp Contact Opted Out")) == 1
    assert details(published, "WhatsApp Contact Opted In") == []

    sender.put(template_send("spring_sale", "20%"))
    sender.run_until_empty()
    assert len(provider.calls) == 0
    assert failure_codes(sender) == [(CUSTOMER, "opted_out")]


def test_a_message_time_ahead_of_now_opens_the_window_from_now_only(sender, post, aws):
    ahead = int(datetime.now(UTC).timestamp()) + 400 * 86400
    before = datetime.now(UTC)

    assert post("mo", keyword_mo("hello", "mo-1", timestamp=ahead))[0] == 200

    window = aws.item(f"CONTACT#{CUSTOMER}")["last_inbound_at"]
    assert before.isoformat()[:16] <= window[:16] <= datetime.now(UTC).isoformat()[:16]  # now, not 400 days on


def test_start_from_a_contact_who_never_opted_out_is_no_news(sender, post):
    assert post("mo", keyword_mo("START", "mo-1"))[0] == 200
    assert details(sender.published(), "WhatsApp Contact Opted In") == []


def test_the_keywords_are_configurable(sender, post, monkeypatch, callbacks):
    monkeypatch.setenv("OPT_OUT_KEYWORDS", "arrêt,baja")
    callbacks.dependencies.cache_clear()
    from wab.settings import load

    load.cache_clear()
    assert post("mo", keyword_mo("ARRET", "mo-1"))[0] == 200
    assert post("mo", keyword_mo("STOP", "mo-2"))[0] == 200
    assert len(details(sender.published(), "WhatsApp Contact Opted Out")) == 1
