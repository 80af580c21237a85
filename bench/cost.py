"""What a million messages cost in each flow, from the measured requests, sizes and durations.

Prices are public us-east-1 list prices (no free tier, first pricing tier), in one table with the date they were
taken from the AWS pricing pages; they are not fetched at run time. Assumptions the measurements cannot give (how
often secrets are re-read, the traffic that sets how full the SQS batches are and what share of requests X-Ray
traces, how long a poll takes) are named in ASSUMPTIONS and printed in the report next to the result.

Per message: requests, Lambda time, logs, traces, and the storage a message leaves behind (DynamoDB and its
point-in-time recovery for as long as the item lives, the bus's archive). Per month whatever the traffic: custom
metrics, alarms, dashboards, secrets, keys and the queues' idle polls; the table stream's mapping polls for
free (`analysis.fixed_costs`). The relay's batches on the stream: `stream_shards`, `stream_batch_fill`.
"""

from __future__ import annotations

import math
from typing import Any

PRICES_AS_OF = "2025-11 (AWS public pricing pages, us-east-1; not re-checked at run time)"
PRICE_UNITS = {
    "lambda_arm_gb_second": "per GB-second",
    "lambda_request": "per request",
    "http_api_request": "per request",
    "sqs_request": "per request (64 KB), FIFO queue",
    "dynamodb_write_unit": "per write request unit",
    "dynamodb_read_unit": "per read request unit",
    "eventbridge_event": "per event (64 KB)",
    "secrets_api_call": "per API call",
    "logs_ingest_gb": "per GB ingested",
    "xray_trace": "per trace recorded",
    "eums_social_outbound": "per outbound message",
    "eums_social_inbound": "per inbound message",
    "dynamodb_storage_gb_month": "per GB-month stored (Standard table class)",
    "dynamodb_pitr_gb_month": "per GB-month of table size (continuous backups)",
    "events_archive_gb": "per GB of events archived",
    "events_archive_gb_month": "per GB-month in the archive",
    "cloudwatch_metric_month": "per custom metric a month (first 10,000)",
    "cloudwatch_alarm_month": "per standard-resolution alarm metric a month",
    "cloudwatch_dashboard_month": "per dashboard a month (beyond 3 free)",
    "secret_month": "per secret a month",
    "kms_key_month": "per customer-managed key a month",
}
PRICES = {
    "lambda_arm_gb_second": 0.0000133334,  # Lambda, arm64, first tier
    "lambda_request": 0.20 / 1e6,  # Lambda requests
    "http_api_request": 1.00 / 1e6,  # API Gateway HTTP API, first 300 M/month
    "sqs_request": 0.50 / 1e6,  # SQS FIFO queue (every queue of the send path is one), per 64 KB chunk of a request
    "dynamodb_write_unit": 0.625 / 1e6,  # DynamoDB on-demand write request unit (1 KB)
    "dynamodb_read_unit": 0.125 / 1e6,  # DynamoDB on-demand read request unit (4 KB strongly consistent)
    "eventbridge_event": 1.00 / 1e6,  # EventBridge custom event, per 64 KB chunk
    "secrets_api_call": 0.05 / 10_000,  # Secrets Manager API calls
    "logs_ingest_gb": 0.50,  # CloudWatch Logs standard ingestion
    "xray_trace": 5.00 / 1e6,  # X-Ray traces recorded
    "eums_social_outbound": 0.005,  # AWS End User Messaging Social, per outbound message (excl. Meta)
    "eums_social_inbound": 0.001,  # AWS End User Messaging Social, per inbound message (excl. Meta)
    "dynamodb_storage_gb_month": 0.25,  # DynamoDB Standard table class, after the first 25 GB
    "dynamodb_pitr_gb_month": 0.20,  # DynamoDB continuous backups (point-in-time recovery)
    "events_archive_gb": 0.10,  # EventBridge archive, events processed into it
    "events_archive_gb_month": 0.023,  # EventBridge archive storage
    "cloudwatch_metric_month": 0.30,  # CloudWatch custom metrics (EMF included), first 10,000
    "cloudwatch_alarm_month": 0.10,  # CloudWatch standard-resolution metric alarm
    "cloudwatch_dashboard_month": 3.00,  # CloudWatch dashboard, beyond the account's 3 free ones
    "secret_month": 0.40,  # Secrets Manager secret
    "kms_key_month": 1.00,  # KMS customer-managed key
}
# Prices per month or per GB: the report gives no "per million units" for them.
MONTHLY_OR_PER_GB = {
    name
    for name, unit in PRICE_UNITS.items()
    if "month" in unit or (unit.startswith("per GB") and "second" not in unit)
}
ASSUMPTIONS = {
    "messages_per_second": 10,  # steady traffic, for how often a warm container re-reads its secret
    "secret_max_age_s": 300,  # SECRET_MAX_AGE_SECONDS default: one GetSecretValue per container per 5 min
    # Lambda's active tracing: the first request each second of each function, then 5 % of the rest (xray_share)
    "xray_reservoir_per_s": 1,
    "xray_rate": 0.05,
    "sqs_batch": 10,  # the most records an SQS batch holds (SenderBatchSize, the intake's BatchSize)
    # From a message's arrival on a queue to its batch's handler starting: the poller's ReceiveMessage and the invoke
    # (batch_fill adds it to the handler's modelled duration)
    "poll_to_invoke_ms": 20,
    "high_volume_messages_per_second": 1000,  # the other end: enough traffic to fill every batch
    # The table's stream (the relay's event source): about one open shard per table partition, each handed to the
    # relay on its own (ParallelizationFactor 1); a partition holds at most 10 GB and takes at most 1,000 write units
    # a second; a new on-demand table starts with the partitions of 4,000 writes a second
    "partition_gb": 10,
    "partition_write_units_per_s": 1000,
    "stream_shards_at_least": 4,
    "metric_values_per_dimension": 5,  # values a dimension takes in a month (error codes, statuses, message types)
    "days_per_month": 30.4,
    "broadcast_recipients": 10_000,  # a broadcast request's recipients, when no broadcast was measured
    "lambda_platform_log_bytes": 330,  # START, END, REPORT (+ XRAY TraceId) lines Lambda writes per invocation
    "http_api_access_log_bytes": 420,  # one JSON line per request in the template's access log format
    "logs_event_overhead_bytes": 26,  # CloudWatch Logs bills 26 bytes per log event on top of the message
}
LAMBDA_FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB and a proportional share below
# Round trips the local measurements cannot show (moto answers in-process, the simulator on loopback). Assumed
# same-region medians; used only for the "modelled in Lambda" durations and the memory sizing, never for ratios.
ASSUMED_LATENCY_MS = {
    "dynamodb": 5.0,
    "dynamodb_batch": 10.0,
    "events": 15.0,
    "secretsmanager": 20.0,
    "sqs": 10.0,
    "provider_send": 150.0,
    "provider_broadcast": 400.0,
}


def lambda_cpu_scale(memory_mb: int) -> float:
    """How much slower CPU-bound work runs at `memory_mb` than on a full vCPU (taken as this machine's one core)."""
    return max(1.0, LAMBDA_FULL_VCPU_MB / memory_mb)


def modelled_duration_ms(cpu_ms: float, wait_ms: float, memory_mb: int) -> float:
    return cpu_ms * lambda_cpu_scale(memory_mb) + wait_ms


def wait_ms_for(calls: dict[str, int], provider: str | None = None, parallel: dict[str, int] | None = None) -> float:
    """Assumed time waiting on AWS (and the provider) for these calls; `parallel` divides a call's count by the
    number of threads it runs on (the sender settles a chunk's records on 16 threads)."""
    total = 0.0
    for operation, count in calls.items():
        service, _, name = operation.partition(".")
        key = "dynamodb_batch" if name.startswith("Batch") else service
        width = (parallel or {}).get(operation, 1)
        total += ASSUMED_LATENCY_MS.get(key, 10.0) * count / width
    if provider:
        total += ASSUMED_LATENCY_MS[provider]
    return total


def flow_cost(
    *,
    lambda_invocations: float,
    duration_ms: float,
    memory_mb: int,
    http_api_requests: float,
    sqs_requests: float,
    write_units: float,
    read_units: float,
    event_chunks: float,
    secret_calls: float,
    log_bytes: float,
    traced_invocations: float,
    other_gb_seconds: float = 0.0,
    table_gb_months: float = 0.0,
    index_gb_months: float = 0.0,
    archived_event_bytes: float = 0.0,
    archive_days: float = 0.0,
) -> dict[str, float]:
    """USD per message for each line item (all arguments per message; `other_gb_seconds`: another function's
    duration in the same flow, at its own memory; `table_gb_months` / `index_gb_months`: what the items the message
    leaves behind occupy on the table and its indexes over their lifetime, `storage_gb_months`; point-in-time
    recovery bills the table's size, without its global secondary indexes)."""
    lines = {
        "Lambda requests": lambda_invocations * PRICES["lambda_request"],
        "Lambda duration": (gb_seconds(memory_mb, duration_ms) + other_gb_seconds) * PRICES["lambda_arm_gb_second"],
        "HTTP API": http_api_requests * PRICES["http_api_request"],
        "SQS": sqs_requests * PRICES["sqs_request"],
        "DynamoDB writes": write_units * PRICES["dynamodb_write_unit"],
        "DynamoDB reads": read_units * PRICES["dynamodb_read_unit"],
        "EventBridge": event_chunks * PRICES["eventbridge_event"],
        "Secrets Manager": secret_calls * PRICES["secrets_api_call"],
        "CloudWatch Logs": log_bytes / 2**30 * PRICES["logs_ingest_gb"],
        "X-Ray": traced_invocations * PRICES["xray_trace"],
        "DynamoDB storage": (table_gb_months + index_gb_months) * PRICES["dynamodb_storage_gb_month"],
        "DynamoDB PITR": table_gb_months * PRICES["dynamodb_pitr_gb_month"],
        "EventBridge archive": archived_event_bytes
        / 2**30
        * (PRICES["events_archive_gb"] + PRICES["events_archive_gb_month"] * months(archive_days)),
    }
    lines["total"] = sum(lines.values())
    return lines


def gb_seconds(memory_mb: float, duration_ms: float) -> float:
    return memory_mb / 1024 * duration_ms / 1000


def secret_calls_per_message(rate: float | None = None) -> float:
    """One warm container re-reading its secret every max-age seconds, at `rate` messages a second (default: the
    assumed steady rate)."""
    return 1 / ((rate or ASSUMPTIONS["messages_per_second"]) * ASSUMPTIONS["secret_max_age_s"])


def months(days: float) -> float:
    return days / ASSUMPTIONS["days_per_month"]


def storage_gb_months(size_bytes: float, days: float) -> float:
    """GB-months an item of `size_bytes` (as billed: attributes + 100 bytes) occupies when kept `days` days."""
    return size_bytes / 2**30 * months(days)


def xray_share(requests_per_second: float) -> float:
    """The share of a function's requests Lambda's active tracing records at this rate: the reservoir (one a second),
    then a fixed rate of the rest. Lambda does not apply custom sampling rules."""
    reservoir, rate = ASSUMPTIONS["xray_reservoir_per_s"], ASSUMPTIONS["xray_rate"]
    if requests_per_second <= reservoir:
        return 1.0
    return (reservoir + rate * (requests_per_second - reservoir)) / requests_per_second


def batch_fill(messages_per_second: float, batch_ms: float) -> float:
    """Records per SQS batch the poller hands a function, expected: whatever arrived while the previous batch ran
    (`batch_ms`, the handler's time for a batch plus the poll), at least one, at most a full batch. FIFO queues take
    no batching window, so nothing waits to fill a batch."""
    arrived = messages_per_second * (batch_ms + ASSUMPTIONS["poll_to_invoke_ms"]) / 1000
    return min(float(ASSUMPTIONS["sqs_batch"]), max(1.0, arrived))


def stream_shards(table_gb: float, write_units_per_s: float) -> float:
    """Open shards of the table's stream: one per partition, as many as the table's size or its writes need."""
    return float(
        max(
            ASSUMPTIONS["stream_shards_at_least"],
            math.ceil(table_gb / ASSUMPTIONS["partition_gb"]),
            math.ceil(write_units_per_s / ASSUMPTIONS["partition_write_units_per_s"]),
        )
    )


def stream_batch_fill(records_per_shard_per_s: float, window_s: float, batch_size: int) -> float:
    """Stream records per relay batch, expected: a shard's first record opens the batching window and the records
    that reach the shard while it is open join it, up to the batch size. A DynamoDB stream mapping has a window
    (unlike FIFO queues), so a batch waits to fill; no record waits longer than the window."""
    return min(float(batch_size), 1.0 + records_per_shard_per_s * window_s)


def distinct_keys(events: float, keys: int) -> float:
    """Expected distinct keys among `events` spread evenly over `keys` (a reference's counter shards): the counter
    writes one relay batch makes for that many counted events of one reference."""
    if events <= 0:
        return 0.0
    return keys * (1 - (1 - 1 / keys) ** events)


def idle_polls_per_month(event_sources: int) -> float:
    """Lambda keeps 5 long polls of 20 s on an idle queue: 15 ReceiveMessage a minute per event source."""
    return event_sources * 5 * 3 * 60 * 24 * ASSUMPTIONS["days_per_month"]


def log_bytes(function_bytes_per_message: float, invocations_per_message: float) -> float:
    """What the handler logs per message, plus Lambda's own lines (and CloudWatch's per-event bytes) per invocation."""
    platform = ASSUMPTIONS["lambda_platform_log_bytes"] + 4 * ASSUMPTIONS["logs_event_overhead_bytes"]
    return function_bytes_per_message + platform * invocations_per_message


def units(steady: dict[str, Any]) -> tuple[float, float, float]:
    """(write units, read units, EventBridge chunks) of one invocation's calls (from `awscalls.summarize`)."""
    write = sum(value["wru"] for value in steady.values())
    read = sum(value["rru"] for value in steady.values())
    chunks = sum(value["chunks"] for op, value in steady.items() if op.startswith("events."))
    return write, read, chunks


def per_million(lines: dict[str, float]) -> dict[str, float]:
    return {name: value * 1e6 for name, value in lines.items()}


# The send path before the lanes used a standard queue; every queue of the send path is FIFO now.
SQS_STANDARD_REQUEST = 0.40 / 1e6
# What the outbound path (a send and its two DLRs) and an inbound message (an MO callback) should cost on AWS, per
# million messages, all in: storage, point-in-time recovery, batches as full as the traffic makes them, tracing.
OUTBOUND_TARGET_PER_MILLION = 15.0
INBOUND_TARGET_PER_MILLION = 6.0
# The fixed monthly costs are small next to the variable ones once they are under this share of them.
FIXED_SHARE_THRESHOLD = 0.10
