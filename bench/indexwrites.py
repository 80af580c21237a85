"""Index writes of a broadcast: what each message costs the `by-reference` and `by-contact` indexes, and how many
writes a second the busiest index key takes at a given send rate.

A broadcast of N recipients runs through the real handlers against in-process moto, in a process of its own
(`python -m bench.indexwrites`, a JSON request on stdin, the counts on stdout; the handlers read their settings from
the environment when they load): the intake splits it onto the bulk lane, the sender sends each chunk to the provider
simulator, and the callbacks function takes a `sent`, a `received` (delivered) and a `read` DLR for every message.
Every write the process makes to the messages table is seen with the item as it was before and after (botocore
hooks on every DynamoDB client, an unhooked client reading the item), and priced as DynamoDB writes an index: an
entry is put when an item gets the index's key attributes, deleted when it loses them, both when they change, and
updated in place when they stay but a projected attribute changes (which, keys only, none can).

The same writes are counted for two layouts: `before` (ALL projected, the plain reference as the key: the gateway
before the keys-only indexes and the shards) and `now` (the table as template.yaml declares it). The rate of a key is
arithmetic, not a clock: a broadcast sent at R messages a second, each message bringing its writes, puts
(writes on the key ÷ N) × R writes a second on it.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import defaultdict
from typing import Any

from bench import lambda_env as L

RECIPIENTS = {"full": 500, "quick": 200, "smoke": 20}  # 1,000 take about 150 s
SEND_RATE = 1000  # messages a second: the rate the issue of a hot index key was raised for
PARTITION_WRITE_LIMIT = 1000  # write units a second one DynamoDB partition takes
REFERENCE = "bench-index-writes"
STATUSES = ("sent", "received", "read")
INDEXES = {"by-reference": ("reference_key", "created_at"), "by-contact": ("contact_key", "created_at")}
INDEX_ENTRY_OVERHEAD = 100  # bytes DynamoDB adds to each index entry
KB = 1024
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem")


# --- pricing one table write (the item before and after it) ----------------------------------------------------------


def index_writes(old: dict[str, Any] | None, new: dict[str, Any] | None, projection: str) -> list[tuple[str, str, int]]:
    """(index, partition key, write units) of every index write one table write makes under `projection`."""
    writes = []
    for index, attributes in INDEXES.items():
        before, after = _entry_key(old, attributes), _entry_key(new, attributes)
        if before is None and after is None:
            continue
        if before == after:
            if projection == "ALL" and old != new:
                writes.append((index, after[0], _units(new, projection)))  # type: ignore[index]
            continue
        if before is not None:
            writes.append((index, before[0], _units(old, projection)))
        if after is not None:
            writes.append((index, after[0], _units(new, projection)))
    return writes


def _entry_key(item: dict[str, Any] | None, attributes: tuple[str, ...]) -> tuple[str, ...] | None:
    """The index entry's key, or None when the item is not in the index (it lacks a key attribute)."""
    if not item or not all(attribute in item for attribute in attributes):
        return None
    return tuple(item[attribute]["S"] for attribute in attributes)


def _units(item: dict[str, Any] | None, projection: str) -> int:
    if projection == "KEYS_ONLY":
        return 1  # the keys and the overhead: well under 1 KB
    from bench.awscalls import item_size

    return max(1, math.ceil((item_size(item) + INDEX_ENTRY_OVERHEAD) / KB))


def before_shards(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """The item as the gateway wrote it before the shards: the plain reference as its `by-reference` key."""
    if not item or "reference_key" not in item:
        return item
    return {**item, "reference_key": item["reference"]}


def tally(changes: list[tuple[dict[str, Any] | None, dict[str, Any] | None]], recipients: int) -> dict[str, Any]:
    """Per layout and index: writes and write units per message, and the busiest key's."""
    layouts = {
        "before": ("ALL", before_shards),
        "now": ("KEYS_ONLY", lambda item: item),
    }
    out: dict[str, Any] = {}
    for layout, (projection, shape) in layouts.items():
        by_key: dict[str, dict[str, list[int]]] = {index: defaultdict(lambda: [0, 0]) for index in INDEXES}
        for old, new in changes:
            for index, key, units in index_writes(shape(old), shape(new), projection):
                by_key[index][key][0] += 1
                by_key[index][key][1] += units
        out[layout] = {"projection": projection}
        for index, keys in by_key.items():
            writes = sum(count for count, _ in keys.values())
            units = sum(unit for _, unit in keys.values())
            busiest_writes, busiest_units = max(keys.values(), default=[0, 0])
            out[layout][index] = {
                "keys": len(keys),
                "writes_per_message": writes / recipients,
                "units_per_message": units / recipients,
                "busiest_key_writes": busiest_writes,
                "busiest_key_units": busiest_units,
                "busiest_key_share": busiest_writes / writes if writes else 0.0,
            }
    return out


def rates(counts: dict[str, Any], send_rate: float = SEND_RATE) -> dict[str, Any]:
    """The counts with each busiest key's writes (and units) a second at `send_rate` messages a second."""
    recipients = counts["recipients"]
    for layout in ("before", "now"):
        for index in INDEXES:
            figures = counts["layouts"][layout][index]
            figures["busiest_key_writes_per_s"] = figures["busiest_key_writes"] / recipients * send_rate
            figures["busiest_key_units_per_s"] = figures["busiest_key_units"] / recipients * send_rate
    counts["send_rate"] = send_rate
    counts["partition_write_limit"] = PARTITION_WRITE_LIMIT
    return counts


# --- the run (in the parent: a process of its own) -------------------------------------------------------------------


def run(mode: str) -> dict[str, Any]:
    """Count a broadcast's index writes at the mode's size (RECIPIENTS); with the busiest keys' rates at SEND_RATE."""
    from bench import template_info as T

    request = {"recipients": RECIPIENTS[mode], "parameters": T.bench_parameters()}
    return rates(json.loads(L.run_module("bench.indexwrites", request, timeout=900)))


# --- the broadcast (in the child) ------------------------------------------------------------------------------------


class TableWrites:
    """Every write to the table, as (item before, item after), from hooks on each DynamoDB client created after
    `install`."""

    def __init__(self, table: str, reader: Any):
        self.table = table
        self.reader = reader
        self.changes: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = []
        self.requests = 0

    def install(self) -> None:
        import botocore.session

        original = botocore.session.Session.create_client
        counter = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            if client.meta.service_model.service_name == "dynamodb":
                client.meta.events.register("before-parameter-build.dynamodb.*", counter._before)
                client.meta.events.register("after-call.dynamodb.*", counter._after)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign, assignment]

    def _keys(self, operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if operation == "BatchWriteItem":
            requests = params.get("RequestItems", {}).get(self.table, [])
            return [
                {"pk": request["PutRequest"]["Item"]["pk"]}
                if "PutRequest" in request
                else request["DeleteRequest"]["Key"]
                for request in requests
            ]
        if params.get("TableName") != self.table:
            return []
        return [params["Key"] if "Key" in params else {"pk": params["Item"]["pk"]}]

    def _read(self, key: dict[str, Any]) -> dict[str, Any] | None:
        return self.reader.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name in WRITES and (keys := self._keys(model.name, params)):
            context["table_writes"] = [(key, self._read(key)) for key in keys]

    def _after(self, context: dict[str, Any], **_: Any) -> None:
        for key, old in context.pop("table_writes", []):
            self.requests += 1
            self.changes.append((old, self._read(key)))


def broadcast(request: dict[str, Any]) -> dict[str, Any]:
    os.environ.update(
        {
            "AWS_REGION": L.REGION,
            "AWS_DEFAULT_REGION": L.REGION,
            "AWS_ACCESS_KEY_ID": "AKIABENCHMARK000000",
            "AWS_SECRET_ACCESS_KEY": "bench-secret-access-key",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    import boto3
    from moto import mock_aws
    from moto.core.models import responses_mock

    from bench import template_info as T
    from local.event_source import records_to_delete, sqs_record

    mock_aws().start()
    responses_mock.stop()  # the sender calls the simulator on loopback; moto keeps mocking botocore
    recipients = int(request["recipients"])
    names = T.NAMES
    session = boto3.session.Session(region_name=L.REGION)
    dynamodb: Any = session.client("dynamodb")
    sqs: Any = session.client("sqs")
    urls = T.create_send_path(session)
    secrets = session.client("secretsmanager")
    secrets.create_secret(
        Name=names["callback_secret"],
        SecretString=json.dumps({"username": L.CALLBACK_USER, "password": L.CALLBACK_PASSWORD}),
    )
    with L.provider_simulator(recipients + 100) as simulator:
        provider = L.provider_secret(simulator)
        secrets.create_secret(Name=names["provider_secret"], SecretString=json.dumps(provider))
        functions = {"intake": "IntakeFunction", "sender": "SenderFunction", "callbacks": "CallbacksFunction"}
        for logical_id in functions.values():  # the same names have the same values in all three
            os.environ.update(T.resolved_env(logical_id, names, queue_urls=urls, parameters=request["parameters"]))
        writes = TableWrites(names["table"], dynamodb)
        writes.install()
        handlers = {name: L.load_module(f"functions/{name}/app.py", f"{name}_app") for name in functions}

        def context(name: str) -> L.Context:
            return L.Context(functions[name], 512, 30)

        destinations = [f"+6427{number:07d}" for number in range(recipients)]
        split = L.sqs_event([L.broadcast_request(destinations, REFERENCE)], "queue", group="requests", names=names)
        if not L.succeeded("intake", handlers["intake"].lambda_handler(split, context("intake"))):
            raise RuntimeError("the intake did not split the broadcast")
        lane_arn = L.queue_arn("bulk_lane", names)
        for _ in range(10 * recipients):
            messages = sqs.receive_message(
                QueueUrl=urls["bulk_lane"],
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            records = [sqs_record(message, lane_arn, L.REGION) for message in messages]
            answer = handlers["sender"].lambda_handler({"Records": records}, context("sender"))
            for record in records_to_delete(records, answer, report_batch_item_failures=True):
                sqs.delete_message(QueueUrl=urls["bulk_lane"], ReceiptHandle=record["receiptHandle"])
        message_ids = _message_ids(dynamodb, names["table"])
        if len(message_ids) != recipients:
            raise RuntimeError(f"{len(message_ids)} of {recipients} recipients were sent")
        for status in STATUSES:
            for message_id in message_ids:
                event = L.http_event(
                    "POST",
                    "/callbacks/dlr",
                    body={"id": message_id, "status": status},
                    headers={"authorization": L.basic_auth()},
                )
                if not L.succeeded("dlr", handlers["callbacks"].lambda_handler(event, context("callbacks"))):
                    raise RuntimeError(f"a {status} DLR was not taken")
    changed = [(old, new) for old, new in writes.changes if _is_message(old) or _is_message(new)]
    return {
        "recipients": recipients,
        "statuses": list(STATUSES),
        "table_writes_per_message": sum(1 for old, new in changed if old != new) / recipients,
        "layouts": tally(changed, recipients),
        "shards": _shards(),
    }


def _is_message(item: dict[str, Any] | None) -> bool:
    return bool(item) and item["pk"]["S"].startswith("MSG#")  # type: ignore[index]


def _message_ids(dynamodb: Any, table: str) -> list[str]:
    ids, start = [], None
    while True:
        page = dynamodb.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
        ids += [item["id"]["S"] for item in page["Items"] if item["pk"]["S"].startswith("MSG#")]
        start = page.get("LastEvaluatedKey")
        if not start:
            return sorted(ids)


def _shards() -> int:
    from wab.store import REFERENCE_SHARDS

    return REFERENCE_SHARDS


# --- the report ------------------------------------------------------------------------------------------------------


def section(counts: dict[str, Any]) -> str:
    """The report's section on index writes (markdown)."""
    rate, limit, n = counts["send_rate"], counts["partition_write_limit"], counts["recipients"]
    rows = []
    for layout, label in (
        ("before", "before: ALL projected, one key per reference"),
        ("now", f"now: keys only, {counts['shards']} keys per reference"),
    ):
        reference, contact = counts["layouts"][layout]["by-reference"], counts["layouts"][layout]["by-contact"]
        rows.append(
            [
                label,
                f"{reference['writes_per_message']:.2f} ({reference['units_per_message']:.2f} WCU)",
                f"{contact['writes_per_message']:.2f} ({contact['units_per_message']:.2f} WCU)",
                f"{reference['keys']}",
                f"{reference['busiest_key_share']:.1%}",
                f"{reference['busiest_key_writes_per_s']:,.0f} writes/s, {reference['busiest_key_units_per_s']:,.0f} "
                f"WCU/s ({reference['busiest_key_units_per_s'] / limit:.0%} of {limit:,})",
            ]
        )
    header = [
        "layout",
        "`by-reference` writes per message",
        "`by-contact` writes per message",
        "reference keys",
        "busiest key's share",
        f"busiest key at {rate:,} messages/s",
    ]
    from bench.report import table

    return (
        "## 3b. Index writes of a broadcast\n\n"
        f"A broadcast of {n:,} recipients through the intake, the sender and the callbacks function (in-process "
        f"moto), each message then taking a {', a '.join(f'`{status}`' for status in counts['statuses'])} DLR; every "
        "write to the table seen with the item before and after it, and priced as DynamoDB writes an index "
        "(`bench/indexwrites.py`). `before` prices the same writes for the indexes as they were (every attribute "
        "projected, the plain reference as the key). The rate is arithmetic: the busiest key's writes ÷ "
        f"{n:,} messages × {rate:,} messages/s. One partition takes {limit:,} write units a second. The table itself "
        f"took {counts['table_writes_per_message']:.2f} record writes per message.\n\n" + table(header, rows) + "\n"
    )


def main() -> None:
    request = json.loads(sys.stdin.read())
    answer = sys.stdout
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the handlers' log lines and metrics; the answer is ours
    answer.write(json.dumps(broadcast(request)) + "\n")


if __name__ == "__main__":
    main()
