"""A small client of a running gateway, local or deployed, for people (the `wab` CLI), the demo and e2e tests.

It speaks to the gateway only through its public interfaces: EventBridge for commands, the signed record API, an
SQS queue subscribed to the gateway's events, and (locally) the provider simulator's `/_sim` endpoints.
"""

import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from wab.lanes import Request

    from local.aws import AwsService

PROJECT_DIR = Path(__file__).resolve().parents[1]
STACK_JSON = PROJECT_DIR / ".wab-local" / "stack.json"
LAYER_DIR = PROJECT_DIR / "layers" / "wab"
CLIENT_SOURCE = "wab.cli"
OUTPUT_KEYS = {
    "ApiUrl": "api_url",
    "EventBusName": "event_bus_name",
    "MessagesTableName": "table_name",
    "SendQueueUrl": "send_queue_url",
    "SendDeadLetterQueueUrl": "dlq_url",
    "PriorityLaneUrl": "priority_lane_url",
    "BulkLaneUrl": "bulk_lane_url",
    "MediaBucketName": "media_bucket",
}
# The local stack's moto accepts any credentials: the client needs none of the user's.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local-testing", "aws_secret_access_key": "local-testing"}


class StackUnavailable(SystemExit):
    """The stack asked for cannot do this: not running, not found, or without the local stack's own parts."""


class Gateway:
    def __init__(self, info: dict[str, Any]):
        self.info = info
        credentials = LOCAL_CREDENTIALS if "aws_endpoint_url" in info else {}
        self.session = boto3.session.Session(
            region_name=info["region"],
            aws_access_key_id=credentials.get("aws_access_key_id"),
            aws_secret_access_key=credentials.get("aws_secret_access_key"),
        )
        self.http = requests.Session()

    @classmethod
    def local(cls, path: Path | None = None) -> "Gateway":
        """The local stack that `.wab-local/stack.json` describes (or WAB_STACK_JSON, or the stack.json in the
        WAB_STATE_DIR that `make local` was given)."""
        state_dir = os.environ.get("WAB_STATE_DIR")
        path = path or Path(
            os.environ.get("WAB_STACK_JSON") or (Path(state_dir) / "stack.json" if state_dir else STACK_JSON)
        )
        if not path.exists():
            raise StackUnavailable(f"the local stack is not running ({path} not found): start it with `make local`")
        info = json.loads(path.read_text())
        if not _answers(info.get("api_url", "")):
            raise StackUnavailable(
                f"the local stack is not running ({path} is left from a stack that stopped): start it with `make local`"
            )
        return cls(info)

    @classmethod
    def deployed(cls, stack_name: str, region: str) -> "Gateway":
        try:
            stacks = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack_name)
        except ClientError as exc:  # the stack does not exist there, or these credentials may not see it
            raise StackUnavailable(f"stack {stack_name} in {region}: {exc.response['Error']['Message']}") from None
        outputs = stacks["Stacks"][0].get("Outputs", [])
        info = {"region": region}
        info.update(
            {
                OUTPUT_KEYS[output["OutputKey"]]: output["OutputValue"]
                for output in outputs
                if output["OutputKey"] in OUTPUT_KEYS
            }
        )
        return cls(info)

    def client(self, service: "AwsService") -> Any:
        return self.session.client(service, endpoint_url=self.info.get("aws_endpoint_url"))

    # -- commands ------------------------------------------------------------------------------------------------

    def request(self, detail_type: str, detail: dict[str, Any], source: str = CLIENT_SOURCE) -> str:
        """Put a command event (`WhatsApp Send Requested`, …) on the gateway's bus; returns the event id."""
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
            "EventBusName": self.info["event_bus_name"],
        }
        result = self.client("events").put_events(Entries=[entry])
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the command: {result['Entries'][0]}")
        return result["Entries"][0]["EventId"]

    # -- record API ----------------------------------------------------------------------------------------------

    def get_message(self, message_id: str) -> tuple[int, Any]:
        return self._signed_get(f"/messages/{_segment(message_id)}", {})

    def list_messages(
        self, *, contact: str | None = None, reference: str | None = None, **page: str
    ) -> tuple[int, Any]:
        """A contact's or a reference's records (exactly one of them), with `limit` and `cursor`."""
        if (contact is None) == (reference is None):
            raise ValueError("give a contact or a reference")
        path = (
            f"/contacts/{_segment(contact)}/messages" if contact else f"/references/{_segment(str(reference))}/messages"
        )
        return self._signed_get(path, page)

    def reference_summary(self, reference: str) -> tuple[int, Any]:
        return self._signed_get(f"/references/{_segment(reference)}/summary", {})

    def _signed_get(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        url = self.info["api_url"].rstrip("/") + path
        request = AWSRequest(method="GET", url=url, params=query)
        credentials = self.session.get_credentials()
        if credentials is None:
            raise SystemExit("no AWS credentials to sign the record API request with")
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.info["region"]).add_auth(request)
        prepared = request.prepare()
        response = self.http.get(prepared.url, headers=dict(prepared.headers), timeout=30)
        # Decimals, so a coordinate or a price is shown with every digit it was stored with.
        return response.status_code, json.loads(response.text, parse_float=Decimal) if response.content else None

    # -- events ------------------------------------------------------------------------------------------------

    def events(self, timeout: float, until: Callable[[dict[str, Any]], bool] | None = None) -> Iterator[dict[str, Any]]:
        """Yield the gateway's events from the event tap queue as they arrive, until `until(event)` or the timeout."""
        queue_url = self.info.get("event_tap_queue_url")
        if not queue_url:
            raise StackUnavailable("this stack has no event tap queue (local stacks have one)")
        sqs = self.client("sqs")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            wait = max(0, min(1, int(deadline - time.monotonic())))
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait).get(
                "Messages", []
            )
            for message in messages:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                event = json.loads(message["Body"])
                yield event
                if until and until(event):
                    return

    @contextmanager
    def subscription(self, pattern: dict[str, Any]) -> Iterator[Callable[[float], Iterator[dict[str, Any]]]]:
        """A queue of its own, fed by a rule on the gateway's bus for `pattern`, for as long as the block runs: a
        reader that takes nothing from anyone else's (`./wab tail`'s tap, other subscribers)."""
        sqs, events = self.client("sqs"), self.client("events")
        name = f"wab-cli-{uuid.uuid4().hex[:12]}"
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = self.info["event_bus_name"]
        rule_arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))["RuleArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "cli", "Arn": queue_arn}])

        def read(timeout: float) -> Iterator[dict[str, Any]]:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                wait = max(0, min(1, int(deadline - time.monotonic())))
                for message in sqs.receive_message(
                    QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
                ).get("Messages", []):
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                    yield json.loads(message["Body"])

        try:
            yield read
        finally:
            events.remove_targets(Rule=name, EventBusName=bus, Ids=["cli"])
            events.delete_rule(Name=name, EventBusName=bus)
            sqs.delete_queue(QueueUrl=queue_url)

    # -- the dead-letter queue ---------------------------------------------------------------------------------------

    def dead_letters(self) -> list[dict[str, Any]]:
        """Everything in the dead-letter queue, left there: each message read once (hidden meanwhile), then shown
        again at once."""
        sqs, queue_url = self.client("sqs"), self.info["dlq_url"]
        letters: list[dict[str, Any]] = []
        while batch := self._next_dead_letters():
            letters.extend(batch)
        for letter in letters:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=letter["receipt"], VisibilityTimeout=0)
        return letters

    def dead_letters_waiting(self) -> int:
        """How many messages the dead-letter queue holds, those a listing cannot reach yet included: a FIFO queue
        hands out a group's next messages only once the ones before them are gone."""
        answer = self.client("sqs").get_queue_attributes(
            QueueUrl=self.info["dlq_url"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(answer["ApproximateNumberOfMessages"]) + int(answer["ApproximateNumberOfMessagesNotVisible"])

    def redrive(self, letter: dict[str, Any]) -> None:
        """Send a dead letter's command to the send queue again, then delete it: sent first, so nothing is lost (a
        failure in between leaves a copy in both, and the send queue drops a redelivered request)."""
        self._send_back(letter)
        receipt = self.dead_letters_receipt(letter["id"])
        if receipt:
            self.client("sqs").delete_message(QueueUrl=self.info["dlq_url"], ReceiptHandle=receipt)

    def redrive_all(self) -> Iterator[dict[str, Any]]:
        """Send every dead letter back, batch by batch until the queue is empty (deleting each batch is what lets
        the FIFO queue hand out the messages behind it); each letter as it goes."""
        while batch := self._next_dead_letters():
            for letter in batch:
                self._send_back(letter)
                self.client("sqs").delete_message(QueueUrl=self.info["dlq_url"], ReceiptHandle=letter["receipt"])
                yield letter

    def _next_dead_letters(self) -> list[dict[str, Any]]:
        """Up to ten dead letters, hidden for a minute (their receipts to give them back or delete them)."""
        messages = self.client("sqs").receive_message(
            QueueUrl=self.info["dlq_url"],
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return [_letter(message) for message in messages.get("Messages", [])]

    def _send_back(self, letter: dict[str, Any]) -> None:
        """A request goes back to the send queue; a lane message to its lane as the same request (its delivery id kept,
        so a command the provider already took is completed, not sent again) with a new retry window."""
        queue_url, body, group = self.info["send_queue_url"], letter["body"], "redrive"
        if letter["queue"] in LANES and (request := _lane_request(body)):
            from wab import jsoncodec, lanes

            lane = letter["queue"] if letter["queue"] in ("priority", "bulk") else lanes.lane_for(request.command)
            queue_url, group = self.info[f"{lane}_lane_url"], lanes.entry(request, lane).group  # behind its contact's
            message = jsoncodec.decode(body, what="lane message")
            body = jsoncodec.encode({**message, "requested_at_ms": int(time.time() * 1000)})
        self.client("sqs").send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            MessageGroupId=group,
            MessageDeduplicationId=f"redrive-{letter['id']}",
        )

    def dead_letters_receipt(self, message_id: str) -> str | None:
        """A fresh receipt for one dead letter (the one from listing them was given back)."""
        found, seen = None, []
        while not found and (batch := self._next_dead_letters()):
            seen.extend(batch)
            found = next((letter["receipt"] for letter in batch if letter["id"] == message_id), None)
        for letter in seen:
            if letter["receipt"] != found:
                self.client("sqs").change_message_visibility(
                    QueueUrl=self.info["dlq_url"], ReceiptHandle=letter["receipt"], VisibilityTimeout=0
                )
        return found

    # -- provider simulator (local only) --------------------------------------------------------------------------

    def simulate(self, path: str, body: dict[str, Any] | None = None) -> Any:
        if "simulator_url" not in self.info:
            raise StackUnavailable("the provider simulator is the local stack's; a deployed one calls the provider")
        url = self.info["simulator_url"].rstrip("/") + path
        response = (
            self.http.post(url, json=body or {}, timeout=30) if body is not None else self.http.get(url, timeout=30)
        )
        response.raise_for_status()
        return response.json()


LANES = ("priority", "bulk", "lane")  # dead letters whose body is a lane message, which goes back to its lane


def use_layer() -> None:
    """Make the gateway's own package importable, as the functions' layer makes it for them."""
    if str(LAYER_DIR) not in sys.path:
        sys.path.insert(0, str(LAYER_DIR))


def _lane_request(body: str) -> "Request | None":
    """The request a lane message carries; None when it is none (the intake then reports it as invalid)."""
    use_layer()
    from wab.errors import InvalidCommand
    from wab.lanes import read

    try:
        return read(body)
    except InvalidCommand:
        return None


def _letter(message: dict[str, Any]) -> dict[str, Any]:
    """A dead letter as `wab dlq` shows it: which queue it came from, why, when, and the command it carries."""
    attributes = {name: value.get("StringValue") for name, value in (message.get("MessageAttributes") or {}).items()}
    body = message["Body"]
    try:
        document = json.loads(body, parse_float=Decimal)
    except ValueError:
        document = None
    queue = attributes.get("queue") or "unknown"
    if queue == "unknown" and isinstance(document, dict) and {"command", "delivery_id"} <= set(document):
        queue = "lane"  # moved by SQS itself after too many receives: a lane message, which names no lane
    if queue in LANES and isinstance(document, dict):
        command = document.get("command")
    elif isinstance(document, dict) and "detail" in document:
        command = document["detail"]
    else:
        command = document
    sent = int((message.get("Attributes") or {}).get("SentTimestamp", "0")) / 1000
    return {
        "id": message["MessageId"],
        # The id the function's logs name it by (`sqs_message_id`): the queue it failed on gave it; SQS's own move
        # keeps it.
        "sqs_message_id": attributes.get("message_id") or message["MessageId"],
        "queue": queue,
        "reason": attributes.get("reason") or "redriven by SQS after repeated receives",
        "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent)),
        "command": command,
        "body": body,
        "receipt": message["ReceiptHandle"],
    }


def _answers(url: str) -> bool:
    """Whether something listens where the stack's API should be (a stack killed with -9 leaves stack.json)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


def _segment(value: str) -> str:
    """One path segment, whatever the value holds: "." and ".." too, which HTTP clients would otherwise resolve
    away as the current or parent path."""
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted
