"""From raw measurements to the report's figures: ratios against targets, cost per million, memory recommendations."""

from __future__ import annotations

import math
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


def flow_inputs(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per message of each flow: requests, units, measured and modelled Lambda durations.

    A send or a broadcast goes bus → send queue → intake → lane → sender: besides the sender's own requests it pays
    for the request event, EventBridge's SendMessage to the send queue, the intake (an invocation per batch, its
    SendMessageBatch to the lane) and each queue's ReceiveMessage and DeleteMessageBatch per batch (`intake`)."""
    functions = T.functions()
    warm, calls = results["warm"], results["aws_calls"]
    batch = C.ASSUMPTIONS["sqs_batch"]
    intake_memory = functions["IntakeFunction"]["memory"]
    out: dict[str, dict[str, Any]] = {}
    for flow, function, http in (
        ("mo", "CallbacksFunction", 1),
        ("dlr", "CallbacksFunction", 1),
        ("get", "MessagesFunction", 1),
        ("send", "SenderFunction", 0),
    ):
        steady = calls[flow]["ours"]["steady"]
        write, read, chunks = C.units(steady)
        ours = warm[flow]["ours"]
        cpu = ours["median_not_moto_ms"] - ours["median_provider_ms"]
        wait = C.wait_ms_for(op_counts(steady), "provider_send" if flow == "send" else None)
        if flow == "send":
            wait /= batch  # a full batch's records wait side by side (wab.batch): each bills a tenth of its wait
        out[flow] = {
            "function": function,
            "memory_mb": functions[function]["memory"],
            "lambda_invocations": 1 / batch if flow == "send" else 1,
            "measured_ms": ours["median_ms"],
            "cpu_ms": cpu,
            "wait_ms": wait,
            "http_api_requests": http,
            "sqs_requests": 0.0,
            "write_units": write,
            "read_units": read,
            "event_chunks": chunks,
            # a one-record invocation's logs; counted per message also in batches (an upper bound); HTTP API access log
            "log_bytes_per_message": calls[flow]["ours"]["log_bytes_per_invocation"]
            + http * C.ASSUMPTIONS["http_api_access_log_bytes"],
            "aws_requests": sum(op_counts(steady).values()),
        }
    intake = intake_inputs(calls["intake"], intake_memory)
    send = out["send"]
    send["intake"] = intake
    # The request: its event on the bus, EventBridge's SendMessage to the send queue; the intake's share of a batch;
    # the send queue's and the lane's ReceiveMessage + DeleteMessageBatch per batch.
    send["event_chunks"] += 1
    send["sqs_requests"] = 1 + 2 / batch + intake["sqs_requests"] + 2 / batch
    send["lambda_invocations"] += intake["lambda_invocations"]
    send["log_bytes_per_message"] += intake["log_bytes"]
    send["aws_requests"] += intake["aws_requests"]

    chunk_calls = calls["chunk"]["ours"]["steady"]
    write, read, chunks = C.units(chunk_calls)
    recipients = calls["chunk"]["recipients"]
    profile = results.get("broadcast_summary", {})
    split = results.get("memory", {}).get("broadcast", {})
    size = split.get("recipients") or C.ASSUMPTIONS["broadcast_recipients"]  # recipients of the broadcast request
    chunk_wait = C.wait_ms_for(op_counts(chunk_calls), "provider_broadcast", parallel={"dynamodb.UpdateItem": 16})
    # The intake's part, per recipient: the request (as for a send) over the broadcast's recipients, and the split,
    # measured (its wall time, SendMessageBatch calls included, taken as CPU: an upper bound).
    split_ms = split.get("split_ms", 0.0)
    broadcast_intake = {
        "memory_mb": intake_memory,
        "lambda_invocations": 1 / batch / size,
        "measured_ms": split_ms / size,
        "cpu_ms": split_ms / size,
        "wait_ms": 0.0,
        "log_bytes": split.get("split_log_bytes", 0.0) / size,
        "sqs_requests": 1 / (SQS_BATCH_ENTRIES * recipients),  # the chunks go to the lane ten per SendMessageBatch
        "aws_requests": 1 / (SQS_BATCH_ENTRIES * recipients),
    }
    out["broadcast"] = {
        "function": "SenderFunction",
        "memory_mb": functions["SenderFunction"]["memory"],
        "chunk_recipients": recipients,
        "broadcast_recipients": size,
        "lambda_invocations": 1 / (recipients * batch) + broadcast_intake["lambda_invocations"],
        "measured_ms": profile.get("chunk_ms_median", float("nan")) / recipients,
        "cpu_ms": profile.get("chunk_cpu_ms_median", float("nan")) / recipients,
        "wait_ms": chunk_wait / recipients / batch,  # the chunks of a batch wait side by side too
        "intake": broadcast_intake,
        "http_api_requests": 0,
        # the request (its SendMessage, the send queue's Receive + DeleteMessageBatch) over the broadcast's
        # recipients; the intake's SendMessageBatch per ten chunks; the bulk lane's Receive + DeleteMessageBatch per
        # batch of chunks
        "sqs_requests": (1 + 2 / batch) / size + broadcast_intake["sqs_requests"] + 2 / (recipients * batch),
        "write_units": write / recipients,
        "read_units": read / recipients,
        "event_chunks": chunks / recipients + 1 / size,  # the Accepted events; the request's event
        "log_bytes_per_message": calls["chunk"]["ours"]["log_bytes_per_invocation"] / recipients
        + broadcast_intake["log_bytes"],
        "aws_requests": sum(op_counts(chunk_calls).values()) / recipients + broadcast_intake["aws_requests"],
    }
    return out


def intake_inputs(intake: dict[str, Any], memory_mb: int) -> dict[str, Any]:
    """The intake's part of one request, from a batch of `requests` routed to the lane (measured in-process)."""
    requests = intake["requests"]
    steady = intake["ours"]["steady"]
    warm = intake["ours"].get("warm", {})
    return {
        "memory_mb": memory_mb,
        "lambda_invocations": 1 / requests,
        "measured_ms": warm.get("median_ms", float("nan")) / requests,
        "cpu_ms": (warm.get("median_not_moto_ms", float("nan")) - warm.get("median_provider_ms", 0.0)) / requests,
        "wait_ms": C.wait_ms_for(op_counts(steady)) / requests,
        "log_bytes": intake["ours"]["log_bytes_per_invocation"] / requests,
        "sqs_requests": sum(value["chunks"] for op, value in steady.items() if op.startswith("sqs.")) / requests,
        "aws_requests": sum(op_counts(steady).values()) / requests,
    }


def cost_tables(inputs: dict[str, dict[str, Any]], memory_override: dict[str, int] | None = None) -> dict[str, Any]:
    tables = {}
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
            secret_calls=C.secret_calls_per_message() if flow != "get" else 0,
            log_bytes=C.log_bytes(item["log_bytes_per_message"], item["lambda_invocations"]),
            traced_invocations=C.ASSUMPTIONS["xray_sampled_share"] * item["lambda_invocations"],
        )
        # The intake's share of a send or broadcast runs in a function of its own, billed at its own memory.
        intake = item.get("intake") or {}
        intake_memory = (memory_override or {}).get("IntakeFunction", intake.get("memory_mb", 0))
        intake_modelled_ms = (
            C.modelled_duration_ms(intake["cpu_ms"], intake["wait_ms"], intake_memory) if intake else 0.0
        )
        measured = C.flow_cost(
            duration_ms=item["measured_ms"],
            other_gb_seconds=C.gb_seconds(intake_memory, intake.get("measured_ms", 0.0)),
            **common,
        )
        modelled_ms = C.modelled_duration_ms(item["cpu_ms"], item["wait_ms"], memory)
        modelled = C.flow_cost(
            duration_ms=modelled_ms, other_gb_seconds=C.gb_seconds(intake_memory, intake_modelled_ms), **common
        )
        tables[flow] = {
            "memory_mb": memory,
            "measured_duration_ms": item["measured_ms"],
            "modelled_duration_ms": modelled_ms,
            "intake_measured_duration_ms": intake.get("measured_ms", 0.0),
            "intake_modelled_duration_ms": intake_modelled_ms,
            "per_million_measured": C.per_million(measured),
            "per_million_modelled": C.per_million(modelled),
        }

    # What one message costs end to end: an inbound message is one MO callback; an outbound one is a send (or one
    # broadcast recipient) plus its DLRs (the provider reports `sent`, then `received`).
    def total(flow: str, basis: str) -> float:
        return tables[flow][basis]["total"]

    for basis in ("per_million_measured", "per_million_modelled"):
        tables.setdefault("outbound_message", {})[basis] = total("send", basis) + 2 * total("dlr", basis)
        tables.setdefault("outbound_broadcast_recipient", {})[basis] = total("broadcast", basis) + 2 * total(
            "dlr", basis
        )
        tables.setdefault("inbound_message", {})[basis] = total("mo", basis)
    tables["eums_social_per_million"] = {
        "outbound": C.PRICES["eums_social_outbound"] * 1e6,
        "inbound": C.PRICES["eums_social_inbound"] * 1e6,
    }
    return tables


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
                    * (inputs[flow]["lambda_invocations"] - inputs[flow].get("intake", {}).get("lambda_invocations", 0))
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
    model's inputs (steady state, batches of ten) and from the send-path scenarios (measured on the local stack); and
    whether the outbound path is within C.OUTBOUND_TARGET_PER_MILLION."""
    inputs, cost = results["cost_inputs"], results["cost"]
    send, broadcast = inputs["send"], inputs["broadcast"]
    batch = C.ASSUMPTIONS["sqs_batch"]
    fifo_premium = C.PRICES["sqs_request"] - C.SQS_STANDARD_REQUEST

    def intake_lines(intake: dict[str, Any], lane_requests: float) -> dict[str, float]:
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
            traced_invocations=C.ASSUMPTIONS["xray_sampled_share"] * intake["lambda_invocations"],
        )
        return {name: value * 1e6 for name, value in lines.items()}

    # A single send: the budget's conditional PutItem; the intake (its invocation share, its SendMessageBatch share,
    # the lane's ReceiveMessage + DeleteMessageBatch per batch); FIFO's premium on what a standard queue carried before.
    single_intake = intake_lines(send["intake"], 2 / batch)
    single_old_sqs = send["sqs_requests"] - send["intake"]["sqs_requests"] - 2 / batch
    chunk = broadcast["chunk_recipients"]
    bulk_intake = intake_lines(broadcast["intake"], 2 / (chunk * batch))
    broadcast_old_sqs = broadcast["sqs_requests"] - broadcast["intake"]["sqs_requests"] - 2 / (chunk * batch)
    steady = {
        "single_send": [
            {
                "item": "rate budget: one conditional PutItem (RATE#, 1 write unit) per send",
                "requests": 1.0,
                "usd": C.PRICES["dynamodb_write_unit"] * 1e6,
            },
            {
                "item": "intake: invocation share, SendMessageBatch to the lane, the lane's Receive + Delete",
                "requests": send["intake"]["aws_requests"] + 2 / batch,
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
                "requests": broadcast["intake"]["aws_requests"] + 2 / (chunk * batch),
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
