"""`./wab`: send, read and watch WhatsApp messages through a running gateway (local stack or deployed stack).

    ./wab send +64211234567 "Hello"                       free-form text (inside the 24-hour window)
    ./wab send +64211234567 --template order_shipped --param 1042
    ./wab broadcast +64211234567 +64211234568 --template spring_sale --reference spring   one message to many
    ./wab get <message id>                                the record, from the record API
    ./wab list --contact +64211234567                     a contact's records, newest first
    ./wab tail                                            print the gateway's events as they come (local stack)
    ./wab mo text "Hi there" --from +64211234567          the simulated customer writes (local stack)
    ./wab templates put catalogue.json [--wait 10]        run-time entries of the template catalogue
    ./wab dlq list | show <id> | redrive [<id>]           what is in the dead-letter queue, and sending it back

By default it talks to the local stack (`.wab-local/stack.json`, written by `make local`); `--stack NAME
--region REGION` talks to a deployed stack through its CloudFormation outputs and your AWS credentials.
"""

import argparse
import json
import sys
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import NoCredentialsError

from local.client import Gateway, StackUnavailable, use_layer

STILL_IN_FLIGHT = 3  # `send --wait`: no final status yet, which is not a failure


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
    _message_arguments(send)
    send.add_argument(
        "--wait",
        type=float,
        default=0,
        help="seconds to follow the message to a final status "
        f"(exit 0 delivered, 1 failed, {STILL_IN_FLIGHT} neither yet)",
    )

    broadcast = commands.add_parser(
        "broadcast", help="ask the gateway to send one message to many (puts 'WhatsApp Broadcast Requested' on the bus)"
    )
    broadcast.add_argument("destination", nargs="+", help="E.164 numbers")
    broadcast.add_argument("--text", help="text body (free-form message)")
    _message_arguments(broadcast)

    get = commands.add_parser("get", help="read one message record")
    get.add_argument("message_id")

    listing = commands.add_parser("list", help="list records by contact or reference, newest first")
    group = listing.add_mutually_exclusive_group(required=True)
    group.add_argument("--contact")
    group.add_argument("--reference")
    listing.add_argument("--limit", default="20")
    listing.add_argument("--cursor")

    report = commands.add_parser("report", help="a campaign's summary: counts by status and failure code, rates")
    report.add_argument("reference")

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

    templates = commands.add_parser("templates", help="the template catalogue's run-time entries")
    templates.add_argument("action", choices=["put"])
    templates.add_argument("file", type=Path, help='a catalogue document: {"templates": [...]} (docs/templates.md)')
    templates.add_argument(
        "--wait",
        type=float,
        default=0,
        help=f"seconds to wait for the gateway to apply it (exit 0 applied, 1 refused, {STILL_IN_FLIGHT} neither yet)",
    )

    dlq = commands.add_parser("dlq", help="the dead-letter queue: what crashed the gateway, and sending it back")
    dlq.add_argument("action", choices=["list", "show", "redrive"])
    dlq.add_argument("message_id", nargs="?", help="one message (show, redrive); redrive without it: all")

    args = parser.parse_args(argv)
    try:
        gateway = Gateway.deployed(args.stack, args.region) if args.stack else Gateway.local()
        return COMMANDS[args.command](gateway, args)
    except StackUnavailable as stopped:
        print(stopped, file=sys.stderr)
        return 2
    except NoCredentialsError:
        print(f"no AWS credentials for stack {args.stack}: configure a profile or AWS_* variables", file=sys.stderr)
        return 2


def _message_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", help="template name (instead of text)")
    parser.add_argument("--language", default="en", help="template language code")
    parser.add_argument("--param", action="append", default=[], help="template body parameter (repeatable)")
    parser.add_argument("--reference", help="your reference (default: a new uuid)")


def _command(args: argparse.Namespace) -> dict[str, Any] | None:
    """The command's message and reference from the arguments; None (and a line on stderr) without a message."""
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
        return None
    return command


def command_broadcast(gateway: Gateway, args: argparse.Namespace) -> int:
    command = _command(args)
    if command is None:
        return 2
    event_id = gateway.request("WhatsApp Broadcast Requested", command)
    print(json.dumps({"event_id": event_id, "reference": command["reference"]}))
    print(f"follow it with ./wab report {command['reference']}", file=sys.stderr)
    return 0


def command_send(gateway: Gateway, args: argparse.Namespace) -> int:
    command = _command(args)
    if command is None:
        return 2
    reference = command["reference"]
    if not args.wait:
        event_id = gateway.request("WhatsApp Send Requested", command)
        print(json.dumps({"event_id": event_id, "reference": reference}))
        return 0
    outcome = _request_and_follow(gateway, "WhatsApp Send Requested", command, args.wait, _outcome)
    if outcome is not None:
        return outcome
    print(
        f"no final status within {args.wait:g} s: the message may still be on its way (retried, or waiting for its"
        f" status); follow it with ./wab report {reference}",
        file=sys.stderr,
    )
    return STILL_IN_FLIGHT


def _request_and_follow(
    gateway: Gateway,
    detail_type: str,
    detail: dict[str, Any],
    wait: float,
    outcome: Callable[[dict[str, Any]], int | None],
    **shown: Any,
) -> int | None:
    """Put the request on the bus and print the gateway's events under its `reference` until `outcome` says one is
    final: that exit code; None when none is within `wait` seconds. The request's own subscription is made before
    it: nothing is missed, and nobody else's events are taken."""
    reference = detail["reference"]
    with gateway.subscription({"source": ["wab.gateway"], "detail": {"reference": [reference]}}) as events:
        event_id = gateway.request(detail_type, detail)
        print(json.dumps({"event_id": event_id, **shown, "reference": reference}))
        for event in events(wait):
            print(dumps(event["detail"] | {"detail-type": event["detail-type"]}))
            if (code := outcome(event)) is not None:
                return code
    return None


def _outcome(event: dict[str, Any]) -> int | None:
    """0 once the message is delivered (or read, which WhatsApp may report first), 1 once it failed, was rejected or
    expired; None while it is on its way."""
    status = event["detail"].get("status")
    if event["detail-type"] == "WhatsApp Message Failed" or status in ("rejected", "expired"):
        return 1
    return 0 if status in ("received", "read") else None


def command_get(gateway: Gateway, args: argparse.Namespace) -> int:
    status, body = gateway.get_message(args.message_id)
    print(dumps(body, indent=2))
    return 0 if status == 200 else 1


def command_list(gateway: Gateway, args: argparse.Namespace) -> int:
    page = {key: value for key, value in {"limit": args.limit, "cursor": args.cursor}.items() if value}
    status, body = gateway.list_messages(contact=args.contact, reference=args.reference, **page)
    print(dumps(body, indent=2))
    return 0 if status == 200 else 1


def command_report(gateway: Gateway, args: argparse.Namespace) -> int:
    status, body = gateway.reference_summary(args.reference)
    print(dumps(body, indent=2))
    if status == 200 and isinstance(body, dict) and body.get("first_at") is None:  # zeros, not a campaign of zeros
        print("nothing has been counted under this reference (yet)", file=sys.stderr)
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
    answer = gateway.simulate("/_sim/mo", body)
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    status = answer.get("callback_status")
    if not isinstance(status, int) or not 200 <= status < 300:  # the gateway did not take it (or was not called)
        print(f"the gateway answered the MO callback with {status}", file=sys.stderr)
        return 1
    return 0


def command_templates(gateway: Gateway, args: argparse.Namespace) -> int:
    """Check the document as the gateway will (one bad entry refuses it whole, and the gateway can say so only in a
    `Failed` event, later), then put it on the bus."""
    use_layer()
    from pydantic import ValidationError
    from wab.models.commands import CatalogueUpdateCommand

    try:
        document = json.loads(args.file.read_text(encoding="utf-8"))
        CatalogueUpdateCommand.model_validate({"templates": document["templates"]})
    except (KeyError, TypeError):
        print(f'{args.file}: expected {{"templates": [...]}}', file=sys.stderr)
        return 2
    except (OSError, ValueError, ValidationError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    if not args.wait:
        event_id = gateway.request("WhatsApp Template Catalogue Updated", {"templates": document["templates"]})
        print(json.dumps({"event_id": event_id, "templates": len(document["templates"])}))
        return 0
    update = {"templates": document["templates"], "reference": f"templates-{uuid.uuid4().hex[:12]}"}
    outcome = _request_and_follow(
        gateway,
        "WhatsApp Template Catalogue Updated",
        update,
        args.wait,
        lambda event: 0 if event["detail-type"] == "WhatsApp Template Catalogue Applied" else 1,
        templates=len(document["templates"]),
    )
    if outcome is not None:
        return outcome
    print(f"not applied within {args.wait:g} s: the update may still be on its way", file=sys.stderr)
    return STILL_IN_FLIGHT


LISTED = ("id", "sqs_message_id", "queue", "reason", "sent_at", "command")  # what `dlq list` shows of each


def command_dlq(gateway: Gateway, args: argparse.Namespace) -> int:
    if args.action == "redrive" and args.message_id is None:
        redriven = []
        for letter in gateway.redrive_all():  # batch by batch: a FIFO queue shows a group's next ones only then
            redriven.append(letter["id"])
            print(json.dumps({"redriven": letter["id"], "command": without_token(letter)["command"]}))
        if not redriven:
            print("the dead-letter queue is empty", file=sys.stderr)
        return 0
    letters = gateway.dead_letters()
    if args.action == "list":
        for letter in map(without_token, letters):
            print(json.dumps({key: letter[key] for key in LISTED}))
        if not letters:
            print("the dead-letter queue is empty", file=sys.stderr)
        if (behind := gateway.dead_letters_waiting() - len(letters)) > 0:
            print(
                f"{behind} more wait behind these: a FIFO queue shows a group's next messages only once the ones "
                "before them are gone (`dlq redrive` without an id takes them all)",
                file=sys.stderr,
            )
        return 0
    chosen = [letter for letter in letters if args.message_id in (None, letter["id"])]
    if args.message_id and not chosen:
        print(f"no message {args.message_id} in the dead-letter queue", file=sys.stderr)
        return 1
    if args.action == "show":
        if not chosen:
            print("the dead-letter queue is empty", file=sys.stderr)
            return 1
        print(dumps({key: value for key, value in without_token(chosen[0]).items() if key != "receipt"}, indent=2))
        return 0
    for letter in chosen:
        gateway.redrive(letter)  # as it was, token included: the gateway tells that task if it still waits
        print(json.dumps({"redriven": letter["id"], "command": without_token(letter)["command"]}))
    return 0


def without_token(letter: dict[str, Any]) -> dict[str, Any]:
    """A dead letter as shown: a Step Functions task token is a secret, so it is shown as "…" (docs/workflows.md)."""
    command = letter.get("command")
    if not isinstance(command, dict):
        return letter
    token = command.get("task_token")
    if not isinstance(token, str) or not token:
        return letter
    return {**letter, "command": {**command, "task_token": "…"}, "body": letter["body"].replace(token, "…")}


def dumps(value: Any, indent: int | None = None) -> str:
    """JSON with decimals written with exactly their digits (json.dumps would round them through float)."""
    placeholders: dict[str, str] = {}

    def keep(number: Any) -> str:
        if isinstance(number, Decimal):
            token = f"@@{len(placeholders)}@@"
            placeholders[f'"{token}"'] = str(number)
            return token
        raise TypeError(f"{type(number).__name__} is not JSON")

    text = json.dumps(_decimals_as_tokens(value, keep), indent=indent, ensure_ascii=False)
    for token, number in placeholders.items():
        text = text.replace(token, number)
    return text


def _decimals_as_tokens(value: Any, keep: Any) -> Any:
    if isinstance(value, Decimal):
        return keep(value)
    if isinstance(value, dict):
        return {key: _decimals_as_tokens(child, keep) for key, child in value.items()}
    if isinstance(value, list):
        return [_decimals_as_tokens(child, keep) for child in value]
    return value


COMMANDS = {
    "send": command_send,
    "broadcast": command_broadcast,
    "get": command_get,
    "list": command_list,
    "report": command_report,
    "tail": command_tail,
    "mo": command_mo,
    "templates": command_templates,
    "dlq": command_dlq,
}

if __name__ == "__main__":
    sys.exit(main())
