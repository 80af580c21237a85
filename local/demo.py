"""`make demo`: the gateway's main job on the local stack, as a readable timeline; exits non-zero if a step fails.

A service asks for a WhatsApp message by putting `WhatsApp Send Requested` on the bus; the gateway sends it through
the provider (here the simulator), whose delivery reports move it to `sent` and `received`. The customer answers
with a text and an image, which arrive as `WhatsApp Message Received`; the service replies free-form inside the
24-hour window that answer opened. Finally the records are read back through the signed record API.
"""

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.client import Gateway
from local.stack import LocalStack

CUSTOMER = "+64211234567"
STEP_TIMEOUT = 20.0
STATE_DIR = Path(__file__).resolve().parents[1] / ".wab-local" / "demo"


class DemoFailed(Exception):
    pass


class Timeline:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.events: list[dict[str, Any]] = []

    def say(self, mark: str, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.2f}s] {mark} {text}", flush=True)

    def wait_for(self, gateway: Gateway, what: str, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        for event in gateway.events(timeout=STEP_TIMEOUT, until=matches):
            self.events.append(event)
            self.say("  ✓", describe(event))
            if matches(event):
                return event
        raise DemoFailed(f"no {what} within {STEP_TIMEOUT:.0f} s")


def describe(event: dict[str, Any]) -> str:
    detail, kind = event["detail"], event["detail-type"]
    if kind == "WhatsApp Message Status Changed":
        return f"{kind}: {detail['previous_status']} → {detail['status']}  (id {detail['message_id']})"
    if kind == "WhatsApp Message Received":
        text = f" {detail['text']!r}" if detail.get("text") else ""
        return f"{kind}: {detail['type']}{text} from {detail['source']}"
    if kind == "WhatsApp Message Accepted":
        return (
            f"{kind}: {detail['type']} to {detail['destination']}  "
            f"(id {detail['message_id']}, reference {detail.get('reference')})"
        )
    if kind == "WhatsApp Message Failed":
        return f"{kind}: {detail.get('error')}"
    return kind


def is_event(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event["detail-type"] == kind and all(event["detail"].get(k) == v for k, v in fields.items())


def send_and_follow(gateway: Gateway, timeline: Timeline, command: dict[str, Any], label: str) -> str:
    timeline.say("▶", f"a service puts 'WhatsApp Send Requested' on the bus: {label}")
    gateway.request("WhatsApp Send Requested", command, source="demo.shop")
    accepted = timeline.wait_for(
        gateway, "'WhatsApp Message Accepted'", is_event("WhatsApp Message Accepted", reference=command["reference"])
    )
    message_id = accepted["detail"]["message_id"]
    timeline.wait_for(
        gateway,
        "delivery to the handset",
        is_event("WhatsApp Message Status Changed", message_id=message_id, status="received"),
    )
    return message_id


def run(gateway: Gateway, timeline: Timeline) -> None:
    first = send_and_follow(
        gateway,
        timeline,
        {
            "destination": CUSTOMER,
            "type": "template",
            "template": {
                "name": "order_shipped",
                "language": {"code": "en"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "1042"}]}],
            },
            "reference": "order-1042-shipped",
        },
        f"template 'order_shipped' to {CUSTOMER}",
    )

    timeline.say("▶", "the customer replies with a text")
    gateway.simulate(
        "/_sim/mo", {"type": "text", "from": CUSTOMER, "text": "Thanks! Can I change the delivery address?"}
    )
    timeline.wait_for(gateway, "the customer's text", is_event("WhatsApp Message Received", type="text"))
    timeline.say("▶", "and a photo of the parcel")
    gateway.simulate("/_sim/mo", {"type": "image", "from": CUSTOMER})
    timeline.wait_for(gateway, "the customer's image", is_event("WhatsApp Message Received", type="image"))

    reply = send_and_follow(
        gateway,
        timeline,
        {
            "destination": CUSTOMER,
            "type": "text",
            "text": {"body": "Of course — reply with the new address."},
            "reference": "order-1042-reply",
        },
        "a free-form text reply, inside the 24-hour window the customer just opened",
    )

    timeline.say("▶", "reading the records back through the record API (SigV4-signed)")
    for message_id in (first, reply):
        status, record = gateway.get_message(message_id)
        if status != 200 or record["status"] != "received":
            raise DemoFailed(f"GET /messages/{message_id} answered {status}: {record}")
        history = " → ".join(entry["status"] for entry in record["status_history"])
        timeline.say("  ✓", f"GET /messages/{message_id}: {record['type']} to {record['destination']}, {history}")
    status, page = gateway.list_messages(contact=CUSTOMER)
    if status != 200 or len(page["items"]) != 4:
        raise DemoFailed(
            f"GET /contacts/{CUSTOMER}/messages answered {status} with {len(page.get('items', []))} records, expected 4"
        )
    timeline.say(
        "  ✓",
        f"GET /contacts/{CUSTOMER}/messages: "
        + ", ".join(f"{item['direction']} {item['type']}" for item in page["items"]),
    )


def main() -> int:
    timeline = Timeline()
    timeline.say("▶", "starting the local stack (AWS emulation, HTTP API, sender, provider simulator)")
    try:
        with LocalStack(api_port=0, aws_port=0, simulator_port=0, state_dir=STATE_DIR) as stack:
            timeline.say("  ✓", f"ready: API {stack.info['api_url']}, simulator {stack.info['simulator_url']}")
            gateway = Gateway(stack.info)
            try:
                run(gateway, timeline)
            finally:
                timeline.say("▶", "stopping the local stack")
    except DemoFailed as failure:
        timeline.say("✗", f"demo failed: {failure} (logs in {STATE_DIR / 'logs'})")
        return 1
    print(f"\n{len(timeline.events)} events published by the gateway:")
    for event in timeline.events:
        print(f"  {event['time']}  {event['detail-type']:<34} {event['detail'].get('message_id', '')}")
    timeline.say("✓", "demo passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
