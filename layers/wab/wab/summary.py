"""Campaign summaries: per reference, how many messages reached each status and how many failed, by code.

Kept up to date from the events the gateway publishes (`EventPublisher` hands every event that went out to
`Counters.count`), so no record is ever scanned: an accepted message, a status move and a failure each add to the
counters of their reference, in one UpdateItem per reference and shard for a whole batch of events. Messages without a
reference cost nothing, and so, with `SummaryScope: broadcasts`, do single sends (`Counters.in_scope`): their
counters are a write per event (docs/cost.md) that a deployment not reading them need not pay. A reference's counters
are spread over SHARDS items by message id, so a broadcast's status callbacks at 1,000 messages/s (3,000 moves/s)
stay far below DynamoDB's 1,000 writes/s per partition key.

Statuses count as reached: a message read before its delivery report arrived counts as sent, received and read, so
the delivery rate never misses a message WhatsApp reported read. Events are counted once they are out; a repeat
(`repeat: true`) is not counted again. A counter update that fails is logged and counted (`SummaryUpdatesFailed`),
never failing the work that published the event.
"""

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pydantic import Field

from wab import aws, clock
from wab.errors import ACCEPTED_UNRECORDED, DependencyFailed
from wab.models.types import Model
from wab.observability import count, logger
from wab.settings import SummaryScope
from wab.status import FAILED, RANK

if TYPE_CHECKING:
    from wab.models.records import MessageRecord

SHARDS = 16
REACHED = ("sent", "received", "read")  # in order: reaching one means reaching those before it
FINAL_FAILURES = ("rejected", "expired")
FAILED_STATUS = "failed"  # WhatsApp's word for a message not delivered: counted with the failures, by that code
UPDATE_WORKERS = 8


class CampaignSummary(Model):
    """`GET /references/{reference}/summary`."""

    reference: str
    accepted: int = 0
    sent: int = 0
    received: int = 0
    read: int = 0
    rejected: int = 0
    expired: int = 0
    failed: dict[str, int] = Field(default_factory=dict)  # by error code (opted_out among them)
    opted_out: int = 0
    first_at: str | None = None
    last_at: str | None = None
    delivery_rate: float | None = None  # received ÷ accepted
    read_rate: float | None = None  # read ÷ accepted
    scope: SummaryScope = "all"  # which messages the deployment counts (`SummaryScope`): all, or a broadcast's only


def shard_of(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big") % SHARDS


def increments(detail_type: str, detail: Mapping[str, Any]) -> tuple[str, int, Counter[str]] | None:
    """What one published event adds to its reference's counters: (reference, shard, counts), or None."""
    # Imported here: the record API only reads summaries, and should not build the event models to do it.
    from wab.models.events.sending import MessageAccepted, MessageFailed
    from wab.models.events.status import MessageStatusChanged

    reference = detail.get("reference")
    if not reference or detail.get("repeat"):
        return None
    counts: Counter[str] = Counter()
    if detail_type == MessageAccepted.detail_type:
        counts["accepted"] = 1
        # Statuses reported before the send was recorded went out without its reference: they count with it here.
        counts.update(moved(detail.get("status") or "accepted", "accepted"))
        shard_key = detail["message_id"]
    elif detail_type == MessageStatusChanged.detail_type:
        counts.update(moved(detail["status"], detail.get("previous_status") or "accepted"))
        shard_key = detail["message_id"]
    elif detail_type == MessageFailed.detail_type:
        code = detail["error"]["code"]
        if code == ACCEPTED_UNRECORDED:
            return None  # the provider took it: its `Accepted` counts it when a redrive records it
        counts[f"failed_{code}"] = int(detail.get("recipients") or 1)
        shard_key = detail.get("destination") or reference
    else:
        return None
    return (reference, shard_of(shard_key), counts) if counts else None


def moved(status: str, previous: str) -> Counter[str]:
    """What a move from `previous` to `status` adds: a final failure, or every status reached on the way."""
    if status in FINAL_FAILURES:
        return Counter({status: 1})
    if status == FAILED_STATUS:
        return Counter({f"failed_{FAILED_STATUS}": 1})
    if status not in REACHED:
        return Counter()
    before = RANK.get(previous, 0) if previous not in FAILED else RANK[status]
    return Counter(each for each in REACHED if before < RANK[each] <= RANK[status])


def count_sent_late(counters: "Counters | None", record: "MessageRecord", at: str) -> None:
    """A `sent` reported after the message had failed: no status moves (a failure is never left, and no event says
    otherwise), but the message was sent all the same. Its campaign's `sent` counts it, as it would had the reports
    come in order; once, as the report is kept once in the history (and, when it came before the send was recorded,
    with the send's one `Accepted`)."""
    if record.reference and counters is not None and counters.in_scope(broadcast=bool(record.broadcast)):
        from wab.models.events.status import MessageStatusChanged

        reached = {
            "message_id": record.id,
            "status": "sent",
            "previous_status": "accepted",
            "reference": record.reference,
        }
        counters.count([(MessageStatusChanged.detail_type, reached)], at)


def sent_after_failing(record: "MessageRecord") -> bool:
    """Whether the record failed and was reported `sent` all the same (in whichever order the reports came)."""
    return record.status in FAILED and any(entry.status == "sent" for entry in record.status_history)


class Counters:
    def __init__(self, table_name: str, retention_days: int, scope: SummaryScope = "all"):
        """A reference's counters expire `retention_days` after their last update, as its records do. `scope`: which
        messages they count (`in_scope`)."""
        self.table_name = table_name
        self.retention_days = retention_days
        self.scope = scope

    def in_scope(self, detail: Mapping[str, Any] | None = None, *, broadcast: bool = False) -> bool:
        """Whether an event counts: every one with scope `all`; with `broadcasts`, only those of a broadcast's messages
        (`broadcast`: the event's record was written by one) and a broadcast's failures (`command` of the detail)."""
        return self.scope == "all" or broadcast or (detail or {}).get("command") == "broadcast"

    def count(self, published: Iterable[tuple[str, Mapping[str, Any]]], at: str) -> None:
        """Add published events (detail-type, detail) to their references' counters."""
        totals: dict[tuple[str, int], Counter[str]] = {}
        for detail_type, detail in published:
            if found := increments(detail_type, detail):
                reference, shard, counts = found
                totals.setdefault((reference, shard), Counter()).update(counts)
        if not totals:
            return
        updates = list(totals.items())
        if len(updates) == 1:
            self._add(updates[0][0], updates[0][1], at)
            return
        with ThreadPoolExecutor(max_workers=min(UPDATE_WORKERS, len(updates))) as pool:
            list(pool.map(lambda update: self._add(update[0], update[1], at), updates))

    def _add(self, key: tuple[str, int], counts: Counter[str], at: str) -> None:
        reference, shard = key
        expires_at = int(clock.now().timestamp()) + self.retention_days * 86400
        names = {f"#c{index}": name for index, name in enumerate(sorted(counts))}
        additions = ", ".join(f"{alias} :n{alias[2:]}" for alias in names)
        values: dict[str, Any] = {f":n{alias[2:]}": {"N": str(counts[name])} for alias, name in names.items()}
        try:
            with aws.dependency("DynamoDB UpdateItem"):
                aws.client("dynamodb").update_item(
                    TableName=self.table_name,
                    Key=_key(reference, shard),
                    UpdateExpression=(
                        f"ADD {additions} SET first_at = if_not_exists(first_at, :at), last_at = :at, expires_at = :exp"
                    ),
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={**values, ":at": {"S": at}, ":exp": {"N": str(expires_at)}},
                )
        except DependencyFailed:
            count("SummaryUpdatesFailed")
            logger.warning("campaign summary not updated", extra={"counts": dict(counts)})

    def read(self, reference: str) -> CampaignSummary:
        """The reference's summary: its shards read together and added up."""
        keys = [_key(reference, shard) for shard in range(SHARDS)]
        items: list[dict[str, Any]] = []
        request: dict[str, Any] | None = {self.table_name: {"Keys": keys}}
        for _ in range(5):  # UnprocessedKeys: a throttled part is asked again, a few times
            if not request:
                break
            with aws.dependency("DynamoDB BatchGetItem"):
                answer = aws.client("dynamodb").batch_get_item(RequestItems=request)
            items += answer.get("Responses", {}).get(self.table_name, [])
            request = answer.get("UnprocessedKeys") or None
        if request:
            raise DependencyFailed("DynamoDB did not return every part of the summary")
        return summarise(reference, items, self.scope)


def summarise(reference: str, items: list[dict[str, Any]], scope: SummaryScope = "all") -> CampaignSummary:
    totals: Counter[str] = Counter()
    firsts, lasts = [], []
    for item in items:
        for name, value in item.items():
            if "N" in value and name != "expires_at":
                totals[name] += int(value["N"])
        if "first_at" in item:
            firsts.append(item["first_at"]["S"])
        if "last_at" in item:
            lasts.append(item["last_at"]["S"])
    failed = {name.removeprefix("failed_"): n for name, n in sorted(totals.items()) if name.startswith("failed_")}
    accepted = totals["accepted"]
    return CampaignSummary(
        reference=reference,
        accepted=accepted,
        sent=totals["sent"],
        received=totals["received"],
        read=totals["read"],
        rejected=totals["rejected"],
        expired=totals["expired"],
        failed=failed,
        opted_out=failed.get("opted_out", 0),
        first_at=min(firsts) if firsts else None,
        last_at=max(lasts) if lasts else None,
        delivery_rate=round(totals["received"] / accepted, 4) if accepted else None,
        read_rate=round(totals["read"] / accepted, 4) if accepted else None,
        scope=scope,
    )


def _key(reference: str, shard: int) -> dict[str, Any]:
    return {"pk": {"S": f"SUMMARY#{reference}#{shard:02d}"}}
