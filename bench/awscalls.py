"""Every AWS request a process makes, seen through botocore's event hooks on every client it creates.

`CallRecorder().install()` patches `botocore.session.Session.create_client` so that each new client (boto3's default
session, Powertools' own sessions, the local stack's pollers) gets `before-parameter-build.*.*` and
`after-call[-error].*.*` hooks: one `Call` per request, with its service, operation, duration, thread and where the
client was created (`function`: the handler's code, the wab layer or Powertools; `poller`: the local SQS event
source; `harness`: everything else). With `detail=True` it also works out what the request is billed as: DynamoDB
read/write request units (from item sizes read before and after each write, on a client whose own calls are not
recorded), EventBridge 64 KB event chunks, SQS 64 KB request chunks.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

# The messages table's indexes and their key attributes (template.yaml; both KEYS_ONLY).
GSI_KEYS = {"by-reference": ("reference_key", "created_at"), "by-contact": ("contact_key", "created_at")}
KB = 1024
CHUNK_64K = 64 * 1024
# DynamoDB bills storage per item as its attributes plus 100 bytes, and an index entry as the table's and the index's
# key attributes plus 100 bytes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
ITEM_OVERHEAD_BYTES = 100


@dataclass
class Call:
    service: str
    operation: str
    ms: float
    thread: str
    origin: str
    ok: bool = True
    started: float = 0.0  # perf_counter at the start
    # Billing units (detail mode)
    wru: float = 0.0  # DynamoDB write request units (table + indexes)
    rru: float = 0.0  # DynamoDB read request units
    gsi_wru: float = 0.0  # of which on global secondary indexes
    chunks: int = 0  # EventBridge 64 KB event chunks / SQS 64 KB request chunks
    entries: int = 0  # PutEvents entries, SQS messages, DynamoDB batch items
    note: str = ""
    event_bytes: int = 0  # PutEvents: Source + DetailType + Detail of every entry
    # DynamoDB: the change in billed storage, bytes, by item kind (its key's prefix) and "table" or "index"
    stored: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _origin(stack: list[traceback.FrameSummary]) -> str:
    files = [frame.filename for frame in stack]
    if any(
        (
            "/layers/wab/" in name
            or "aws_lambda_powertools" in name
            or "/functions/" in name
            or "/bench/baseline/" in name
        )
        for name in files
    ):
        return "function"  # first: a handler's client may be created inside a poller's thread
    if any("/local/event_source.py" in name for name in files):
        return "poller"
    return "harness"


# --- DynamoDB item sizes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)


def value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(child) + 1 for name, child in inner.items())
    if kind == "L":
        return 3 + sum(value_size(child) + 1 for child in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: member}) for member in inner)
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(old: dict[str, Any] | None, new: dict[str, Any] | None) -> tuple[float, float]:
    """(total WRU, of which on indexes) for one item going from `old` to `new` (None: absent)."""
    base = max(1, math.ceil(max(item_size(old), item_size(new)) / KB))
    index = 0
    for keys in GSI_KEYS.values():
        before, after = _index_entry(old, keys), _index_entry(new, keys)
        if before != after:  # keys only: an entry (well under 1 KB) is put, deleted, or both; else nothing is written
            index += (before is not None) + (after is not None)
    return base + index, index


def _index_entry(item: dict[str, Any] | None, keys: tuple[str, ...]) -> tuple[Any, ...] | None:
    """The item's entry in an index (its key attributes' values), None when it lacks one of them."""
    if not item or not all(key in item for key in keys):
        return None
    return tuple(str(item[key]) for key in keys)


def kind(item: dict[str, Any]) -> str:
    """An item's kind: its key's prefix (`MSG`, `WAMID`, `IDEMPOTENCY`, ...)."""
    return str(item["pk"].get("S", "")).split("#", 1)[0]


def stored_bytes(item: dict[str, Any] | None) -> dict[str, int]:
    """What DynamoDB bills as stored for an item: {"table": its size + 100, "index": each index entry's key
    attributes (the table's key and the index's keys) + 100}; zeros for no item."""
    if not item:
        return {"table": 0, "index": 0}
    index = 0
    for keys in GSI_KEYS.values():
        if all(key in item for key in keys):
            index += item_size({name: item[name] for name in ("pk", *keys)}) + ITEM_OVERHEAD_BYTES
    return {"table": item_size(item) + ITEM_OVERHEAD_BYTES, "index": index}


def storage_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, float]:
    """The change in billed bytes when an item goes from `old` to `new`, keyed `<kind> table` / `<kind> index`."""
    present = new or old
    if not present:
        return {}
    before, after = stored_bytes(old), stored_bytes(new)
    return {f"{kind(present)} {part}": after[part] - before[part] for part in ("table", "index")}


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / (4 * KB)))
    return units if consistent else units / 2


class CallRecorder:
    def __init__(self, *, detail: bool = False):
        self.detail = detail
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sizer: Any = None
        self._installed = False
        self._original: Any = None
        self.paused = False

    # -- installation ----------------------------------------------------------------------------------------------

    def install(self) -> CallRecorder:
        import botocore.session

        if self._installed:
            return self
        original = self._original = botocore.session.Session.create_client
        recorder = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            recorder.attach(client, _origin(traceback.extract_stack(limit=40)))
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign, assignment]
        self._installed = True
        return self

    def uninstall(self) -> None:
        import botocore.session

        if self._installed:
            botocore.session.Session.create_client = self._original  # type: ignore[method-assign]
            self._installed = False

    def attach(self, client: Any, origin: str) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register("before-parameter-build.*.*", self._before(service, origin))
        client.meta.events.register("after-call.*.*", self._after(ok=True))
        client.meta.events.register("after-call-error.*.*", self._after(ok=False))

    # -- recording -------------------------------------------------------------------------------------------------

    def take(self) -> list[Call]:
        with self._lock:
            calls, self.calls = self.calls, []
        return calls

    def _suppressed(self) -> bool:
        return self.paused or getattr(self._local, "suppress", False)

    def _before(self, service: str, origin: str) -> Any:
        def hook(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            if self._suppressed():
                return
            call = Call(service, model.name, 0.0, threading.current_thread().name, origin, started=time.perf_counter())
            if self.detail:
                self._price_before(call, params)
            context["bench_call"] = call
            context["bench_params"] = params
            call.started = time.perf_counter()

        return hook

    def _after(self, *, ok: bool) -> Any:
        def hook(context: dict[str, Any], **kwargs: Any) -> None:
            call: Call | None = context.pop("bench_call", None)
            if call is None:
                return
            call.ms = (time.perf_counter() - call.started) * 1000
            call.ok = ok and not (kwargs.get("parsed") or {}).get("Error")
            if ok and kwargs.get("http_response") is not None and kwargs["http_response"].status_code >= 300:
                call.ok = False
            params = context.pop("bench_params", None) or {}
            if self.detail:
                self._price_after(call, params, kwargs.get("parsed") or {})
            elif call.operation == "PutEvents":
                entries = params.get("Entries", [])
                call.entries = len(entries)
                call.note = ",".join(sorted({entry.get("DetailType", "") for entry in entries}))
            with self._lock:
                self.calls.append(call)

        return hook

    # -- billing units (detail mode) -------------------------------------------------------------------------------

    def _get(self, table: str | None, key: dict[str, Any]) -> dict[str, Any] | None:
        self._local.suppress = True
        try:
            if self._sizer is None:
                import boto3

                self._sizer = boto3.session.Session().client("dynamodb")
            return self._sizer.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        except Exception:
            return None
        finally:
            self._local.suppress = False

    def _price_before(self, call: Call, params: dict[str, Any]) -> None:
        op = call.operation
        if call.service == "dynamodb" and op in ("PutItem", "UpdateItem", "DeleteItem"):
            key = params["Key"] if "Key" in params else {"pk": params["Item"]["pk"]}
            call._old = self._get(params["TableName"], key)  # type: ignore[attr-defined]
            call._key = key  # type: ignore[attr-defined]
        elif call.service == "dynamodb" and op == "BatchWriteItem":
            olds = []
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    put = request.get("PutRequest")
                    key = {"pk": put["Item"]["pk"]} if put else request["DeleteRequest"]["Key"]
                    olds.append((table, key, self._get(table, key), put["Item"] if put else None))
            call._batch = olds  # type: ignore[attr-defined]

    def _price_after(self, call: Call, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        op = call.operation
        if call.service == "dynamodb":
            table = params.get("TableName")
            if op == "GetItem":
                call.rru = read_units(item_size(parsed.get("Item")), bool(params.get("ConsistentRead")))
                call.entries = 1
            elif op == "BatchGetItem":
                consistent_by_table = {
                    name: spec.get("ConsistentRead") for name, spec in params["RequestItems"].items()
                }
                sizes = {}
                for name, items in (parsed.get("Responses") or {}).items():
                    for item in items:
                        sizes[item["pk"]["S"]] = item_size(self._get(name, {"pk": item["pk"]}))
                requested = [
                    (name, key["pk"]["S"]) for name, spec in params["RequestItems"].items() for key in spec["Keys"]
                ]
                call.rru = sum(read_units(sizes.get(pk, 0), bool(consistent_by_table[name])) for name, pk in requested)
                call.entries = len(requested)
            elif op == "Query":
                size = sum(item_size(item) for item in parsed.get("Items", []))
                call.rru = read_units(size, bool(params.get("ConsistentRead")))
            elif op in ("PutItem", "UpdateItem", "DeleteItem"):
                old = getattr(call, "_old", None)
                new = None if op == "DeleteItem" else self._get(table, call._key)  # type: ignore[attr-defined]
                if not call.ok:
                    new = old  # a failed condition still consumes the units of the item's size
                call.wru, call.gsi_wru = write_units(old, new)
                call.stored = storage_change(old, new)
                call.entries = 1
            elif op == "BatchWriteItem":
                for _table_name, _key, old, new_item in getattr(call, "_batch", []):
                    total, index = write_units(old, new_item)
                    for name, change in storage_change(old, new_item).items():
                        call.stored[name] = call.stored.get(name, 0.0) + change
                    call.wru += total
                    call.gsi_wru += index
                    call.entries += 1
            for attribute in ("_old", "_key", "_batch"):
                if hasattr(call, attribute):
                    delattr(call, attribute)
        elif call.service == "events" and op == "PutEvents":
            entries = params.get("Entries", [])
            call.entries = len(entries)
            parts = ("Source", "DetailType", "Detail")
            call.event_bytes = sum(len(str(entry.get(part, "")).encode()) for entry in entries for part in parts)
            call.chunks = sum(
                max(
                    1,
                    math.ceil(
                        sum(len(str(entry.get(part, "")).encode()) for part in ("Source", "DetailType", "Detail"))
                        / CHUNK_64K
                    ),
                )
                for entry in entries
            )
            call.note = ",".join(sorted({entry.get("DetailType", "") for entry in entries}))
        elif call.service == "sqs":
            if op in ("SendMessage",):
                size = len(params.get("MessageBody", "").encode())
                call.entries, call.chunks = 1, max(1, math.ceil(size / CHUNK_64K))
            elif op == "SendMessageBatch":
                size = sum(len(entry.get("MessageBody", "").encode()) for entry in params.get("Entries", []))
                call.entries, call.chunks = len(params.get("Entries", [])), max(1, math.ceil(size / CHUNK_64K))
            else:
                call.chunks = 1
        else:
            call.chunks = 0


def summarize(calls: list[Call]) -> dict[str, Any]:
    """Counts per `service.Operation`, with billing units, in first-seen order."""
    out: dict[str, Any] = {}
    for call in calls:
        key = f"{call.service}.{call.operation}"
        entry = out.setdefault(
            key,
            {
                "count": 0,
                "ms": 0.0,
                "wru": 0.0,
                "rru": 0.0,
                "gsi_wru": 0.0,
                "chunks": 0,
                "entries": 0,
                "failed": 0,
                "notes": [],
                "event_bytes": 0,
                "stored": {},
            },
        )
        entry["count"] += 1
        entry["ms"] += call.ms
        entry["wru"] += call.wru
        entry["rru"] += call.rru
        entry["gsi_wru"] += call.gsi_wru
        entry["chunks"] += call.chunks
        entry["entries"] += call.entries
        entry["failed"] += 0 if call.ok else 1
        entry["event_bytes"] += call.event_bytes
        for name, change in call.stored.items():
            entry["stored"][name] = entry["stored"].get(name, 0.0) + change
        if call.note and call.note not in entry["notes"]:
            entry["notes"].append(call.note)
    return out
