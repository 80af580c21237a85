"""`./wab`: send, read and watch WhatsApp messages through a running gateway (local stack or deployed stack).

    ./wab send +64211234567 "Hello"                       free-form text (inside the 24-hour window)
    ./wab send +64211234567 --template order_shipped --param 1042
    ./wab get <message id>                                the record, from the record API
    ./wab list --contact +64211234567                     a contact's records, newest first
    ./wab tail                                            print the gateway's events as they come (local stack)
    ./wab mo text "Hi there" --from +64211234567          the simulated customer writes (local stack)

By default it talks to the local stack (`.wab-local/stack.json`, written by `make local`); `--stack NAME
--region REGION` talks to a deployed stack through its CloudFormation outputs and your AWS credentials.
"""

import argparse
import json
import sys
import uuid
from typing import Any

from local.client import Gateway


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="wab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", help="deployed stack name (default: the local stack)")
    parser.add_argument("--region", default="eu-west-1", help="region of the deployed stack")
    commands = parser.add_subparsers(dest="command", required=True)

    send = commands.add_parser(
        "send", help="ask the gateway to send a message (puts 'WhatsApp Send Requested' on the bus)"
    )
    send.add_argument("destination", help="E.164 number, e.g. +64211234567")
    send.add_argument("text", nargs="?", help="text body (free-form message)")
    send.add_argument("--template", help="template name (instead of text)")
    send.add_argument("--language", default="en", help="template language code")
    send.add_argument("--param", action="append", default=[], help="template body parameter (repeatable)")
    send.add_argument("--reference", help="your reference (default: a new uuid)")
    send.add_argument("--wait", type=float, default=0, help="seconds to follow the message's events (local stack)")

    get = commands.add_parser("get", help="read one message record")
    get.add_argument("message_id")

    listing = commands.add_parser("list", help="list records by contact or reference, newest first")
    group = listing.add_mutually_exclusive_group(required=True)
    group.add_argument("--contact")
    group.add_argument("--reference")
    listing.add_argument("--limit", default="20")
    listing.add_argument("--cursor")

    tail = commands.add_parser("tail", help="print the gateway's events as they arrive (local stack)")
    tail.add_argument("--seconds", type=float, default=3600, help="stop after this long")

    mo = commands.add_parser("mo", help="the simulated customer sends an inbound message (local stack)")
    mo.add_argument(
        "type",
        help="text, image, video, audio, document, sticker, location, contacts, interactive, button, reaction, order, "
        "system, …",
    )
    mo.add_argument("text", nargs="?", help="text body for type text")
    mo.add_argument("--from", dest="sender", default="+64211234567", help="customer number")

    args = parser.parse_args(argv)
    gateway = Gateway.deployed(args.stack, args.region) if args.stack else Gateway.local()
    return COMMANDS[args.command](gateway, args)


def command_send(gateway: Gateway, args: argparse.Namespace) -> int:
    command: dict[str, Any] = {"destination": args.destination, "reference": args.reference or str(uuid.uuid4())}
    if args.template:
        parameters = [{"type": "text", "text": value} for value in args.param]
        command.update(
            type="template",
            template={
                "name": args.template,
                "language": {"code": args.language},
                "components": [{"type": "body", "parameters": parameters}] if parameters else [],
            },
        )
    elif args.text:
        command.update(type="text", text={"body": args.text})
    else:
        print("give a text or --template", file=sys.stderr)
        return 2
    event_id = gateway.request("WhatsApp Send Requested", command)
    print(json.dumps({"event_id": event_id, "reference": command["reference"]}))
    if args.wait:
        final = {"received", "rejected", "expired"}
        for event in gateway.events(timeout=args.wait, until=lambda e: _is_final(e, command["reference"], final)):
            if event["detail"].get("reference") == command["reference"]:
                print(json.dumps(event["detail"] | {"detail-type": event["detail-type"]}, ensure_ascii=False))
    return 0


def _is_final(event: dict[str, Any], reference: str, final: set[str]) -> bool:
    detail = event["detail"]
    if detail.get("reference") != reference:
        return False
    return event["detail-type"] == "WhatsApp Message Failed" or detail.get("status") in final


def command_get(gateway: Gateway, args: argparse.Namespace) -> int:
    status, body = gateway.get_message(args.message_id)
    print(json.dumps(body, indent=2, ensure_ascii=False))
    return 0 if status == 200 else 1


def command_list(gateway: Gateway, args: argparse.Namespace) -> int:
    query = {
        key: value
        for key, value in {
            "contact": args.contact,
            "reference": args.reference,
            "limit": args.limit,
            "cursor": args.cursor,
        }.items()
        if value
    }
    status, body = gateway.list_messages(**query)
    print(json.dumps(body, indent=2, ensure_ascii=False))
    return 0 if status == 200 else 1


def command_tail(gateway: Gateway, args: argparse.Namespace) -> int:
    try:
        for event in gateway.events(timeout=args.seconds):
            print(
                json.dumps(
                    {"time": event["time"], "detail-type": event["detail-type"], "detail": event["detail"]},
                    ensure_ascii=False,
                ),
                flush=True,
            )
    except KeyboardInterrupt:
        pass
    return 0


def command_mo(gateway: Gateway, args: argparse.Namespace) -> int:
    body = {"type": args.type, "from": args.sender}
    if args.text:
        body["text"] = args.text
    print(json.dumps(gateway.simulate("/_sim/mo", body), indent=2, ensure_ascii=False))
    return 0


COMMANDS = {"send": command_send, "get": command_get, "list": command_list, "tail": command_tail, "mo": command_mo}

if __name__ == "__main__":
    sys.exit(main())
