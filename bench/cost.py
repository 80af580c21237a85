"""What a million messages cost in each flow, from the measured requests, sizes and durations.

Prices are public us-east-1 list prices (no free tier, first pricing tier), in one table with the date they were
taken from the AWS pricing pages; they are not fetched at run time. Assumptions the measurements cannot give (how
often secrets are re-read, what share of requests X-Ray samples, how large a batch the SQS poller hands over) are
named in ASSUMPTIONS and printed in the report next to the result.
"""

from __future__ import annotations

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
}
ASSUMPTIONS = {
    "messages_per_second": 10,  # steady traffic, for how often a warm container re-reads its secret
    "secret_max_age_s": 300,  # SECRET_MAX_AGE_SECONDS default: one GetSecretValue per container per 5 min
    "xray_sampled_share": 0.05,  # X-Ray's default rule: 1 request/s, then 5 %; at volume about 5 %
    "sqs_batch": 10,  # SenderBatchSize and the intake's batch size (template) under sustained load
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
) -> dict[str, float]:
    """USD per message for each line item (all arguments per message; `other_gb_seconds`: another function's
    duration in the same flow, at its own memory)."""
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
    }
    lines["total"] = sum(lines.values())
    return lines


def gb_seconds(memory_mb: float, duration_ms: float) -> float:
    return memory_mb / 1024 * duration_ms / 1000


def secret_calls_per_message() -> float:
    """One warm container re-reading its secret every max-age seconds, at the assumed steady rate."""
    return 1 / (ASSUMPTIONS["messages_per_second"] * ASSUMPTIONS["secret_max_age_s"])


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
# What the outbound path (a send and its two DLRs) should cost on AWS, per million messages.
OUTBOUND_TARGET_PER_MILLION = 15.0
