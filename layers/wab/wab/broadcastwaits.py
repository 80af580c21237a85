"""Step Functions tasks waiting on a whole broadcast: answered once every recipient has an outcome for what the task
waits for, with the broadcast's counts; failed with those counts (`wait_timeout`) when the wait ends first.

A broadcast is many messages, and its campaign summary (`wab.summary`) already counts what became of them as their
events go out, so the wait needs no record of its own: it lives in its timer, a chain of messages on the wait queue
(`wab.waiting` sends them on). The intake starts the chain when it routes the broadcast, with the counts its reference
had then (`baseline`), so messages sent earlier under the same reference are left out; each hop reads the summary
(one BatchGetItem of its counters) and answers, or looks again: after 2 seconds, then twice as long each time up to
`POLL_SECONDS`, so a small broadcast is answered within seconds and a large one costs a read every half minute. A
repeated hop answers again only if the first answer did not go: Step Functions refuses a second answer to a token as
closed.

Recipients with an outcome, per `wait_for` (each recipient counted once; `failed` is every failure code, opted-out
recipients among them):
- `accepted`: accepted + failed before acceptance (not those WhatsApp reported `failed` afterwards);
- `delivered`: received + rejected + expired + failed (a message read is counted as received);
- `read`: read + rejected + expired + failed.
"""

import hashlib
import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from wab import aws, clock, jsoncodec
from wab.models.waits import MAX_WAIT_TIMEOUT_SECONDS, BroadcastWaitFor, BroadcastWaitTimer
from wab.queues import WaitQueue
from wab.summary import FAILED_STATUS, CampaignSummary, Counters

if TYPE_CHECKING:  # the waits and callbacks functions read timers, never commands: not theirs to import
    from wab.models.commands import BroadcastCommand

REPORTED_FAILED = f"failed_{FAILED_STATUS}"  # the counter of messages a status report says failed
POLL_SECONDS = 30  # the longest pause between two looks at a broadcast's summary
FIRST_LOOK_SECONDS = 2
STATUSES = ("accepted", "sent", "received", "read", "rejected", "expired")
OUTCOMES: dict[BroadcastWaitFor, tuple[str, ...]] = {
    "accepted": ("accepted",),
    "delivered": ("received", "rejected", "expired"),
    "read": ("read", "rejected", "expired"),
}


def counters(summary: CampaignSummary) -> dict[str, int]:
    """A summary as its counters: each status, and `failed_<code>` per failure code."""
    counted = {status: getattr(summary, status) for status in STATUSES}
    counted.update({f"failed_{code}": n for code, n in summary.failed.items()})
    return {name: n for name, n in counted.items() if n}


def since(summary: CampaignSummary, baseline: dict[str, int]) -> dict[str, int]:
    """What the summary counted after `baseline`."""
    now = counters(summary)
    return {name: now[name] - baseline.get(name, 0) for name in now if now[name] > baseline.get(name, 0)}


def with_outcome(counted: dict[str, int], wait_for: BroadcastWaitFor) -> int:
    """How many recipients have an outcome for `wait_for`. A message WhatsApp reports `failed` had been accepted: it
    is counted among the accepted already, and only a later wait counts it as a failure."""
    failed = sum(
        n
        for name, n in counted.items()
        if name.startswith("failed_") and not (wait_for == "accepted" and name == REPORTED_FAILED)
    )
    return failed + sum(counted.get(name, 0) for name in OUTCOMES[wait_for])


def report(timer: BroadcastWaitTimer, counted: dict[str, int]) -> dict[str, Any]:
    """The task's output (or, at the wait's end, its cause): the broadcast's counts, no customer data."""
    failed = {name.removeprefix("failed_"): n for name, n in sorted(counted.items()) if name.startswith("failed_")}
    return {
        "reference": timer.reference,
        "wait_for": timer.wait_for,
        "recipients": timer.recipients,
        "with_outcome": with_outcome(counted, timer.wait_for),
        **{status: counted.get(status, 0) for status in STATUSES},
        "failed": failed,
        "opted_out": failed.get("opted_out", 0),
    }


def next_look_seconds(timer: BroadcastWaitTimer) -> int:
    """Seconds until the next look: 2, 4, 8, 16, then every 30, and never past the wait's end."""
    left = (clock.from_iso(timer.timeout_at) - clock.now()).total_seconds()
    pause = min(POLL_SECONDS, FIRST_LOOK_SECONDS * 2 ** min(timer.looks, 5))
    return max(1, min(pause, math.ceil(left)))


class BroadcastWaitStarter:
    """The intake's side: the timer that begins a broadcast's wait."""

    def __init__(self, counters_store: Counters, queue: WaitQueue):
        self.counters = counters_store
        self.queue = queue

    def begin(self, command: "BroadcastCommand") -> None:
        """Start the wait a broadcast asks for (DependencyFailed: the request is retried, as nothing was sent)."""
        wait = command.wait
        if wait is None or command.reference is None:
            return
        timer = BroadcastWaitTimer(
            reference=command.reference,
            task_token=wait.task_token,
            wait_for=wait.wait_for,  # type: ignore[arg-type]  # the command refuses `reply`
            recipients=len(command.destination),
            timeout_at=clock.iso(clock.now() + timedelta(seconds=wait.timeout_seconds)),
            baseline=counters(self.counters.read(command.reference)),
        )
        if command.idempotency_key:
            timer.baseline = self._first_baseline(command.reference, command.idempotency_key, timer.baseline)
        self.queue.schedule(timer.model_dump_json(exclude_none=True), next_look_seconds(timer))

    def _first_baseline(self, reference: str, idempotency_key: str, baseline: dict[str, int]) -> dict[str, int]:
        """The baseline of the first request under this key. A retried task (the same `idempotency_key`, a new token)
        takes the wait over, but the broadcast is not sent again: counted from now, its recipients would never get
        an outcome. Kept as long as a wait can last."""
        # Hashed: a reference and a key may each take up to 1 KB in UTF-8, and a DynamoDB key at most 2 KB.
        named = hashlib.sha256(jsoncodec.encode([reference, idempotency_key]).encode()).hexdigest()
        item = {
            "pk": {"S": f"BROADCASTWAIT#{named}"},
            "baseline": {"S": jsoncodec.encode(baseline)},
            "expires_at": {"N": str(int(clock.now().timestamp()) + MAX_WAIT_TIMEOUT_SECONDS)},
        }
        try:
            with aws.dependency("DynamoDB PutItem", expected=("ConditionalCheckFailedException",)):
                aws.client("dynamodb").put_item(
                    TableName=self.counters.table_name,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ClientError as exc:
            first: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            if "baseline" in first:
                return {name: int(n) for name, n in jsoncodec.decode(first["baseline"]["S"]).items()}
        return baseline
