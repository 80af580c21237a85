"""A small client of a running gateway, local or deployed, for people (the `wab` CLI), the demo and e2e tests.

It speaks to the gateway only through its public interfaces: EventBridge for commands, the signed record API, an
SQS queue subscribed to the gateway's events, and (locally) the provider simulator's `/_sim` endpoints.
"""

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

if TYPE_CHECKING:
    from local.aws import AwsService

PROJECT_DIR = Path(__file__).resolve().parents[1]
STACK_JSON = PROJECT_DIR / ".wab-local" / "stack.json"
CLIENT_SOURCE = "wab.cli"
OUTPUT_KEYS = {
    "ApiUrl": "api_url",
    "EventBusName": "event_bus_name",
    "MessagesTableName": "table_name",
    "SendQueueUrl": "send_queue_url",
    "SendDeadLetterQueueUrl": "dlq_url",
    "MediaBucketName": "media_bucket",
}


class Gateway:
    def __init__(self, info: dict[str, Any]):
        self.info = info
        self.session = boto3.session.Session(region_name=info["region"])
        self.http = requests.Session()

    @classmethod
    def local(cls, path: Path = STACK_JSON) -> "Gateway":
        if not path.exists():
            raise SystemExit(f"{path} not found: start the local stack first (make local)")
        return cls(json.loads(path.read_text()))

    @classmethod
    def deployed(cls, stack_name: str, region: str) -> "Gateway":
        outputs = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack_name)["Stacks"][0][
            "Outputs"
        ]
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
        return self._signed_get(f"/messages/{message_id}", {})

    def list_messages(
        self, *, contact: str | None = None, reference: str | None = None, **page: str
    ) -> tuple[int, Any]:
        """A contact's or a reference's records (exactly one of them), with `limit` and `cursor`."""
        if (contact is None) == (reference is None):
            raise ValueError("give a contact or a reference")
        path = (
            f"/contacts/{quote(contact, safe='')}/messages"
            if contact
            else f"/references/{quote(str(reference), safe='')}/messages"
        )
        return self._signed_get(path, page)

    def _signed_get(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        url = self.info["api_url"].rstrip("/") + path
        request = AWSRequest(method="GET", url=url, params=query)
        credentials = self.session.get_credentials()
        if credentials is None:
            raise SystemExit("no AWS credentials to sign the record API request with")
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", self.info["region"]).add_auth(request)
        prepared = request.prepare()
        response = self.http.get(prepared.url, headers=dict(prepared.headers), timeout=30)
        return response.status_code, response.json() if response.content else None

    # -- events ------------------------------------------------------------------------------------------------

    def events(self, timeout: float, until: Callable[[dict[str, Any]], bool] | None = None) -> Iterator[dict[str, Any]]:
        """Yield the gateway's events from the event tap queue as they arrive, until `until(event)` or the timeout."""
        queue_url = self.info.get("event_tap_queue_url")
        if not queue_url:
            raise SystemExit("this stack has no event tap queue (local stacks have one)")
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

    # -- provider simulator (local only) --------------------------------------------------------------------------

    def simulate(self, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.info["simulator_url"].rstrip("/") + path
        response = (
            self.http.post(url, json=body or {}, timeout=30) if body is not None else self.http.get(url, timeout=30)
        )
        response.raise_for_status()
        return response.json()
