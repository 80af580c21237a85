"""Mangled callbacks and commands, made from valid ones by seeded random changes (wrong types, huge and odd strings,
missing and unknown keys, deep nesting): a callback is answered 2xx or 4xx, never 5xx, and the same again when it is
retried; a command ends in an event that tells its outcome, never in a crash or the dead-letter queue."""

import json
import random
from typing import Any

import pytest
import responses
from wab.models.inbound import MESSAGE_MODELS

from tests.integration.conftest import MESSAGE_ID
from tests.integration.test_sender import BASE_URL, broadcast_answer, text_command

CUSTOMER = "+64211234567"
ODD_VALUES: list[Any] = [
    None,
    "",
    0,
    -1,
    1e308,
    True,
    [],
    {},
    "x" * 70_000,
    "\u0000\ud7ff\U0001f600",
    "+6421" + "9" * 40,
    "wamid." + "A" * 500,
    "1795600000000000",
    "NaN",
    {"$ref": "x"},
]
MESSAGE_TYPES = [*MESSAGE_MODELS, "edit", "revoke", "no_such_type"]  # every type the models know, and others
MESSAGE_OBJECTS: list[Any] = [
    {"body": "hi"},
    {"id": "m1", "mime_type": "image/jpeg"},
    {"latitude": 1, "longitude": 2},
    {"message_id": "wamid.Y", "emoji": "x"},
    [{"name": {"formatted_name": "a"}}],
    {"type": "button_reply", "button_reply": {"id": "b", "title": "t"}},
]
COMMANDS: list[dict[str, Any]] = [
    text_command(),
    text_command(destination=["+64211110001", "+64211110002"]),
    {
        "destination": CUSTOMER,
        "type": "template",
        "template": {
            "name": "t",
            "language": {"code": "en"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "x"}]}],
        },
    },
    {"destination": CUSTOMER, "type": "image", "image": {"link": "https://example.com/a.jpg", "caption": "c"}},
    {"command": "media_upload", "bucket": "b", "key": "k"},
    {"command": "erase_contact", "contact": CUSTOMER},
    {"command": "update_catalogue", "templates": [{"name": "x", "language": "en", "category": "utility"}]},
    text_command(task_token="token", wait_for="delivered"),
    text_command(fallback_template={"name": "t", "language": {"code": "en"}}),
]


def mangle(value: Any, rnd: random.Random, depth: int = 0) -> Any:
    if isinstance(value, dict) and depth < 4:
        out = {key: mangle(item, rnd, depth + 1) if rnd.random() < 0.3 else item for key, item in value.items()}
        for key in [key for key in out if rnd.random() < 0.05]:
            del out[key]
        if rnd.random() < 0.2:
            out[rnd.choice(["type", "status", "errors", "context", "id", "timestamp", "__proto__"])] = rnd.choice(
                ODD_VALUES
            )
        return out
    if isinstance(value, list) and depth < 4:
        return [mangle(item, rnd, depth + 1) for item in value]
    return rnd.choice([*ODD_VALUES, [value, value], {"a": value}, str(value), value])


def mangled_callback(seed: int) -> tuple[str, Any]:
    rnd = random.Random(seed)
    if rnd.random() < 0.5:
        kind = rnd.choice(MESSAGE_TYPES)
        content = {"from": CUSTOMER, "id": f"wamid.{seed}", "timestamp": "1795600000", "type": kind}
        content[kind] = rnd.choice(MESSAGE_OBJECTS)
        route, body = "mo", {"id": f"m-{seed}", "source": CUSTOMER, "destination": "1234567890", "content": content}
    else:
        status = rnd.choice(["sent", "received", "read", "failed", "rejected", "expired", "deleted", "other"])
        route, body = "dlr", {"id": rnd.choice([MESSAGE_ID, f"x{seed}"]), "status": status, "error": {"code": 131026}}
    for _ in range(rnd.choice([1, 1, 2, 3])):
        body = mangle(body, rnd)
    return route, [body, body] if rnd.random() < 0.1 else body


def mangled_command(seed: int) -> Any:
    rnd = random.Random(seed)
    body: Any = rnd.choice(COMMANDS)
    for _ in range(rnd.choice([1, 1, 2])):
        body = mangle(body, rnd)
    return json.dumps(body)[: rnd.randint(0, 50)] if rnd.random() < 0.1 else body


@pytest.mark.parametrize("seed", range(60))
def test_a_mangled_callback_is_answered_without_a_server_error_and_the_same_when_retried(aws, post, seed):
    route, body = mangled_callback(seed)

    first, answer, _ = post(route, body)
    again, _, _ = post(route, body)

    assert first < 500, (first, answer)
    assert again // 100 == first // 100


@pytest.mark.parametrize("seed", range(40))
def test_a_mangled_command_is_told_its_outcome_and_never_crashes_the_send_path(sender, provider, seed):
    provider.add(responses.POST, f"{BASE_URL}/messages", status=202, json=[{"id": MESSAGE_ID, "status": "accepted"}])
    provider.add_callback(responses.POST, f"{BASE_URL}/messages/broadcast", callback=broadcast_answer)
    body = mangled_command(seed)

    sender.put(body)
    sender.run_until_empty()

    published = sender.published()
    failures = [event["detail"]["error"]["code"] for event in published if "error" in event["detail"]]
    assert "unprocessable" not in failures and not sender.dead_letters()
    assert published, "every command's outcome is published"
