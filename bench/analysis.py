"""From raw measurements to the report's figures: ratios against targets, cost per million, memory recommendations."""

from __future__ import annotations

import ast
import copy
import math
import re
from collections import Counter
from typing import Any

from bench import cost as C
from bench import template_info as T

SQS_BATCH_ENTRIES = 10  # most messages per SendMessageBatch

TARGETS = {
    "import_ratio": 1.5,
    "first_invocation_ratio": 1.2,
    "warm_ratio": 1.3,
    "own_code_share": 0.20,
    "callback_errors": 0,
    "callback_lost": 0,
}
HANDLER_FUNCTION = {"callbacks": "CallbacksFunction", "messages": "MessagesFunction", "sender": "SenderFunction"}
MEMORY_CANDIDATES = [128, 256, 512, 768, 1024, 1536, 1769]
# What each function must achieve at its memory size (modelled for Lambda, see cost.ASSUMED_LATENCY_MS).
SIZING_RULES: dict[str, dict[str, Any]] = {
    "CallbacksFunction": {
        "cold_ms": 2000,
        "warm_ms": 60,
        "why": "answers the provider synchronously; a slow or "
        "timed-out callback is retried by the provider and delays every subscriber",
    },
    "MessagesFunction": {"cold_ms": 2000, "warm_ms": 40, "why": "answers API callers synchronously"},
    "SenderFunction": {
        "cold_ms": 5000,
        "batch_s": 15,
        "why": "runs asynchronously, but a batch of ten broadcast chunks "
        "should take at most half its 30 s timeout: the handler starts no record with less than 5 s "
        "left (the rest wait for a retry), and the provider may well be slower than assumed",
    },
}
HEADROOM = 1.5  # memory size at least this multiple of the peak resident set measured
# A size must meet its latency rule with a fifth to spare: the figures come from a model fed by a noisy machine, and a
# size that only just meets a limit here flips from run to run and may miss it in AWS.
LATENCY_MARGIN = 0.8


def linear_fit(points: list[tuple[float, float]]) -> dict[str, float]:
    n = len(points)
    if n < 2:
        return {"slope": float("nan"), "intercept": float("nan"), "r2": float("nan")}
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx if sxx else float("nan")
    intercept = mean_y - slope * mean_x
    ss_tot = sum((y - mean_y) ** 2 for _, y in points)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in points)
    return {"slope": slope, "intercept": intercept, "r2": 1 - ss_res / ss_tot if ss_tot else 1.0}


def op_counts(steady: dict[str, Any]) -> dict[str, int]:
    return {op: value["count"] for op, value in steady.items()}


# --- broadcast ------------------------------------------------------------------------------------------------------


def broadcast_summary(broadcast: dict[str, Any], profile: dict[str, Any], wanted: list[int]) -> dict[str, Any]:
    runs = [run for run in broadcast["runs"] if run["completed"]]
    fit = linear_fit([(run["recipients"], run["elapsed_s"]) for run in runs])
    measured = {run["recipients"] for run in runs}
    extrapolated = {str(size): fit["intercept"] + fit["slope"] * size for size in wanted if size not in measured}
    chunks = profile["chunks"]
    total = sum(chunk["total_ms"] for chunk in chunks)
    parts: Counter[str] = Counter()
    for chunk in chunks:
        parts["provider (HTTP call)"] += chunk["provider_ms"]
        parts[f"DynamoDB: settle outbox (UpdateItem x{profile['chunk_recipients']}, 16 threads)"] += chunk[
            "settle_pool_ms"
        ]
        for service, ms in chunk["aws_ms_by_service"].items():
            parts[
                {
                    "dynamodb": "DynamoDB: idempotency, rate budget, BatchGet, BatchWrite",
                    "events": "EventBridge PutEvents",
                    "secretsmanager": "Secrets Manager",
                    "sqs": "SQS",
                }.get(service, service)
            ] += ms
        parts["own code (wab, Powertools, pydantic)"] += chunk["own_ms"]
    shares = {name: ms / total for name, ms in parts.items()} if total else {}
    per_recipient: Counter[str] = Counter()
    largest = max(runs, key=lambda run: run["recipients"]) if runs else None
    if largest:
        for op, value in largest["requests_per_recipient"].items():
            per_recipient[op] = value
    return {
        "fit": fit,
        "extrapolated_s": extrapolated,
        "linear": fit["r2"] >= 0.98 if runs and len(runs) > 1 else None,
        "largest_measured": largest["recipients"] if largest else 0,
        "recipients_per_s": {str(run["recipients"]): run["recipients_per_s"] for run in runs},
        "chunk_ms_median": sorted(chunk["total_ms"] for chunk in chunks)[len(chunks) // 2] if chunks else float("nan"),
        "chunk_cpu_ms_median": sorted(chunk["cpu_ms"] for chunk in chunks)[len(chunks) // 2]
        if chunks
        else float("nan"),
        "time_shares": shares,
        "own_code_share": shares.get("own code (wab, Powertools, pydantic)", float("nan")),
        "requests_per_recipient": dict(per_recipient),
        "requests_per_recipient_function": sum(v for op, v in per_recipient.items() if op.startswith("function:")),
        "all_complete": all(
            run["completed"]
            and run["records_stored"] == run["recipients"]
            and run["accepted_by_provider"] == run["recipients"]
            and run["accepted_events_published"] >= run["recipients"]
            for run in broadcast["runs"]
        ),
    }


# --- cost -----------------------------------------------------------------------------------------------------------


# The items a message leaves behind (its record, an inbound message's WAMID# pointer, the sender's idempotency record);
# CONTACT#, SUMMARY#, RATE# items are one per contact, reference or number and second, not per message.
STORED_KINDS = ("MSG", "WAMID", "IDEMPOTENCY")
ROOT = T.ROOT


def idempotency_days() -> int:
    """IDEMPOTENCY_DAYS as the sender runs with it: the template's value, else the setting's default (read from the
    source: the bench's own process does not import wab)."""
    value = T.functions()["SenderFunction"]["template_env"].get("IDEMPOTENCY_DAYS")
    if isinstance(value, dict):
        value = T.parameter_default(value["Ref"])
    if value is None:
        source = (ROOT / "layers" / "wab" / "wab" / "settings" / "sender.py").read_text()
        match = re.search(r"idempotency_days: int = Field\(default=(\d+)", source)
        if not match:
            raise RuntimeError("no idempotency_days default in wab/settings/sender.py")
        value = match.group(1)
    return int(value)


def pointer_days() -> int:
    """How long a WhatsApp-id pointer is kept at most (wab.edits.POINTER_DAYS, read from the source: the bench's own
    process does not import wab)."""
    source = (ROOT / "layers" / "wab" / "wab" / "edits.py").read_text()
    match = re.search(r"^POINTER_DAYS = (\d+)", source, re.MULTILINE)
    if not match:
        raise RuntimeError("no POINTER_DAYS in wab/edits.py")
    return int(match.group(1))


def retention_days(records: float | None = None) -> dict[str, float]:
    """How long each kind of item in STORED_KINDS lives before DynamoDB's TTL removes it (`records`: RetentionDays,
    by default the template's)."""
    records = float(records or T.parameter_default("RetentionDays"))
    return {"MSG": records, "WAMID": min(records, pointer_days()), "IDEMPOTENCY": float(idempotency_days())}


def stored(steady: dict[str, Any]) -> dict[str, float]:
    """The billed bytes one invocation's writes added, by `<kind> table` / `<kind> index` (awscalls.storage_change),
    for the kinds in STORED_KINDS."""
    out: dict[str, float] = {}
    for value in steady.values():
        for name, change in value.get("stored", {}).items():
            if name.split(" ")[0] in STORED_KINDS:
                out[name] = out.get(name, 0.0) + change
    return out


def budget_writes(steady: dict[str, Any]) -> float:
    """Whether one invocation's calls wrote the rate budget (`RATE#`, one write unit): a single send's take."""
    return float(sum(1 for value in steady.values() if "RATE table" in value.get("stored", {})))


def storage_inputs(
    stored_bytes: dict[str, float], per: float = 1.0, days: dict[str, float] | None = None
) -> dict[str, Any]:
    """Per message: the stored bytes (over `per` messages), and the GB-months they occupy on the table and on its
    indexes over the life of each kind of item (`days`: by kind, `retention_days()` by default)."""
    days = days or retention_days()
    table = index = 0.0
    for name, size in stored_bytes.items():
        kind, part = name.split(" ")
        gb_months = C.storage_gb_months(size / per, days[kind])
        if part == "table":
            table += gb_months
        else:
            index += gb_months
    return {
        "stored_bytes": {name: size / per for name, size in stored_bytes.items()},
        "table_gb_months": table,
        "index_gb_months": index,
    }


def event_bytes(steady: dict[str, Any]) -> tuple[float, int]:
    """(bytes, entries) of the events one invocation put on the bus."""
    puts = [value for op, value in steady.items() if op == "events.PutEvents"]
    return sum(value.get("event_bytes", 0) for value in puts), sum(value["entries"] for value in puts)


def traced(invocations: dict[str, float], rate: float, requests_per_s: dict[str, float] | None = None) -> float:
    """Traces recorded per message: each function's invocations per message times the share Lambda traces at that
    function's own rate (`rate` messages a second; `requests_per_s`: a function's own rate where it serves more than
    this flow, as the relay serves every flow of its path)."""
    rates = requests_per_s or {}
    functions = T.functions()
    return sum(
        per * C.xray_share(rates.get(name, rate * per))
        for name, per in invocations.items()
        if functions.get(name, {}).get("tracing") != "PassThrough"
    )


def flow_inputs(results: dict[str, Any], rate: float | None = None) -> dict[str, dict[str, Any]]:
    """Per message of each flow at `rate` messages a second (default: the assumed steady traffic): requests, units,
    measured and modelled Lambda durations, stored bytes, traced invocations.

    A send or a broadcast goes bus → send queue → intake → lane → sender: besides the sender's own requests it pays
    for the request event, EventBridge's SendMessage to the send queue, the intake (an invocation per batch, its
    SendMessageBatch to the lane) and each queue's ReceiveMessage and DeleteMessageBatch per batch (`intake`). How
    full a batch is follows from the rate (cost.batch_fill). Each flow is taken alone: inbound messages at `rate`,
    single sends at `rate` with their DLRs at twice it, broadcast recipients at `rate`."""
    rate = float(rate or C.ASSUMPTIONS["messages_per_second"])
    functions = T.functions()
    warm, calls = results["warm"], results["aws_calls"]
    intake_memory = functions["IntakeFunction"]["memory"]
    archive_days = float(T.parameter_default("EventArchiveDays")) if T.resources_of("AWS::Events::Archive") else 0.0
    out: dict[str, dict[str, Any]] = {}
    for flow, function, http, flow_rate in (
        ("mo", "CallbacksFunction", 1, rate),
        ("dlr", "CallbacksFunction", 1, 2 * rate),
        ("get", "MessagesFunction", 1, rate),
        ("send", "SenderFunction", 0, rate),
    ):
        steady = calls[flow]["ours"]["steady"]
        write, read, chunks = C.units(steady)
        ours = warm[flow]["ours"]
        cpu = ours["median_not_moto_ms"] - ours["median_provider_ms"]
        wait = C.wait_ms_for(op_counts(steady), "provider_send" if flow == "send" else None)
        memory = functions[function]["memory"]
        fill, shared_writes = 1.0, 0.0
        if flow == "send":
            # A batch's records wait side by side (wab.batch): each bills its share of the wait. Its single sends take
            # their rate units in one write (wab.pacing, prefetch): measured one send a batch, the write is shared.
            fill = C.batch_fill(flow_rate, C.modelled_duration_ms(cpu, wait, memory))
            wait /= fill
            shared_writes = budget_writes(steady) * (1 - 1 / fill)
        events, entries = event_bytes(steady)
        out[flow] = {
            "function": function,
            "memory_mb": memory,
            "rate": flow_rate,
            "lambda_invocations": 1 / fill,
            "invocations_by_function": {function: 1 / fill},
            "measured_ms": ours["median_ms"],
            "cpu_ms": cpu,
            "wait_ms": wait,
            "http_api_requests": http,
            "sqs_requests": 0.0,
            "write_units": write - shared_writes,
            "read_units": read,
            "event_chunks": chunks,
            "event_bytes": events,
            "event_entries": entries,
            "archive_days": archive_days,
            "rate_budget_writes": budget_writes(steady) - shared_writes,
            "secret_calls": C.secret_calls_per_message(flow_rate) if flow != "get" else 0.0,
            # a one-record invocation's logs; counted per message also in batches (an upper bound); HTTP API access log
            "log_bytes_per_message": calls[flow]["ours"]["log_bytes_per_invocation"]
            + http * C.ASSUMPTIONS["http_api_access_log_bytes"],
            "info_log_bytes_per_message": calls[flow]["ours"].get("info_log_bytes_per_invocation", 0.0),
            "aws_requests": sum(op_counts(steady).values()) - shared_writes,
            **storage_inputs(stored(steady)),
        }
    send = out["send"]
    lane_fill = 1 / send["lambda_invocations"]
    intake = intake_inputs(calls["intake"], intake_memory, rate)
    send["intake"] = intake
    send["batch_fill"] = {"send queue → intake": intake["batch_fill"], "priority lane → sender": lane_fill}
    # The request: its event on the bus, EventBridge's SendMessage to the send queue; the intake's share of a batch;
    # the send queue's and the lane's ReceiveMessage + DeleteMessageBatch per batch.
    send["event_chunks"] += 1
    send["event_entries"] += 1
    send["sqs_requests"] = 1 + 2 / intake["batch_fill"] + intake["sqs_requests"] + 2 / lane_fill
    send["lambda_invocations"] += intake["lambda_invocations"]
    send["invocations_by_function"]["IntakeFunction"] = intake["lambda_invocations"]
    send["log_bytes_per_message"] += intake["log_bytes"]
    send["info_log_bytes_per_message"] += intake["info_log_bytes"]
    send["aws_requests"] += intake["aws_requests"]

    chunk_calls = calls["chunk"]["ours"]["steady"]
    write, read, chunks = C.units(chunk_calls)
    recipients = calls["chunk"]["recipients"]
    profile = results.get("broadcast_summary", {})
    split = results.get("memory", {}).get("broadcast", {})
    size = split.get("recipients") or C.ASSUMPTIONS["broadcast_recipients"]  # recipients of the broadcast request
    # The split puts a broadcast's chunks on the bulk lane at once: its batches are as full as the chunks allow. The
    # broadcast requests themselves are few: each arrives on the send queue alone.
    bulk_fill = min(float(C.ASSUMPTIONS["sqs_batch"]), max(1.0, math.ceil(size / recipients)))
    request_fill = C.batch_fill(rate / size, intake["batch_ms"])
    chunk_wait = C.wait_ms_for(op_counts(chunk_calls), "provider_broadcast", parallel={"dynamodb.UpdateItem": 16})
    # The intake's part, per recipient: the request (as for a send) over the broadcast's recipients, and the split,
    # measured (its wall time, SendMessageBatch calls included, taken as CPU: an upper bound).
    split_ms = split.get("split_ms", 0.0)
    broadcast_intake = {
        "memory_mb": intake_memory,
        "lambda_invocations": 1 / request_fill / size,
        "measured_ms": split_ms / size,
        "cpu_ms": split_ms / size,
        "wait_ms": 0.0,
        "log_bytes": split.get("split_log_bytes", 0.0) / size,
        "sqs_requests": 1 / (SQS_BATCH_ENTRIES * recipients),  # the chunks go to the lane ten per SendMessageBatch
        "aws_requests": 1 / (SQS_BATCH_ENTRIES * recipients),
    }
    events, entries = event_bytes(chunk_calls)
    sender_invocations = 1 / (recipients * bulk_fill)
    out["broadcast"] = {
        "function": "SenderFunction",
        "memory_mb": functions["SenderFunction"]["memory"],
        "rate": rate,
        "chunk_recipients": recipients,
        "broadcast_recipients": size,
        "batch_fill": {"send queue → intake": request_fill, "bulk lane → sender": bulk_fill},
        "lambda_invocations": sender_invocations + broadcast_intake["lambda_invocations"],
        "invocations_by_function": {
            "SenderFunction": sender_invocations,
            "IntakeFunction": broadcast_intake["lambda_invocations"],
        },
        "measured_ms": profile.get("chunk_ms_median", float("nan")) / recipients,
        "cpu_ms": profile.get("chunk_cpu_ms_median", float("nan")) / recipients,
        "wait_ms": chunk_wait / recipients / bulk_fill,  # the chunks of a batch wait side by side too
        "intake": broadcast_intake,
        "http_api_requests": 0,
        # the request (its SendMessage, the send queue's Receive + DeleteMessageBatch) over the broadcast's
        # recipients; the intake's SendMessageBatch per ten chunks; the bulk lane's Receive + DeleteMessageBatch per
        # batch of chunks
        "sqs_requests": (1 + 2 / request_fill) / size + broadcast_intake["sqs_requests"] + 2 / (recipients * bulk_fill),
        "write_units": write / recipients,
        "read_units": read / recipients,
        "event_chunks": chunks / recipients + 1 / size,  # the Accepted events; the request's event
        "event_bytes": events / recipients,
        "event_entries": entries / recipients + 1 / size,
        "archive_days": archive_days,
        "secret_calls": C.secret_calls_per_message(rate),
        "log_bytes_per_message": calls["chunk"]["ours"]["log_bytes_per_invocation"] / recipients
        + broadcast_intake["log_bytes"],
        # the split's INFO lines are not measured apart: taken as kept (an upper bound under LogLevel WARNING)
        "info_log_bytes_per_message": calls["chunk"]["ours"].get("info_log_bytes_per_invocation", 0.0) / recipients,
        "aws_requests": sum(op_counts(chunk_calls).values()) / recipients + broadcast_intake["aws_requests"],
        **storage_inputs(stored(chunk_calls), recipients),
    }
    send["request_events"], out["broadcast"]["request_events"] = 1.0, 1 / size
    relay_bases(out, calls)
    if out["dlr"].get("relay_basis"):  # a broadcast recipient's DLRs: counted under the broadcast's one reference
        out[BROADCAST_DLR] = copy.deepcopy(out["dlr"])
        out[BROADCAST_DLR]["relay_basis"]["pattern"] = "shared"
    add_relay(out)
    for item in out.values():
        relay_rate = {"RelayFunction": item["relay"]["invocations_per_s"]} if item.get("relay") else {}
        item["traced_invocations"] = traced(item["invocations_by_function"], item["rate"], relay_rate)
        # The archive keeps every event on the bus: those measured, and the request events the gateway does not put
        # itself (a send's or a broadcast's command), taken at the measured events' mean size.
        measured = item["event_entries"] - item.get("request_events", 0.0)
        mean = item["event_bytes"] / measured if measured > 0 else 0.0
        item["archived_event_bytes"] = mean * item["event_entries"]
    return out


# --- the relay: what the table's stream costs --------------------------------------------------------------------

# Which flows' stream records share the relay's batches, by the traffic each flow is priced in (flow_inputs): inbound
# messages alone; single sends with their DLRs at twice the rate; broadcast recipients with theirs. A record read
# shares its table with the single sends.
RELAY_PATHS: dict[str, list[tuple[str, int]]] = {
    "mo": [("mo", 1)],
    "send": [("send", 1), ("dlr", 2)],
    "dlr": [("send", 1), ("dlr", 2)],
    "get": [("send", 1), ("dlr", 2)],
    "broadcast": [("broadcast", 1), ("dlr", 2)],
    "dlr_of_broadcast": [("broadcast", 1), ("dlr", 2)],
}
# The DLR flow as a broadcast recipient's DLRs, counted under the broadcast's one reference (and, with
# `SummaryScope: broadcasts`, the only DLRs counted): `flow_inputs` adds it when the relay was measured.
BROADCAST_DLR = "dlr_of_broadcast"


def broadcast_dlr(flows: Any) -> str:
    """The flow a broadcast recipient's DLRs are priced as."""
    return BROADCAST_DLR if BROADCAST_DLR in flows else "dlr"


# The references of the modelled traffic, as the flows were measured: every single send has its own (`order-<n>`, and
# its DLRs that of their send), a broadcast one for all its recipients. Events of one reference in one relay batch
# share a counter write per counter shard (wab.summary.Counters).
REFERENCE_PATTERN = {"mo": "none", "send": "own", "dlr": "own", "get": "none", "broadcast": "shared"}
RELAY_ADDS = (
    "lambda_invocations",
    "write_units",
    "read_units",
    "event_chunks",
    "event_bytes",
    "event_entries",
    "aws_requests",
    "log_bytes_per_message",
)


def summary_shards() -> int:
    """How many counter items a reference's counts are spread over (wab.summary.SHARDS, read from the source: the
    bench's own process does not import wab)."""
    source = (ROOT / "layers" / "wab" / "wab" / "summary.py").read_text()
    match = re.search(r"^SHARDS = (\d+)", source, re.MULTILINE)
    if not match:
        raise RuntimeError("no SHARDS in wab/summary.py")
    return int(match.group(1))


def counter_workers() -> int:
    """How many counter writes the relay makes side by side (wab.summary.UPDATE_WORKERS)."""
    source = (ROOT / "layers" / "wab" / "wab" / "summary.py").read_text()
    match = re.search(r"^UPDATE_WORKERS = (\d+)", source, re.MULTILINE)
    return int(match.group(1)) if match else 1


def relay_bases(out: dict[str, dict[str, Any]], calls: dict[str, Any]) -> None:
    """Each flow's measured relay (section 3: what the relay did with the stream records one invocation of the flow
    left, and its time), per message of the flow; nothing for a run measured before the relay existed."""
    sources = {"mo": ("mo", 1.0), "dlr": ("dlr", 1.0), "send": ("send", 1.0), "get": ("get", 1.0)}
    sources["broadcast"] = ("chunk", float(calls["chunk"]["recipients"]))
    for flow, (measured, messages) in sources.items():
        relay = calls.get(measured, {}).get("ours", {}).get("relay")
        if relay is not None:
            out[flow]["relay_basis"] = {**relay, "messages": messages, "pattern": REFERENCE_PATTERN[flow]}


def relay_part(basis: dict[str, Any], fill: float, memory_mb: int) -> dict[str, Any]:
    """The relay's part of one message of a flow, its batches holding `fill` stream records: invocations, requests,
    units, logs and durations, per message (`adds`: what it adds to the flow's inputs)."""
    messages = basis["messages"]
    records = basis["records"] / messages  # stream records per message
    empty = dict.fromkeys(RELAY_ADDS, 0.0)
    if records <= 0:
        return {"records": 0.0, "fill": 0.0, "invocations": 0.0, "adds": empty, "counter_writes": 0.0}
    steady = basis["steady"]
    per_record = {
        "events": basis["events"] / basis["records"],
        "counted": basis["counted"] / basis["records"],
    }
    puts = steady.get("events.PutEvents", {})
    updates = steady.get("dynamodb.UpdateItem", {})
    unit_per_write = updates["wru"] / updates["count"] if updates.get("count") else 1.0
    # Counter writes per batch: one per counted event of its own reference; one per counter shard the events of a
    # shared reference reach.
    counted_per_batch = fill * per_record["counted"] if basis["pattern"] != "uncounted" else 0.0
    if basis["pattern"] == "shared":
        writes_per_batch = C.distinct_keys(counted_per_batch, summary_shards())
    else:
        writes_per_batch = counted_per_batch
    events_per_batch = fill * per_record["events"]
    calls_per_batch = math.ceil(events_per_batch / 10 - 1e-9) if events_per_batch > 0 else 0  # ten a PutEvents
    batches = records / fill  # relay invocations per message
    timing = basis["timing"]
    measured_records = timing["records_per_invocation"] or 1.0
    cpu_per_record = max(timing["median_not_moto_ms"], 0.0) / measured_records
    wait_per_batch = C.ASSUMED_LATENCY_MS["events"] * calls_per_batch + C.ASSUMED_LATENCY_MS["dynamodb"] * math.ceil(
        writes_per_batch / counter_workers() - 1e-9
    )
    modelled_batch_ms = C.modelled_duration_ms(cpu_per_record * fill, wait_per_batch, memory_mb)
    adds = {
        "lambda_invocations": batches,
        "write_units": writes_per_batch * batches * unit_per_write,
        "read_units": sum(value["rru"] for value in steady.values()) / basis["records"] * records,
        "event_chunks": puts.get("chunks", 0) / basis["records"] * records,
        "event_bytes": puts.get("event_bytes", 0) / basis["records"] * records,
        "event_entries": puts.get("entries", 0) / basis["records"] * records,
        "aws_requests": (calls_per_batch + writes_per_batch) * batches,
        "log_bytes_per_message": basis["log_bytes_per_invocation"] * batches,
    }
    return {
        "records": records,
        "fill": fill,
        "invocations": batches,
        "counter_writes": writes_per_batch * batches,
        "counted_events": counted_per_batch / fill * records,
        "put_events_calls": calls_per_batch * batches,
        "memory_mb": memory_mb,
        # measured: each record at the time a measured batch took per record (batches of one flow invocation's
        # records: an upper bound for fuller ones); modelled: per batch of `fill`
        "measured_ms": timing["median_ms"] / measured_records * records,
        "cpu_ms": cpu_per_record * records,
        "wait_ms": wait_per_batch * batches,
        "modelled_batch_ms": modelled_batch_ms,
        "adds": adds,
    }


def relay_fill(out: dict[str, dict[str, Any]], flow: str) -> dict[str, float]:
    """Stream records per relay batch for a flow at its traffic (RELAY_PATHS): the path's records spread over the
    stream's shards, as many as the table's partitions (its size, kept `RetentionDays`, and its writes)."""
    path = RELAY_PATHS[flow]
    rate = out["send"]["rate"]  # the rate the paths are priced at (a DLR comes at twice it)
    seconds_per_month = 86400 * C.ASSUMPTIONS["days_per_month"]
    records = table_gb = write_units = 0.0
    for part, times in path:
        item = out[part]
        basis = item.get("relay_basis")
        records += times * rate * (basis["records"] / basis["messages"] if basis else 0.0)
        table_gb += times * rate * seconds_per_month * item["table_gb_months"]  # GB-months a month: GB held
        write_units += times * rate * item["write_units"]
    shards = C.stream_shards(table_gb, write_units)
    mapping = T.relay_mapping()
    fill = C.stream_batch_fill(
        records / shards, float(mapping.get("MaximumBatchingWindowInSeconds", 0)), int(mapping.get("BatchSize", 100))
    )
    return {"fill": fill, "shards": shards, "table_gb": table_gb, "records_per_s": records}


def add_relay(out: dict[str, dict[str, Any]]) -> None:
    """Add (again) the relay's part to each flow's inputs: its invocations, PutEvents and counter writes, logs, at the
    batch fill the flow's traffic and table give."""
    memory = T.functions()["RelayFunction"]["memory"]
    fills = {flow: relay_fill(out, flow) for flow in out if flow in RELAY_PATHS}  # before any part changes
    for flow, item in out.items():
        basis = item.get("relay_basis")
        if basis is None:
            continue
        old = item.get("relay")
        if old:
            for name in RELAY_ADDS:
                item[name] -= old["adds"][name]
        part = relay_part(basis, fills[flow]["fill"], memory)
        part.update(
            shards=fills[flow]["shards"],
            table_gb=fills[flow]["table_gb"],
            # the relay's invocations a second over the whole path (for its traced share)
            invocations_per_s=fills[flow]["records_per_s"] / part["fill"] if part["fill"] else 0.0,
        )
        for name in RELAY_ADDS:
            item[name] += part["adds"][name]
        item["invocations_by_function"]["RelayFunction"] = part["invocations"]
        item["relay"] = part


def relay_summary(results: dict[str, Any]) -> dict[str, Any]:
    """The relay as the cost model has it, at the modelled rate and at high volume, at the defaults and with the lean
    settings: stream records per batch, the stream's shards, invocations and counter writes per message; and what the
    counters cost an outbound message under each reference pattern."""
    high = C.ASSUMPTIONS["high_volume_messages_per_second"]
    cases = {
        "defaults": flow_inputs(results),
        "defaults_high_volume": flow_inputs(results, high),
    }
    cases["lean"] = lean_inputs(cases["defaults"])
    cases["lean_high_volume"] = lean_inputs(cases["defaults_high_volume"])
    out: dict[str, Any] = {"measured": bool(cases["defaults"]["send"].get("relay"))}
    for name, inputs in cases.items():
        out[name] = {
            "rate": inputs["send"]["rate"],
            "flows": {
                flow: {
                    key: item["relay"][key]
                    for key in (
                        "records",
                        "fill",
                        "shards",
                        "table_gb",
                        "invocations",
                        "counter_writes",
                        "counted_events",
                        "put_events_calls",
                    )
                    if key in item["relay"]
                }
                for flow, item in inputs.items()
                if item.get("relay")
            },
            "counters": counter_alternatives(inputs),
            "usd_per_million": relay_costs(inputs, traced_share=not name.startswith("lean")),
        }
    return out


def relay_costs(inputs: dict[str, dict[str, Any]], *, traced_share: bool = True) -> dict[str, dict[str, float]]:
    """What the relay adds per 1,000,000 messages of each path (inbound; outbound send + 2 DLRs; broadcast recipient
    + 2 DLRs), line by line, measured durations; `traced_share`: False under TracingMode PassThrough."""
    paths = {
        "inbound": [("mo", 1)],
        "outbound": [("send", 1), ("dlr", 2)],
        "broadcast": [("broadcast", 1), (broadcast_dlr(inputs), 2)],
    }
    platform = C.ASSUMPTIONS["lambda_platform_log_bytes"] + 4 * C.ASSUMPTIONS["logs_event_overhead_bytes"]
    out: dict[str, dict[str, float]] = {}
    for path, parts in paths.items():
        lines = dict.fromkeys(("Lambda requests", "Lambda duration", "CloudWatch Logs", "X-Ray", "counter writes"), 0.0)
        for flow, times in parts:
            relay = inputs[flow].get("relay")
            if not relay or not relay.get("records"):
                continue
            invocations = relay["invocations"]
            untraced = T.functions()["RelayFunction"]["tracing"] == "PassThrough"
            share = C.xray_share(relay["invocations_per_s"]) if traced_share and not untraced else 0.0
            lines["Lambda requests"] += times * invocations * C.PRICES["lambda_request"]
            lines["Lambda duration"] += (
                times * C.gb_seconds(relay["memory_mb"], relay["measured_ms"]) * C.PRICES["lambda_arm_gb_second"]
            )
            logged = relay["adds"]["log_bytes_per_message"] + platform * invocations
            lines["CloudWatch Logs"] += times * logged / 2**30 * C.PRICES["logs_ingest_gb"]
            lines["X-Ray"] += times * invocations * share * C.PRICES["xray_trace"]
            lines["counter writes"] += times * relay["adds"]["write_units"] * C.PRICES["dynamodb_write_unit"]
        per_million = {name: value * 1e6 for name, value in lines.items()}
        per_million["total"] = sum(per_million.values())
        out[path] = per_million
    return out


def counter_alternatives(out: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the campaign counters cost an outbound single send (with its two DLRs), per message, with every send of
    its own reference (the modelled traffic) and with all sends under one campaign reference."""
    result: dict[str, Any] = {}
    for pattern in ("own", "shared"):
        writes = 0.0
        for flow, times in (("send", 1), ("dlr", 2)):
            basis = out[flow].get("relay_basis")
            part = out[flow].get("relay")
            if not basis or not part or basis["pattern"] == "uncounted":
                continue
            alternative = relay_part({**basis, "pattern": pattern}, part["fill"], part["memory_mb"])
            writes += times * alternative["counter_writes"]
        result[pattern] = {"writes": writes, "usd_per_million": writes * C.PRICES["dynamodb_write_unit"] * 1e6}
    return result


# The cheapest settings a deployment can choose that keep every guarantee (docs/cost.md says what each gives up).
LEAN_SETTINGS = {
    "CallbackEndpoint": "FunctionUrl",
    "TracingMode": "PassThrough",
    "RetentionDays": "30",
    "SummaryScope": "broadcasts",
    "LogLevel": "WARNING",
}


def lean_inputs(inputs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The flows' inputs under LEAN_SETTINGS: callbacks reach their function through its URL (no HTTP API request,
    no access log line), nothing is traced unless an upstream service sampled it (taken as nothing), records
    and their pointers are kept 30 days, and campaign summaries count broadcasts only (a single send's events and
    its DLRs write no counters; a broadcast recipient's DLRs, priced apart, still do), and the functions log
    warnings and errors only (their INFO lines, measured apart, are left out; metrics and Lambda's own lines stay)."""
    out = copy.deepcopy(inputs)
    for flow in ("send", "dlr"):
        if out[flow].get("relay_basis"):
            out[flow]["relay_basis"]["pattern"] = "uncounted"
    days = retention_days(float(LEAN_SETTINGS["RetentionDays"]))
    for item in out.values():
        if item["function"] == "CallbacksFunction":
            item["log_bytes_per_message"] -= item["http_api_requests"] * C.ASSUMPTIONS["http_api_access_log_bytes"]
            item["http_api_requests"] = 0
        item["traced_invocations"] = 0.0
        item["log_bytes_per_message"] -= item.get("info_log_bytes_per_message", 0.0)
        item.update(storage_inputs(item["stored_bytes"], days=days))
    add_relay(out)  # a smaller table has fewer partitions, so fuller relay batches
    return out


def intake_inputs(intake: dict[str, Any], memory_mb: int, rate: float) -> dict[str, Any]:
    """The intake's part of one request at `rate` requests a second, from a batch of `requests` routed to the lane
    (measured in-process): its time and logs per request as measured; its invocations and its SendMessageBatch (one
    a batch) per request from the batch the rate fills."""
    requests = intake["requests"]
    steady = intake["ours"]["steady"]
    warm = intake["ours"].get("warm", {})
    cpu = (warm.get("median_not_moto_ms", float("nan")) - warm.get("median_provider_ms", 0.0)) / requests
    batch_wait = C.wait_ms_for(op_counts(steady))
    batch_ms = C.modelled_duration_ms(cpu, batch_wait, memory_mb)  # a batch of one request
    fill = C.batch_fill(rate, batch_ms)
    return {
        "memory_mb": memory_mb,
        "batch_fill": fill,
        "batch_ms": batch_ms,
        "lambda_invocations": 1 / fill,
        "measured_ms": warm.get("median_ms", float("nan")) / requests,
        "cpu_ms": cpu,
        "wait_ms": batch_wait / fill,
        "log_bytes": intake["ours"]["log_bytes_per_invocation"] / requests,
        "info_log_bytes": intake["ours"].get("info_log_bytes_per_invocation", 0.0) / requests,
        "sqs_requests": sum(value["chunks"] for op, value in steady.items() if op.startswith("sqs.")) / fill,
        "aws_requests": sum(op_counts(steady).values()) / fill,
    }


def cost_tables(inputs: dict[str, dict[str, Any]], memory_override: dict[str, int] | None = None) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for flow, item in inputs.items():
        memory = (memory_override or {}).get(item["function"], item["memory_mb"])
        common = dict(
            lambda_invocations=item["lambda_invocations"],
            memory_mb=memory,
            http_api_requests=item["http_api_requests"],
            sqs_requests=item["sqs_requests"],
            write_units=item["write_units"],
            read_units=item["read_units"],
            event_chunks=item["event_chunks"],
            secret_calls=item["secret_calls"],
            log_bytes=C.log_bytes(item["log_bytes_per_message"], item["lambda_invocations"]),
            traced_invocations=item["traced_invocations"],
            table_gb_months=item["table_gb_months"],
            index_gb_months=item["index_gb_months"],
            archived_event_bytes=item["archived_event_bytes"],
            archive_days=item["archive_days"],
        )
        # The intake's share of a send or broadcast runs in a function of its own, billed at its own memory.
        intake = item.get("intake") or {}
        intake_memory = (memory_override or {}).get("IntakeFunction", intake.get("memory_mb", 0))
        intake_modelled_ms = (
            C.modelled_duration_ms(intake["cpu_ms"], intake["wait_ms"], intake_memory) if intake else 0.0
        )
        # So does the relay's share: the stream records the flow's writes leave, at the relay's memory.
        relay = item.get("relay") or {}
        relay_memory = (memory_override or {}).get("RelayFunction", relay.get("memory_mb", 0))
        relay_modelled_ms = (
            C.modelled_duration_ms(relay["cpu_ms"], relay["wait_ms"], relay_memory) if relay.get("records") else 0.0
        )
        relay_measured_ms = relay.get("measured_ms", 0.0)
        measured = C.flow_cost(
            duration_ms=item["measured_ms"],
            other_gb_seconds=C.gb_seconds(intake_memory, intake.get("measured_ms", 0.0))
            + C.gb_seconds(relay_memory, relay_measured_ms),
            **common,
        )
        modelled_ms = C.modelled_duration_ms(item["cpu_ms"], item["wait_ms"], memory)
        modelled = C.flow_cost(
            duration_ms=modelled_ms,
            other_gb_seconds=C.gb_seconds(intake_memory, intake_modelled_ms)
            + C.gb_seconds(relay_memory, relay_modelled_ms),
            **common,
        )
        tables[flow] = {
            "memory_mb": memory,
            "rate": item["rate"],
            "measured_duration_ms": item["measured_ms"],
            "modelled_duration_ms": modelled_ms,
            "intake_measured_duration_ms": intake.get("measured_ms", 0.0),
            "intake_modelled_duration_ms": intake_modelled_ms,
            "relay_measured_duration_ms": relay_measured_ms,
            "relay_modelled_duration_ms": relay_modelled_ms,
            "per_million_measured": C.per_million(measured),
            "per_million_modelled": C.per_million(modelled),
        }

    # What one message costs end to end: an inbound message is one MO callback; an outbound one is a send (or one
    # broadcast recipient) plus its DLRs (the provider reports `sent`, then `received`).
    def total(flow: str, basis: str) -> float:
        return float(tables[flow][basis]["total"])

    for basis in ("per_million_measured", "per_million_modelled"):
        tables.setdefault("outbound_message", {})[basis] = total("send", basis) + 2 * total("dlr", basis)
        tables.setdefault("outbound_broadcast_recipient", {})[basis] = total("broadcast", basis) + 2 * total(
            broadcast_dlr(tables), basis
        )
        tables.setdefault("inbound_message", {})[basis] = total("mo", basis)
    tables["eums_social_per_million"] = {
        "outbound": C.PRICES["eums_social_outbound"] * 1e6,
        "inbound": C.PRICES["eums_social_inbound"] * 1e6,
    }
    return tables


def end_to_end(costs: dict[str, Any], basis: str = "per_million_measured") -> dict[str, dict[str, float]]:
    """Per 1,000,000 messages, line by line: an inbound message (an MO callback), an outbound single send and a
    broadcast recipient, each with its two DLRs."""
    lines = [name for name in costs["mo"][basis] if name != "total"]
    paths = {
        "inbound": [("mo", 1)],
        "outbound": [("send", 1), ("dlr", 2)],
        "broadcast": [("broadcast", 1), (broadcast_dlr(costs), 2)],
    }
    out = {}
    for path, parts in paths.items():
        values = {line: sum(times * costs[flow][basis][line] for flow, times in parts) for line in lines}
        values["total"] = sum(values.values())
        out[path] = values
    return out


# --- fixed monthly costs ----------------------------------------------------------------------------------------------


def custom_metrics() -> list[dict[str, Any]]:
    """Every custom metric the code emits (`observability.count`), with the dimensions it adds to `service`: found in
    the source of the wab layer and the functions, by name. A `resolver(rejections_metric=...)` names a metric that
    the resolver counts with a `reason`."""
    sources = sorted((ROOT / "layers" / "wab" / "wab").rglob("*.py")) + sorted((ROOT / "functions").rglob("*.py"))
    found: dict[str, set[str]] = {}
    for path in sources:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            keywords = {keyword.arg: _text(keyword.value) for keyword in node.keywords if keyword.arg}
            first = _text(node.args[0]) if node.args else None
            if name == "count" and isinstance(node.func, ast.Name) and first:
                found.setdefault(first, set()).update(keywords)
            elif name == "add_metric" and keywords.get("name"):
                found.setdefault(str(keywords["name"]), set())
            elif name == "resolver" and keywords.get("rejections_metric"):
                found.setdefault(str(keywords["rejections_metric"]), set()).add("reason")
    return [{"metric": metric, "dimensions": sorted(found[metric])} for metric in sorted(found)]


def _text(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def fixed_costs() -> dict[str, Any]:
    """USD a month whatever the traffic, at the template's defaults, each line with what it counts."""
    metrics = custom_metrics()
    values = C.ASSUMPTIONS["metric_values_per_dimension"]
    series = sum(values ** len(metric["dimensions"]) for metric in metrics)
    floor = len(metrics)
    alarms = T.resources_of("AWS::CloudWatch::Alarm")
    # An alarm is billed per metric it watches: a metric-math alarm for each metric of its expression.
    alarm_metrics = sum(
        sum(1 for query in T.template()["Resources"][name]["Properties"].get("Metrics", []) if "MetricStat" in query)
        or 1
        for name in alarms
    )
    dashboards = T.resources_of("AWS::CloudWatch::Dashboard")
    secrets = T.resources_of("AWS::SecretsManager::Secret")
    keys = T.resources_of("AWS::KMS::Key")
    pollers = T.sqs_event_sources()
    polls = C.idle_polls_per_month(pollers)
    lines: list[dict[str, Any]] = [
        {
            "item": "CloudWatch custom metrics",
            "count": series,
            "what": f"{len(metrics)} metric names; one series each without dimensions of its own, {values} values per "
            f"dimension otherwise (at least {floor} series)",
            "usd": series * C.PRICES["cloudwatch_metric_month"],
        },
        {
            "item": "CloudWatch alarms",
            "count": alarm_metrics,
            "what": f"{len(alarms)} AWS::CloudWatch::Alarm in template.yaml, standard resolution, billed per metric "
            "they watch (a metric-math alarm for each of its metrics)",
            "usd": alarm_metrics * C.PRICES["cloudwatch_alarm_month"],
        },
        {
            "item": "CloudWatch dashboards",
            "count": len(dashboards),
            "what": "AWS::CloudWatch::Dashboard; free if the account has fewer than 3 others",
            "usd": len(dashboards) * C.PRICES["cloudwatch_dashboard_month"],
        },
        {
            "item": "Secrets Manager secrets",
            "count": len(secrets),
            "what": "AWS::SecretsManager::Secret",
            "usd": len(secrets) * C.PRICES["secret_month"],
        },
        {
            "item": "KMS customer-managed keys",
            "count": len(keys),
            "what": "AWS::KMS::Key the stack creates at its defaults (" + (", ".join(keys) or "none") + ")",
            "usd": len(keys) * C.PRICES["kms_key_month"],
        },
        {
            "item": "SQS idle long polls",
            "count": pollers,
            "what": f"event source mappings polling their queues: {polls / 1e6:.2f} M ReceiveMessage a month",
            "usd": polls * C.PRICES["sqs_request"],
        },
        {
            "item": "DynamoDB stream polling",
            "count": len(T.stream_mappings()),
            "what": "event source mappings on the table's stream (the relay's): Lambda's reads of a DynamoDB stream "
            "are not billed, idle or not",
            "usd": 0.0,
        },
    ]
    return {
        "lines": lines,
        "total": sum(line["usd"] for line in lines),
        "metrics": metrics,
        "metric_series": series,
        "metric_series_floor": floor,
        "alarms": len(alarms),
        "alarm_metrics": alarm_metrics,
        "minimum_total": sum(line["usd"] for line in lines)
        - (series - floor) * C.PRICES["cloudwatch_metric_month"]
        - len(dashboards) * C.PRICES["cloudwatch_dashboard_month"],
    }


def break_even(fixed_per_month: float, variable_per_million: float) -> float:
    """Messages a month above which the fixed monthly cost is under C.FIXED_SHARE_THRESHOLD of the variable one."""
    return fixed_per_month / C.FIXED_SHARE_THRESHOLD / (variable_per_million / 1e6)


def all_in(results: dict[str, Any]) -> dict[str, Any]:
    """The cost per 1,000,000 messages all in (measured durations, at the modelled rate), against the targets; the
    same at high volume (full batches); the fixed monthly part and the volume from which it stops mattering."""
    paths = end_to_end(results["cost"])
    high = end_to_end(results["cost_high_volume"]) if "cost_high_volume" in results else {}
    lean = end_to_end(results["cost_lean"]) if "cost_lean" in results else {}
    lean_high = end_to_end(results["cost_lean_high_volume"]) if "cost_lean_high_volume" in results else {}
    fixed = results.get("fixed_costs") or fixed_costs()
    targets = {"inbound": C.INBOUND_TARGET_PER_MILLION, "outbound": C.OUTBOUND_TARGET_PER_MILLION}
    return {
        "rate": C.ASSUMPTIONS["messages_per_second"],
        "high_volume_rate": C.ASSUMPTIONS["high_volume_messages_per_second"],
        "paths": paths,
        "high_volume": high,
        "targets": targets,
        "met": {path: paths[path]["total"] <= target for path, target in targets.items()},
        "lean_settings": LEAN_SETTINGS,
        "lean": lean,
        "lean_high_volume": lean_high,
        "lean_met": {path: lean[path]["total"] <= target for path, target in targets.items()} if lean else {},
        "fixed_per_month": fixed["total"],
        "break_even_messages_per_month": {
            path: break_even(fixed["total"], paths[path]["total"]) for path in ("inbound", "outbound", "broadcast")
        },
    }


# --- memory sizing --------------------------------------------------------------------------------------------------


def sizing_chunk() -> int:
    """The chunk the sender is sized for: BroadcastChunkSize's default, the most the intake puts in a chunk unless the
    parameter is raised (at the default 80 messages/s the intake makes smaller ones, template_info.chunk_size)."""
    return int(T.parameter_default("BroadcastChunkSize"))


def sizing(results: dict[str, Any], inputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    cold_import = results["cold_start"]["import"]
    first = results["cold_start"]["first_invocation_preloaded"]  # it separates moto's and the provider's time out
    memory = results.get("memory", {})
    out = {}
    for handler, function in HANDLER_FUNCTION.items():
        flow = {"callbacks": "mo", "messages": "get", "sender": "send"}[handler]
        ours_first = first[handler]["ours"]
        cold_cpu_import = min(cold_import[handler]["ours_ms"])  # import is CPU-bound: its fastest run is closest
        cold_cpu_first = (
            ours_first["median_first_ms"] - ours_first["median_first_moto_ms"] - ours_first["median_first_provider_ms"]
        )
        first_ops = Counter(ours_first["first_ops"])
        cold_wait = C.wait_ms_for(dict(first_ops), "provider_send" if handler == "sender" else None)
        flows = [f for f in memory if f in ("mo", "dlr", "get", "send")]
        peaks = [memory[f]["ours"]["rss_peak_mb"] for f in flows if inputs[f]["function"] == function]
        if handler == "sender" and "broadcast" in memory:
            peaks.append(memory["broadcast"]["sender_rss_peak_mb"])
        peak = max(peaks) if peaks else float("nan")
        rule = SIZING_RULES[function]
        rows = []
        for size in MEMORY_CANDIDATES:
            warm_ms = C.modelled_duration_ms(inputs[flow]["cpu_ms"], inputs[flow]["wait_ms"], size)
            row = {
                "memory_mb": size,
                "fits": not math.isnan(peak) and peak * HEADROOM <= size,
                "cold_ms": C.modelled_duration_ms(cold_cpu_import + cold_cpu_first, cold_wait, size),
                "cold_ms_if_init_boosted": cold_cpu_import + C.modelled_duration_ms(cold_cpu_first, cold_wait, size),
                "warm_ms": warm_ms,
                "lambda_usd_per_million": (
                    size / 1024 * warm_ms / 1000 * C.PRICES["lambda_arm_gb_second"]
                    + C.PRICES["lambda_request"]
                    * (
                        inputs[flow]["lambda_invocations"]
                        - inputs[flow].get("intake", {}).get("lambda_invocations", 0)
                        - inputs[flow].get("relay", {}).get("invocations", 0)
                    )
                )
                * 1e6,
            }
            if handler == "sender":
                # The sender's part of a recipient (the intake's is apart), scaled to the largest chunk the template
                # allows by default (sizing_chunk): a number at a high enough rate gets chunks that large.
                chunk = inputs["broadcast"]
                batch = C.ASSUMPTIONS["sqs_batch"]
                largest = sizing_chunk()
                row["chunk_ms"] = C.modelled_duration_ms(
                    chunk["cpu_ms"] * largest, chunk["wait_ms"] * largest * batch, size
                )
                # Side by side, the chunks' CPU adds up (one interpreter) while their waits overlap.
                row["batch_s"] = (
                    C.modelled_duration_ms(chunk["cpu_ms"] * largest * batch, chunk["wait_ms"] * largest * batch, size)
                    / 1000
                )
                row["lambda_usd_per_million_broadcast"] = (
                    size / 1024 * row["batch_s"] / (largest * batch) * C.PRICES["lambda_arm_gb_second"]
                ) * 1e6
            limit = {name: bound * LATENCY_MARGIN for name, bound in rule.items() if name != "why"}
            row["meets"] = (
                row["fits"]
                and row["cold_ms"] <= limit["cold_ms"]
                and (row["warm_ms"] <= limit["warm_ms"] if "warm_ms" in limit else row["batch_s"] <= limit["batch_s"])
            )
            rows.append(row)
        chosen = next((row for row in rows if row["meets"]), rows[-1])
        out[function] = {
            "handler": handler,
            "template_mb": T.functions()[function]["memory"],
            "peak_rss_mb": peak,
            "cold_cpu_ms": cold_cpu_import + cold_cpu_first,
            "cold_cpu_import_ms": cold_cpu_import,
            "cold_cpu_first_ms": cold_cpu_first,
            "warm_cpu_ms": inputs[flow]["cpu_ms"],
            "warm_wait_ms": inputs[flow]["wait_ms"],
            "rule": rule,
            "rows": rows,
            "recommended_mb": chosen["memory_mb"],
        }
    return out


# --- headline ---------------------------------------------------------------------------------------------------------


def headline(results: dict[str, Any]) -> dict[str, Any]:
    import_ratios = {handler: value["ratio"] for handler, value in results["cold_start"]["import"].items()}
    first_ratios = {handler: value["ratio"] for handler, value in results["cold_start"]["first_invocation"].items()}
    warm_ratios = {flow: value["ratio"] for flow, value in results["warm"].items()}
    load = results.get("callback_load", {})
    summary = results.get("broadcast_summary", {})
    return {
        "import_ratio": {
            "values": import_ratios,
            "target": TARGETS["import_ratio"],
            "met": all(v <= TARGETS["import_ratio"] for v in import_ratios.values()),
        },
        "first_invocation_ratio": {
            "values": first_ratios,
            "target": TARGETS["first_invocation_ratio"],
            "met": all(v <= TARGETS["first_invocation_ratio"] for v in first_ratios.values()),
        },
        "warm_ratio": {
            "values": warm_ratios,
            "target": TARGETS["warm_ratio"],
            "met": all(v <= TARGETS["warm_ratio"] for v in warm_ratios.values()),
        },
        "own_code_share": {
            "value": summary.get("own_code_share"),
            "target": TARGETS["own_code_share"],
            "met": (summary.get("own_code_share") or 1) <= TARGETS["own_code_share"],
        },
        "callback_errors_and_losses": {
            "values": {
                flow: {"errors": v["errors"], "records_lost": v["records_lost"], "events_lost": v["events_lost"]}
                for flow, v in load.items()
            },
            "met": all(v["errors"] == 0 and v["records_lost"] == 0 and v["events_lost"] == 0 for v in load.values()),
        },
    }


# --- the send path: what pacing and ordering cost ---------------------------------------------------------------------


def request_price(key: str) -> tuple[str, float]:
    """The cost-model line and unit price of one request, from a `requests_summary` key (`service.Operation [target]`).
    Every item the send path writes on its retry path (the rate budget, attempt counters, idempotency claims) is under
    1 KB and on no index: one write unit; a read one read unit."""
    service, _, operation = key.split(" ", 1)[0].partition(".")
    if service == "dynamodb":
        if operation in ("GetItem", "Query", "BatchGetItem"):
            return "DynamoDB reads", C.PRICES["dynamodb_read_unit"]
        return "DynamoDB writes", C.PRICES["dynamodb_write_unit"]
    if service == "sqs":
        return "SQS", C.PRICES["sqs_request"]
    if service == "events":
        return "EventBridge", C.PRICES["eventbridge_event"]
    if service == "secretsmanager":
        return "Secrets Manager", C.PRICES["secrets_api_call"]
    return "other", 0.0


def sendpath_cost(results: dict[str, Any]) -> dict[str, Any]:
    """What pacing (the rate budget) and ordering (the intake, FIFO lanes) add per 1,000,000 messages, from the cost
    model's inputs (steady traffic, batches as full as it makes them) and from the send-path scenarios (measured on the
    local stack); and whether the outbound path is within C.OUTBOUND_TARGET_PER_MILLION."""
    inputs, cost = results["cost_inputs"], results["cost"]
    send, broadcast = inputs["send"], inputs["broadcast"]
    lane_batch = send["batch_fill"]["priority lane → sender"]
    bulk_batch = broadcast["batch_fill"]["bulk lane → sender"]
    fifo_premium = C.PRICES["sqs_request"] - C.SQS_STANDARD_REQUEST

    def intake_lines(intake: dict[str, Any], lane_requests: float, rate: float) -> dict[str, float]:
        lines = C.flow_cost(
            lambda_invocations=intake["lambda_invocations"],
            duration_ms=intake["measured_ms"],
            memory_mb=intake["memory_mb"],
            http_api_requests=0,
            sqs_requests=intake["sqs_requests"] + lane_requests,
            write_units=0,
            read_units=0,
            event_chunks=0,
            secret_calls=0,
            log_bytes=C.log_bytes(intake["log_bytes"], intake["lambda_invocations"]),
            traced_invocations=traced({"IntakeFunction": intake["lambda_invocations"]}, rate),
        )
        return {name: value * 1e6 for name, value in lines.items()}

    # A single send: the budget's conditional PutItem; the intake (its invocation share, its SendMessageBatch share,
    # the lane's ReceiveMessage + DeleteMessageBatch per batch); FIFO's premium on what a standard queue carried before.
    single_intake = intake_lines(send["intake"], 2 / lane_batch, send["rate"])
    single_old_sqs = send["sqs_requests"] - send["intake"]["sqs_requests"] - 2 / lane_batch
    chunk = broadcast["chunk_recipients"]
    bulk_intake = intake_lines(broadcast["intake"], 2 / (chunk * bulk_batch), broadcast["rate"])
    broadcast_old_sqs = broadcast["sqs_requests"] - broadcast["intake"]["sqs_requests"] - 2 / (chunk * bulk_batch)
    steady = {
        "single_send": [
            {
                "item": "rate budget: one conditional PutItem (RATE#, 1 write unit) per batch of single sends",
                "requests": send.get("rate_budget_writes", 1.0),
                "usd": send.get("rate_budget_writes", 1.0) * C.PRICES["dynamodb_write_unit"] * 1e6,
            },
            {
                "item": "intake: invocation share, SendMessageBatch to the lane, the lane's Receive + Delete",
                "requests": send["intake"]["aws_requests"] + 2 / lane_batch,
                "usd": single_intake["total"],
            },
            {
                "item": "FIFO instead of standard SQS on the send queue's requests",
                "requests": 0.0,
                "usd": single_old_sqs * fifo_premium * 1e6,
            },
        ],
        "broadcast_recipient": [
            {
                "item": f"rate budget: one PutItem per chunk of {chunk}",
                "requests": 1 / chunk,
                "usd": C.PRICES["dynamodb_write_unit"] / chunk * 1e6,
            },
            {
                "item": "intake: the split, SendMessageBatch per 10 chunks, the bulk lane's Receive + Delete",
                "requests": broadcast["intake"]["aws_requests"] + 2 / (chunk * bulk_batch),
                "usd": bulk_intake["total"],
            },
            {
                "item": "FIFO instead of standard SQS on the send queue's requests",
                "requests": 0.0,
                "usd": broadcast_old_sqs * fifo_premium * 1e6,
            },
        ],
    }
    out: dict[str, Any] = {
        "steady": steady,
        "steady_total": {flow: sum(line["usd"] for line in lines) for flow, lines in steady.items()},
        "steady_requests": {flow: sum(line["requests"] for line in lines) for flow, lines in steady.items()},
        "chunk_recipients": chunk,
    }

    measured = results.get("sendpath", {})
    pacing = measured.get("pacing", {})
    if pacing.get("alone", {}).get("aws_requests"):
        alone = pacing["alone"]["aws_requests"]
        during = pacing["aws_requests"]
        out["budget_writes"] = {
            "single_alone_per_message": _matching(alone["per_message"], "[RATE]"),
            "single_alone_failed_per_message": _matching(alone["failed"], "[RATE]") / max(alone["messages"], 1),
            "broadcast_per_message": _matching(during["per_message"], "[RATE]"),
            "broadcast_failed_per_message": _matching(during["failed"], "[RATE]") / max(during["messages"], 1),
            "broadcast_chunk_recipients": measured.get("chunk_recipients"),
        }
    order = measured.get("order", {})
    if order.get("aws_requests") and pacing.get("alone", {}).get("aws_requests"):
        faults = order["aws_requests"]["per_message"]
        alone_per = pacing["alone"]["aws_requests"]["per_message"]
        extra = {key: faults[key] - alone_per.get(key, 0.0) for key in faults}
        extra = {key: value for key, value in extra.items() if value > 0}
        lines: dict[str, float] = {}
        for key, value in extra.items():
            line, price = request_price(key)
            lines[line] = lines.get(line, 0.0) + value * price * 1e6
        invocations = {
            name: order["aws_requests"]["invocations_per_message"][name]
            - pacing["alone"]["aws_requests"]["invocations_per_message"].get(name, 0.0)
            for name in order["aws_requests"]["invocations_per_message"]
        }
        lines["Lambda requests"] = sum(max(0.0, v) for v in invocations.values()) * C.PRICES["lambda_request"] * 1e6
        out["under_faults"] = {
            "error_rate": order["error_rate"],
            "throttle_rate": order["throttle_rate"],
            "provider_calls_per_message": order["calls_per_message"],
            "extra_requests_per_message": dict(sorted(extra.items(), key=lambda item: -item[1])),
            "extra_requests_total": sum(extra.values()),
            "budget_writes_per_message": _matching(faults, "[RATE]"),
            "budget_refused_per_message": _matching(order["aws_requests"]["failed"], "[RATE]")
            / max(order["aws_requests"]["messages"], 1),
            "extra_invocations_per_message": invocations,
            "usd_lines": lines,
            "usd_total": sum(lines.values()),
        }

    # The outbound path on AWS: a send and its two DLRs (the cost model's own breakdown), against the target.
    breakdown = {
        name: cost["send"]["per_million_measured"][name] + 2 * cost["dlr"]["per_million_measured"][name]
        for name in cost["send"]["per_million_measured"]
        if name != "total"
    }
    total = cost["outbound_message"]["per_million_measured"]
    out["outbound"] = {
        "per_million_measured": total,
        "per_million_modelled": cost["outbound_message"]["per_million_modelled"],
        "broadcast_recipient_per_million_measured": cost["outbound_broadcast_recipient"]["per_million_measured"],
        "target": C.OUTBOUND_TARGET_PER_MILLION,
        "met": total <= C.OUTBOUND_TARGET_PER_MILLION,
        "breakdown": dict(sorted(breakdown.items(), key=lambda item: -item[1])),
        "under_faults_per_million": total + out.get("under_faults", {}).get("usd_total", 0.0),
    }
    return out


def _matching(values: dict[str, float], marker: str) -> float:
    return sum(value for key, value in values.items() if marker in key)
