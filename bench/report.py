"""bench/report.md, bench/README-section.md and the PNG plots, from results.json's content."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench import analysis as A
from bench import cost as C
from bench import sendreport as S
from bench import template_info as T
from bench.sendreport import fmt, met, table

FLOW_NAMES = {
    "mo": "MO callback",
    "dlr": "DLR callback",
    "send": "single send",
    "get": "record read (GET /messages/{id})",
    "chunk": "broadcast chunk",
    "intake": "intake (a batch of send requests)",
}
HANDLER_NAMES = {"callbacks": "callbacks", "messages": "messages", "sender": "sender"}
# Why each request is made (the gateway's design; see README "How it stays correct").
WHY = {
    "mo": [
        (
            "secretsmanager.GetSecretValue",
            "first invocation of a container only (Powertools cache, 300 s): the HTTP "
            "Basic credentials the provider's callback must carry",
        ),
        (
            "dynamodb.PutItem",
            "the record and its `Received` event (in the record's outbox) in one conditional write: "
            "stored and to-be-published together; `attribute_not_exists` makes a retried callback a no-op",
        ),
        (
            "dynamodb.PutItem",
            "WAMID#: points the message's WhatsApp id at its record, so an edit or deletion finds it; conditional, "
            "so one that came first is found (and applied before the event goes out)",
        ),
        (
            "dynamodb.UpdateItem",
            "CONTACT#: moves the contact's 24-hour window forward (never back) before the event "
            "goes out, so a subscriber replying at once is inside the window",
        ),
        ("events.PutEvents", "publishes `WhatsApp Message Received`"),
        (
            "dynamodb.UpdateItem",
            "removes the published event from the outbox (a later retry must not publish it again)",
        ),
    ],
    "dlr": [
        ("secretsmanager.GetSecretValue", "first invocation of a container only: the callback credentials"),
        (
            "dynamodb.GetItem",
            "reads the record's status, history and version: statuses only move forward, each status is kept once",
        ),
        (
            "dynamodb.PutItem",
            "the record with the new status and its `Status Changed` event in its `relay` (in place of the previous "
            "write's), conditional on the version read (no lost updates between concurrent DLRs); the relay publishes "
            "the event from the table's stream",
        ),
    ],
    "send": [
        (
            "dynamodb.PutItem",
            "Powertools idempotency: claims the command's key (its `idempotency_key`, else the request's bus event "
            "or queue message) as in progress; a redelivered command finds it and does not send twice",
        ),
        (
            "dynamodb.GetItem",
            "CONTACT#: is the customer inside the 24-hour window? (free-form messages only; a template skips it)",
        ),
        (
            "dynamodb.PutItem",
            "RATE#<number>: takes the send's unit from the business number's rate budget, one write conditional on "
            "the version the container last saw (again with the stored state when another sender got in first), so "
            "the provider never sees the number above its rate (a batch of several single sends takes all their "
            "units in one such write before its records run)",
        ),
        ("secretsmanager.GetSecretValue", "first invocation of a container only: provider base URL and credentials"),
        ("dynamodb.UpdateItem", "Powertools idempotency: stores the outcome (the provider's message id) under the key"),
        (
            "dynamodb.PutItem",
            "the MT record with its `Accepted` event in its `relay`, in one conditional write; the relay publishes the "
            "event from the table's stream",
        ),
    ],
    "get": [("dynamodb.GetItem", "the record (consistent read); the provider is asked only for ids not stored")],
}
# The relay (RelayFunction), per batch of stream records the table's stream hands it.
RELAY_WHY = [
    (
        "events.PutEvents",
        "publishes the events the batch's writes left in their records' `relay`, in write order, up to ten a call and "
        "one event of a message a call",
    ),
    (
        "dynamodb.UpdateItem",
        "SUMMARY#<reference>#<shard>: the campaign counters, one write per reference and counter shard for the whole "
        "batch (wab.summary, 16 shards a reference, by message id)",
    ),
]


def relay_text(value: dict[str, Any]) -> str:
    """What the relay did with the stream records one invocation of a flow left (section 3)."""
    relay = value["ours"].get("relay")
    if relay is None:
        return ""
    if not relay["records"]:
        return "The table's stream hands the relay nothing of it (no message record written).\n"
    requests = ", ".join(f"`{op}` {item['count']}" for op, item in relay["steady"].items()) or "no AWS request"
    timing = relay["timing"]
    return (
        f"Then **the relay** (RelayFunction), handed the {relay['records']} stream record(s) of message records this "
        f"wrote, in {relay['invocations']} invocation(s): {relay['events']} event(s) published, {relay['counted']} "
        f"counted for a reference in {relay['counter_keys']} counter write(s); requests {requests}; "
        f"{timing['median_ms']:.1f} ms an invocation over in-process moto ({timing['median_not_moto_ms']:.1f} ms "
        f"outside moto, median of {timing['n']}). Lambda's reads of the stream are not billed.\n"
    )


# --- plots ----------------------------------------------------------------------------------------------------------


def plots(results: dict[str, Any], out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        written.append(name)

    # Broadcast: time against recipients, with the fitted line.
    runs = [run for run in results["broadcast"]["runs"] if run["completed"]]
    summary = results["broadcast_summary"]
    if runs:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        xs = [run["recipients"] for run in runs]
        ys = [run["elapsed_s"] for run in runs]
        ax.plot(xs, ys, "o", label="measured (local stack)")
        fit = summary["fit"]
        extrapolated = summary["extrapolated_s"]
        top = max(xs + [int(size) for size in extrapolated])
        if not math.isnan(fit["slope"]):
            ax.plot(
                [0, top],
                [fit["intercept"], fit["intercept"] + fit["slope"] * top],
                "-",
                alpha=0.6,
                label=f"linear fit (R² = {fit['r2']:.3f})",
            )
        for size, seconds in extrapolated.items():
            ax.plot([int(size)], [seconds], "o", mfc="none", label=f"{int(size):,}: extrapolated")
        ax.set_xlabel("recipients")
        ax.set_ylabel("seconds, request to last Accepted event")
        ax.set_title("Broadcast end to end")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.legend()
        save(fig, "broadcast_scaling.png")

    # Cold start: import vs boto3; import + first invocation vs hand-written.
    cold = results["cold_start"]
    handlers = list(cold["import"])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    width = 0.38
    positions = range(len(handlers))
    axes[0].bar(
        [p - width / 2 for p in positions],
        [A_median(cold["import"][h]["ours_ms"]) for h in handlers],
        width,
        label="handler module",
    )
    axes[0].bar(
        [p + width / 2 for p in positions],
        [A_median(cold["import"][h]["boto3_ms"]) for h in handlers],
        width,
        label="import boto3",
    )
    axes[0].set_title("1a. import (new interpreter)")
    first = cold["first_invocation"]
    for offset, side, label in ((-width / 2, "ours", "ours"), (width / 2, "baseline", "hand-written")):
        imports = [first[h][side]["median_import_ms"] for h in handlers]
        firsts = [first[h][side]["median_first_ms"] for h in handlers]
        bars = axes[1].bar([p + offset for p in positions], imports, width, label=f"{label}: import")
        axes[1].bar(
            [p + offset for p in positions],
            firsts,
            width,
            bottom=imports,
            label=f"{label}: 1st invocation",
            color=bars.patches[0].get_facecolor(),
            alpha=0.55,
        )
    axes[1].set_title("1b. import + first invocation (new interpreter)")
    for ax in axes:
        ax.set_xticks(list(positions), handlers)
        ax.set_ylabel("ms (median)")
        ax.legend(fontsize=7)
    save(fig, "cold_start.png")

    # Warm: per-invocation time split into own code, SDK, moto (standing for AWS) and provider.
    warm = results["warm"]
    flows = list(warm)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    labels: list[str] = []
    parts: dict[str, list[float]] = {
        "own code": [],
        "botocore (SDK)": [],
        "moto (stands for AWS)": [],
        "provider (loopback)": [],
    }
    for flow in flows:
        for side in ("ours", "baseline"):
            value = warm[flow][side]
            labels.append(f"{flow}\n{'ours' if side == 'ours' else 'hand'}")
            parts["own code"].append(value["median_outside_aws_ms"])
            parts["botocore (SDK)"].append(value["median_sdk_ms"])
            parts["moto (stands for AWS)"].append(value["median_moto_ms"])
            parts["provider (loopback)"].append(value["median_provider_ms"])
    bottom = [0.0] * len(labels)
    for name, values in parts.items():
        ax.bar(range(len(labels)), values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("ms per invocation (medians of each part)")
    ax.set_title("2. Warm invocation, against in-process moto")
    ax.legend(fontsize=7)
    save(fig, "warm_overhead.png")

    # Callback latency distribution.
    load = results.get("callback_load", {})
    if load:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for flow, value in load.items():
            sample = value.get("latency_sample_ms") or []
            if sample:
                ax.plot(
                    sample,
                    [i / max(len(sample) - 1, 1) for i in range(len(sample))],
                    label=f"{flow.upper()} ({value['requests_per_s']:.0f} req/s, {value['clients']} clients)",
                )
        ax.set_xscale("log")
        ax.set_xlabel("latency, ms (client side, local HTTP API)")
        ax.set_ylabel("share of requests")
        ax.set_title("5. Sustained callbacks: latency distribution")
        ax.grid(alpha=0.3)
        ax.legend()
        save(fig, "callback_latency.png")

    # Cost per million, by line item, against AWS End User Messaging Social's fee.
    costs = results["cost"]
    bars = [
        ("inbound (MO)", {k: v for k, v in costs["mo"]["per_million_measured"].items() if k != "total"}),
        (
            "outbound send\n+ 2 DLRs",
            _add(costs["send"]["per_million_measured"], costs["dlr"]["per_million_measured"], 2),
        ),
        (
            "broadcast recip.\n+ 2 DLRs",
            _add(costs["broadcast"]["per_million_measured"], costs[A.broadcast_dlr(costs)]["per_million_measured"], 2),
        ),
    ]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    items = list(bars[0][1])
    bottom = [0.0] * len(bars)
    colours = plt.get_cmap("tab20")
    for index, item in enumerate(items):
        values = [bar[1].get(item, 0.0) for bar in bars]
        if max(values) <= 0:
            continue
        ax.bar(range(len(bars)), values, bottom=bottom, label=item, color=colours(index % 20))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    eums = costs["eums_social_per_million"]
    ax.set_xticks(range(len(bars)), [bar[0] for bar in bars], fontsize=8)
    ax.set_ylabel("USD per 1,000,000 messages")
    ax.set_title(
        f"6. AWS cost per million messages, all in "
        f"(at {C.ASSUMPTIONS['messages_per_second']:g} messages/s, measured durations)\n"
        f"for scale: EUMS Social's fee is \\${eums['inbound']:,.0f} in, \\${eums['outbound']:,.0f} out",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save(fig, "cost_per_million.png")
    return written


def A_median(values: list[float]) -> float:
    ordered = sorted(values)
    return (
        ordered[len(ordered) // 2]
        if len(ordered) % 2
        else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    )


def _add(a: dict[str, float], b: dict[str, float], times: int) -> dict[str, float]:
    return {key: a.get(key, 0.0) + times * b.get(key, 0.0) for key in a if key != "total"}


# --- report ---------------------------------------------------------------------------------------------------------


def own_modules_section(imports: dict[str, Any], most: int = 8) -> str:
    """The gateway's modules that take most of its own part of each handler's import."""
    lines = [
        "Where wab's own part goes: the self time of the gateway's modules in one process after the libraries "
        "(`python -X importtime`, medians), the largest first; most of it is building the classes of pydantic models "
        "(about 0.1–0.3 ms each, more with more fields), the rest loading the modules' bytecode.\n"
    ]
    for handler, value in imports.items():
        modules = value["own_modules_ms"]
        top = list(modules.items())[:most]
        lines.append(
            f"- {handler}: {len(modules)} modules, {sum(modules.values()):.1f} ms; "
            + ", ".join(f"`{name}` {ms:.1f}" for name, ms in top)
        )
    return "\n".join(lines) + "\n"


def like_for_like_medians(measured: dict[str, Any]) -> dict[str, tuple[float, float, float]]:
    """Each handler's medians (ms): the older tree on python3.11 and on python3.13, this tree on python3.13."""
    return {
        handler: (A_median(runs["then_py311"]), A_median(runs["then_py313"]), A_median(runs["now_py313"]))
        for handler, runs in measured["handlers"].items()
    }


def like_for_like_changes(measured: dict[str, Any]) -> tuple[str, str]:
    """The runtime's change (same code) and the code's change (same runtime), per handler, as report text."""
    medians = like_for_like_medians(measured).items()
    return (
        ", ".join(f"{handler} {then313 - then311:+.1f} ms" for handler, (then311, then313, _) in medians),
        ", ".join(f"{handler} {now313 - then313:+.1f} ms" for handler, (_, then313, now313) in medians),
    )


def like_for_like_section(measured: dict[str, Any]) -> str:
    """wab's own part of the import for the older tree on both runtimes and for this tree (bench.handlers)."""
    commit = measured["commit"]
    rows = [
        [handler, fmt(then311), fmt(then313), f"{then313 - then311:+.1f}", fmt(now313), f"{now313 - then313:+.1f}"]
        for handler, (then311, then313, now313) in like_for_like_medians(measured).items()
    ]
    runtime, code = like_for_like_changes(measured)
    return (
        f"**wab's own part, like for like.** The tree the last python3.11 run measured (`{commit}`) imported on "
        "python3.11 and on python3.13, each from a layer its own recipe built with its own pins for that Python, and "
        "this tree on python3.13: wab's own part in one process, as above, "
        f"{measured['samples']} runs per side, the three interleaved, medians (ms). The first difference is the "
        "runtime's, the code being the same; the second is the code's, the runtime being the same.\n\n"
        + table(
            [
                "handler",
                f"`{commit}` on python3.11",
                f"`{commit}` on python3.13",
                "the runtime's change",
                "this tree on python3.13",
                "the code's change since",
            ],
            rows,
        )
        + f"\n\nThe move to python3.13 changed wab's own part by {runtime}; the code since by "
        f"{code}: the send lanes and pacing, templates and their catalogue, opt-outs, parked messages, "
        "Step Functions waits, edits and deletions, each with the models a cold start builds for it (each function "
        "builds only its own: the event models by subject, inbound and outbound message types when first used).\n"
    )


def write(results: dict[str, Any], out: Path, plot_files: list[str]) -> None:
    (out / "report.md").write_text(report_markdown(results, plot_files))
    (out / "README-section.md").write_text(readme_section(results))


def _png(name: str, plot_files: list[str], alt: str) -> str:
    return f"![{alt}]({name})\n" if name in plot_files else ""


def headline_rows(results: dict[str, Any]) -> list[list[str]]:
    h = results["headline"]
    calls = results["aws_calls"]
    b = results["broadcast_summary"]
    load = results.get("callback_load", {})
    rows = [
        [
            "Cold start 1a: handler import ÷ `import boto3`",
            ", ".join(f"{k} {v:.2f}×" for k, v in h["import_ratio"]["values"].items())
            + "; the libraries alone: "
            + ", ".join(
                f"{k} {A_median(v['libraries_ms']) / A_median(v['boto3_ms']):.2f}×"
                for k, v in results["cold_start"]["import"].items()
            ),
            "≤ 1.5×",
            met(h["import_ratio"]["met"]),
        ],
        [
            "Cold start 1b: import + 1st invocation ÷ hand-written",
            ", ".join(f"{k} {v:.2f}×" for k, v in h["first_invocation_ratio"]["values"].items()),
            "≤ 1.2×",
            met(h["first_invocation_ratio"]["met"]),
        ],
        [
            "Warm invocation ÷ hand-written (in-process moto)",
            ", ".join(f"{k} {v:.2f}×" for k, v in h["warm_ratio"]["values"].items()),
            "≤ 1.3×",
            met(h["warm_ratio"]["met"]),
        ],
        [
            "AWS requests per message (steady state)",
            ", ".join(
                f"{k} {sum(x['count'] for x in calls[k]['ours']['steady'].values())}"
                + (f" (+ {_intake_requests(calls):.1f} in the intake)" if k == "send" and "intake" in calls else "")
                + (f" (+ {_relay_requests(calls[k]):g} in the relay)" if _relay_requests(calls[k]) else "")
                for k in ("mo", "dlr", "send", "get")
            )
            + (
                f", broadcast {b['requests_per_recipient_function']:.2f} per recipient"
                if "requests_per_recipient_function" in b
                else ""
            ),
            "the design's minimum; same as hand-written",
            "met" if all(calls[k].get("same_calls", True) for k in calls) else "**differs**",
        ],
    ]
    largest = b.get("largest_measured")
    if largest:
        rows.append(
            [
                f"Broadcast, local stack ({largest:,} recipients, not paced)",
                f"{b['recipients_per_s'][str(largest)]:.0f} recipients/s in chunks of "
                f"{results['sender_profile']['chunk_recipients']}; "
                f"own code {b['own_code_share'] * 100:.1f} % of a chunk; "
                f"linear R² {b['fit']['r2']:.3f}",
                "own code ≤ 20 %",
                met(h["own_code_share"]["met"]),
            ]
        )
    for flow in ("mo", "dlr"):
        if flow in load:
            value = load[flow]
            rows.append(
                [
                    f"Sustained {flow.upper()} callbacks ({value['clients']} clients, {value['seconds']:.0f} s)",
                    f"{value['requests_per_s']:.0f} req/s; p50 {value['latency_ms']['p50']:.0f} / p95 "
                    f"{value['latency_ms']['p95']:.0f} / p99 {value['latency_ms']['p99']:.0f} ms; errors "
                    f"{value['errors']}, records lost {value['records_lost']}, events lost {value['events_lost']}",
                    "0 errors, 0 lost",
                    met(value["errors"] == 0 and value["records_lost"] == 0 and value["events_lost"] == 0),
                ]
            )
    rows += cost_headline_rows(results)
    rows += S.headline_rows(results)
    sizing = results["sizing"]
    rows.append(
        [
            "Memory size: recommended (template.yaml)",
            ", ".join(f"{v['handler']} {v['recommended_mb']} MB ({v['template_mb']} MB)" for v in sizing.values()),
            "",
            "–",
        ]
    )
    return rows


def lean_settings_text(everything: dict[str, Any]) -> str:
    return ", ".join(f"`{name}: {value}`" for name, value in everything.get("lean_settings", {}).items())


def target_status(everything: dict[str, Any], path: str) -> str:
    """Met at the template's defaults, met only with the lean settings, or not met."""
    if everything["met"][path]:
        return met(True)
    if everything.get("lean_met", {}).get(path):
        return "met with the lean settings; **not met** at the defaults"
    return met(False)


def lean_text(everything: dict[str, Any], path: str) -> str:
    lean = everything.get("lean") or {}
    return f"; with the lean settings ${lean[path]['total']:,.2f}" if path in lean else ""


def cost_headline_rows(results: dict[str, Any]) -> list[list[str]]:
    """The all-in cost per 1 M messages against the targets, and the fixed monthly part."""
    everything = results.get("all_in") or A.all_in(results)
    paths, targets = everything["paths"], everything["targets"]
    eums = results["cost"]["eums_social_per_million"]
    fixed = everything["fixed_per_month"]
    volume = everything["break_even_messages_per_month"]

    def top(path: str) -> str:
        lines = sorted(((v, k) for k, v in paths[path].items() if k != "total"), reverse=True)[:2]
        return ", ".join(f"{name} ${value:,.2f}" for value, name in lines)

    return [
        [
            f"AWS cost per 1 M inbound messages, all in (at {everything['rate']:g} messages/s)",
            f"${paths['inbound']['total']:,.2f} (largest: {top('inbound')}){lean_text(everything, 'inbound')}; "
            f"EUMS Social's fee ${eums['inbound']:,.0f}",
            f"≤ ${targets['inbound']:,.0f}",
            target_status(everything, "inbound"),
        ],
        [
            f"AWS cost per 1 M outbound messages with their 2 status callbacks, all in (at {everything['rate']:g}/s)",
            f"single send ${paths['outbound']['total']:,.2f} (largest: {top('outbound')})"
            f"{lean_text(everything, 'outbound')}; broadcast recipient ${paths['broadcast']['total']:,.2f}; "
            f"EUMS Social's fee ${eums['outbound']:,.0f}",
            f"≤ ${targets['outbound']:,.0f}",
            target_status(everything, "outbound"),
        ],
        [
            "AWS cost per month whatever the traffic (metrics, alarms, dashboard, secrets, key, idle polls)",
            f"${fixed:,.2f}; under 10 % of the variable cost from {volume['inbound'] / 1e6:,.1f} M inbound or "
            f"{volume['outbound'] / 1e6:,.1f} M outbound messages a month",
            "",
            "–",
        ],
    ]


def _relay_requests(value: dict[str, Any]) -> float:
    """The relay's AWS requests for one message of a flow, its records in a batch of their own."""
    relay = value["ours"].get("relay") or {}
    return float(sum(item["count"] for item in relay.get("steady", {}).values()))


def _intake_requests(calls: dict[str, Any]) -> float:
    """The intake's AWS requests per send request."""
    intake = calls["intake"]
    return sum(item["count"] for item in intake["ours"]["steady"].values()) / intake["requests"]


def report_markdown(results: dict[str, Any], plot_files: list[str]) -> str:
    meta = results["meta"]
    parts: list[str] = []
    add = parts.append
    add("# Benchmarks\n")
    add(
        f"Generated by `make bench` (`python -m bench{'' if meta['mode'] == 'full' else ' --' + meta['mode']}`) on "
        f"{meta['started']} in {meta['duration_s']:.0f} s, on a shared {meta['machine_before']['cpus']}-core machine "
        f"(Python {meta['machine_before']['python']}; "
        f"load average {meta['machine_before']['load_average'][0]:.1f} before, "
        f"{meta['machine_after']['load_average'][0]:.1f} after). Raw figures: [results.json](results.json).\n"
    )
    if again := meta.get("remeasured"):
        add(
            f"**Measured again on {again['inproc']}** (`python -m bench --inproc`, {again['duration_s']:.0f} s): "
            f"sections {', '.join(again['sections'])}, everything run against in-process moto (the first invocations "
            "with their libraries preloaded, warm invocations, every AWS request per flow with the relay's, index "
            "writes, the checks before the provider); the costs, sizing and this report were derived again from "
            "them. Everything else (imports, cold starts, memory, the local stack's callbacks and broadcasts, the "
            "send path) is the run above's, made before outbound events went out from the table's stream: its "
            "end-to-end figures include the old outbox clean-up writes.\n"
        )
    if again := meta.get("remeasured_imports"):
        add(
            f"**Imports measured again on {again['at']}** (`python -m bench --imports`, {again['duration_s']:.0f} s, "
            f"load average {again['machine']['load_average'][0]:.1f}): section 1a, with this tree's layer built "
            "again; the cold starts of section 1b and everything else are as stated above.\n"
        )
    add(
        "Every figure that is compared is a **ratio against a baseline measured in the same run**, interleaved with "
        "it: the machine is noisy, so absolute times are context only. The baselines are minimal plain-boto3 handlers "
        "in [bench/baseline/](baseline/) that make exactly the same AWS and provider calls as the gateway (checked "
        "below, call by call), without Powertools or pydantic. moto stands in for AWS: in-process for the handler "
        "figures, as a server inside the local stack for the end-to-end ones.\n"
    )
    add("## Headline\n")
    add(table(["figure", "measured", "target", ""], headline_rows(results)) + "\n")

    # 1. Cold start
    cold = results["cold_start"]
    add("## 1. Cold start\n")
    add(
        "Both figures import from the `wab` layer as its recipe builds it (`layers/wab/Makefile`, what `sam build` "
        "runs: the pinned versions with their compiled bytecode), built for this machine at the start of the run; "
        "boto3 comes from that layer on both sides. Every process is a new interpreter with the function's Lambda "
        "environment (tracing on, as deployed) and cannot write bytecode, like Lambda. Packages installed here for "
        "moto and the SAM CLI but absent from Lambda (awscrt, pyOpenSSL) are hidden from these processes, as botocore "
        "would otherwise import them.\n"
    )
    samples = len(next(iter(cold["import"].values()))["ours_ms"])
    add(
        f"**1a. Importing the handler module** against a bare `import boto3`, alternating, {samples} runs each, "
        "medians. *Libraries alone* imports, in a new interpreter, every module the handler's import loaded except "
        "wab's and the handler's own: the floor that Powertools (event handler, logger, metrics, tracer with the X-Ray "
        "SDK), pydantic and requests set before any line of the gateway runs. *wab's own part* is the import less the "
        "libraries alone, two processes apart; *in one process* measures it directly, the same libraries imported "
        "first (untimed) and then the handler, free of two processes' noise. *Without bytecode* imports the same "
        "layer with its `.pyc` files removed, which is what a layer built by `sam build`'s python method ships.\n"
    )
    rows = []
    for handler, value in cold["import"].items():
        boto3 = A_median(value["boto3_ms"])
        libraries = A_median(value.get("libraries_ms", []))
        sources = A_median(value.get("ours_sources_only_ms", []))
        rows.append(
            [
                handler,
                fmt(A_median(value["ours_ms"])),
                fmt(boto3),
                f"**{value['ratio']:.2f}×**",
                f"{fmt(libraries)} ({libraries / boto3:.2f}×)",
                fmt(A_median(value["ours_ms"]) - libraries),
                fmt(A_median(value.get("own_in_process_ms", []))),
                fmt(sources),
                fmt(value["ours_rss_mb"]),
                fmt(value["boto3_rss_mb"]),
            ]
        )
    add(
        table(
            [
                "handler",
                "import ms",
                "`import boto3` ms",
                "ratio (≤ 1.5×)",
                "libraries alone, ms (÷ boto3)",
                "wab's own part, ms",
                "wab's own part in one process, ms",
                "without bytecode, ms",
                "RSS after import, MB",
                "RSS after `import boto3`, MB",
            ],
            rows,
        )
        + "\n"
    )
    add("Where the import time goes (self time per top-level package, `python -X importtime`, one run, ms):\n")
    packages = [
        "wab",
        "aws_lambda_powertools",
        "pydantic",
        "pydantic_core",
        "aws_xray_sdk",
        "requests",
        "botocore",
        "boto3",
        "urllib3",
        "(standard library)",
    ]
    rows = [
        [handler] + [fmt(cold["import"][handler]["breakdown_ms"].get(p, 0.0)) for p in packages]
        for handler in cold["import"]
    ]
    rows.append(["`import boto3`"] + [fmt(cold["boto3_import_breakdown_ms"].get(p, 0.0)) for p in packages])
    add(table(["handler", *packages], rows) + "\n")
    if all(value.get("own_modules_ms") for value in cold["import"].values()):
        add(own_modules_section(cold["import"]))
    if cold.get("like_for_like"):
        add(like_for_like_section(cold["like_for_like"]))
    first = cold["first_invocation"]
    add(
        "**1b. Import plus the first invocation** against the hand-written handler doing the same, each a new "
        "interpreter serving its first request, whose AWS calls go over HTTP to the local stack's moto server "
        f"(the provider's to its simulator). {len(next(iter(first.values()))['ours']['total_ms'])} runs per side, "
        "alternating, medians.\n"
    )
    rows = []
    for handler, value in first.items():
        flow = {"callbacks": "mo", "messages": "get", "sender": "send"}[handler]
        ours, base = value["ours"], value["baseline"]
        rows.append(
            [
                f"{handler} ({FLOW_NAMES[flow]})",
                fmt(ours["median_import_ms"]),
                fmt(ours["median_first_ms"]),
                fmt(ours["median_total_ms"]),
                fmt(base["median_import_ms"]),
                fmt(base["median_first_ms"]),
                fmt(base["median_total_ms"]),
                f"**{value['ratio']:.2f}×**",
            ]
        )
    add(
        table(
            [
                "handler (first request)",
                "ours: import",
                "ours: 1st call",
                "ours: total",
                "hand: import",
                "hand: 1st call",
                "hand: total",
                "ratio (≤ 1.2×)",
            ],
            rows,
        )
        + "\n"
    )
    preloaded = cold["first_invocation_preloaded"]
    add(
        "The first invocation in detail: the same pairs in processes forked from one that has imported and started "
        "moto in-process (so boto3, botocore and urllib3 are loaded on both sides before the clock starts, and the "
        "AWS calls are fast), with the garbage collections timed.\n"
    )
    rows = []
    for handler, value in preloaded.items():
        ours, base = value["ours"], value["baseline"]
        frozen = value.get("ours_gc_variant", {})
        rows.append(
            [
                handler,
                fmt(ours["median_import_ms"]),
                fmt(ours["median_first_ms"]),
                fmt(base["median_import_ms"]),
                fmt(base["median_first_ms"]),
                f"{value['ratio']:.2f}×",
                ours["aws_calls_first"],
                f"{fmt(ours.get('median_first_gc_ms'))} / {fmt(base.get('median_first_gc_ms'))}",
                fmt(frozen.get("median_first_ms")),
            ]
        )
    add(
        table(
            [
                "handler",
                "ours: import",
                "ours: 1st call",
                "hand: import",
                "hand: 1st call",
                "ratio",
                "AWS calls",
                "GC in 1st call, ms: ours / hand",
                "ours: 1st call without the handler's `gc.freeze()`",
            ],
            rows,
        )
        + "\n"
    )
    add(_png("cold_start.png", plot_files, "cold start"))
    add(cold_findings(results) + "\n")

    # 2. Warm
    warm = results["warm"]
    add("## 2. Warm overhead\n")
    add(
        f"Per-invocation time once warm ({next(iter(warm.values()))['ours']['n']} invocations per side after "
        f"{results['meta']['config']['warmup']} warm-up ones, in two rounds of opposite order), against in-process "
        "moto. moto's own request handling counts in both sides' time (it stands for the AWS round trips), so the "
        "column *outside moto* (own code + botocore + provider call) shows the handlers' own difference more sharply.\n"
    )
    rows = []
    for flow, value in warm.items():
        ours, base = value["ours"], value["baseline"]
        rows.append(
            [
                FLOW_NAMES[flow],
                fmt(ours["median_ms"], 2),
                fmt(base["median_ms"], 2),
                f"**{value['ratio']:.2f}×**",
                fmt(ours["p90_ms"], 2),
                fmt(base["p90_ms"], 2),
                fmt(ours["median_not_moto_ms"], 2),
                fmt(base["median_not_moto_ms"], 2),
                f"{value['ratio_outside_moto']:.2f}×",
                fmt(ours["median_outside_aws_ms"], 2),
                fmt(base["median_outside_aws_ms"], 2),
            ]
        )
    add(
        table(
            [
                "flow",
                "ours ms",
                "hand ms",
                "ratio (≤ 1.3×)",
                "ours p90",
                "hand p90",
                "ours outside moto",
                "hand outside moto",
                "ratio outside moto",
                "ours: own code only",
                "hand: own code only",
            ],
            rows,
        )
        + "\n"
    )
    add(_png("warm_overhead.png", plot_files, "warm overhead"))
    memory = results.get("memory", {})
    rows = []
    for flow in ("mo", "dlr", "send", "get"):
        if flow in memory:
            ours, base = memory[flow]["ours"], memory[flow]["baseline"]
            rows.append(
                [
                    FLOW_NAMES[flow],
                    fmt(ours["rss_import_mb"]),
                    fmt(ours["rss_peak_mb"]),
                    fmt(base["rss_import_mb"]),
                    fmt(base["rss_peak_mb"]),
                    fmt(ours["tracemalloc_peak_mb"] * 1024, 0),
                    fmt(base["tracemalloc_peak_mb"] * 1024, 0),
                ]
            )
    if rows:
        add(
            "**Peak memory**, each side in a process of its own (nothing else in it) against the local stack's moto "
            "server: resident set after import and at its peak over the warm invocations (VmHWM), and afterwards, "
            "with tracemalloc on, the largest Python allocation peak of one invocation.\n"
        )
        add(
            table(
                [
                    "flow",
                    "ours: after import MB",
                    "ours: peak MB",
                    "hand: after import MB",
                    "hand: peak MB",
                    "ours: per invocation KB",
                    "hand: per invocation KB",
                ],
                rows,
            )
            + "\n"
        )

    if results.get("previous"):
        add(S.previous_section(results))

    # 3. AWS requests
    calls = results["aws_calls"]
    add("## 3. AWS requests per message\n")
    add(
        "Counted with botocore's `before-parameter-build`/`after-call` hooks on every client the process creates "
        "(the handler's own, Powertools', the local stack's). Billing units are worked out per request from the item "
        "sizes read before and after each write (DynamoDB: 1 KB write units, 4 KB read units, the two keys-only "
        "indexes included; EventBridge: 64 KB chunks).\n"
    )
    for flow in ("mo", "dlr", "send", "get"):
        value = calls[flow]
        steady = value["ours"]["steady"]
        total = sum(item["count"] for item in steady.values())
        same = (
            "identical to the hand-written handler's"
            if value.get("same_calls")
            else "**differs from the hand-written handler's**"
        )
        write, read, chunks = C.units(steady)
        add(
            f"**{FLOW_NAMES[flow]}**: {total} AWS requests per message once warm ({same}); first invocation: "
            f"{', '.join(value['ours']['first'])}. Per message: {write:.0f} write units, {read:.0f} read units, "
            f"{chunks:.0f} EventBridge event(s).\n"
        )
        add(table(["#", "request", "why"], [[i + 1, f"`{op}`", why] for i, (op, why) in enumerate(WHY[flow])]) + "\n")
        rows = [
            [f"`{op}`", item["count"], fmt(item["wru"], 0), fmt(item["gsi_wru"], 0), fmt(item["rru"], 0)]
            for op, item in steady.items()
        ]
        add(table(["request (steady state)", "count", "write units", "of which index", "read units"], rows) + "\n")
        if text := relay_text(value):
            add(text)
    if any(calls[flow]["ours"].get("relay") for flow in calls):
        add(
            "**The relay, per batch** (`RelayFunction`, invoked by the table's stream through `RelayStreamMapping`: "
            "only the writes of message records that left events, by its filter; in the counts above each invocation's "
            "records make one batch "
            "of their own, taken from moto's stream as the mapping would hand them over):\n"
        )
        add(table(["#", "request", "why"], [[i + 1, f"`{op}`", why] for i, (op, why) in enumerate(RELAY_WHY)]) + "\n")
    chunk = calls["chunk"]["ours"]["steady"]
    size = calls["chunk"]["recipients"]
    b = results["broadcast_summary"]
    add(
        f"**Broadcast, per recipient** (a chunk of {size} recipients on the bulk lane, as the intake splits a "
        "broadcast at the template's default rate; counted the same way): "
        + ", ".join(f"`{op}` {item['count'] / size:.2f}" for op, item in chunk.items())
        + f" = {sum(item['count'] for item in chunk.values()) / size:.2f} AWS requests and one provider call per "
        f"{size} recipients; {C.units(chunk)[0] / size:.1f} write units, {C.units(chunk)[2] / size:.2f} EventBridge "
        "events per recipient. Per chunk: the idempotency claim and outcome (`PutItem`, `UpdateItem`), the chunk's "
        f"units from the number's rate budget (`PutItem`, all {size} at once), which records exist already "
        f"(`BatchGetItem`, {size} keys), the new records with their `Accepted` events in their `relay` "
        "(`BatchWriteItem`, 25 per call); nothing is written after them. "
        + (
            f"The relay then publishes the {size} events (`PutEvents`, 10 per call) and counts them, all of one "
            "reference, in one `UpdateItem` per counter shard they reach: "
            + ", ".join(f"`{op}` {item['count'] / size:.2f}" for op, item in relay["steady"].items())
            + " per recipient. "
            if (relay := calls["chunk"]["ours"].get("relay"))
            else ""
        )
        + "The intake adds one `SendMessageBatch` per 10 chunks when it splits the request. "
        "In the end-to-end runs below, requests per recipient: "
        + ", ".join(
            f"`{op}` {value:.3f}" for op, value in sorted(b.get("requests_per_recipient", {}).items()) if value >= 0.001
        )
        + ".\n"
    )
    intake = calls["intake"]
    add(
        f"**The intake, per send request** (before the sender: a batch of {intake['requests']} `WhatsApp Send "
        "Requested` events from the send queue, routed onto the transactional lane, counted the same way): "
        + ", ".join(f"`{op}` {item['count']}" for op, item in intake["ours"]["steady"].items())
        + f" per batch, so {_intake_requests(calls):.1f} AWS requests per send; it reads and writes nothing in "
        "DynamoDB unless a request is retried. Not counted "
        "here, as they are not the functions' requests: EventBridge's `SendMessage` to the send queue, and each "
        "queue's `ReceiveMessage` and `DeleteMessageBatch` by the event source (section 6 prices them).\n"
    )
    add(requests_findings(results) + "\n")
    if results.get("index_writes"):
        from bench import indexwrites

        add(indexwrites.section(results["index_writes"]))
    if results.get("screening"):
        from bench import screening

        add(screening.section(results["screening"]))

    # 4. Broadcast
    add("## 4. Broadcast end to end\n")
    parameters = T.bench_parameters()
    add(
        "A `WhatsApp Broadcast Requested` event put on the bus as the gateway's client puts it, through the bus rule, "
        "the send queue (FIFO, one message group), the intake (which splits it into chunks of "
        f"{T.bench_chunk_size()} recipients and puts them on the bulk lane, ten per `SendMessageBatch`), the bulk "
        f"lane's SQS poller (batch {T.parameter_default('SenderBatchSize')}, "
        f"{T.parameter_default('SenderMaxConcurrency')} pollers, as the template says), the sender (each chunk takes "
        "its units from the number's rate budget and is sent with one provider broadcast call; a batch's chunks side "
        "by side), DynamoDB and EventBridge, to the provider simulator; **automatic DLRs off** (the send path alone; "
        "DLR load is measured in section 5), the simulator's 24-hour window check off (the broadcast is a template, "
        "which the window does not restrict anyway).\n"
    )
    add(
        "**Pacing is left out on purpose.** These runs measure the gateway's own overhead, not the rate it keeps to, "
        f"so the stack runs with `NumberRatePerSecond={parameters['NumberRatePerSecond']}` (the template's maximum; "
        f"default {T.parameter_default('NumberRatePerSecond')}), at which the rate budget never makes a chunk wait, "
        f"and `BroadcastChunkSize={parameters['BroadcastChunkSize']}`, the chunk size the intake makes at the default "
        "rate, so the chunks are those of a default deployment. At the default rate a number sends "
        f"{T.parameter_default('NumberRatePerSecond')} messages a second whatever the gateway's speed (10,000 "
        f"recipients: at least {10_000 / float(T.parameter_default('NumberRatePerSecond')):.0f} s). The other "
        "benchmarks run with the same parameters.\n"
    )
    add(
        "Timed from the request to the moment the last `Accepted` event was published with no intake or sender "
        "invocation left running and the send queue and both lanes empty; then checked: records stored (query on "
        "`by-reference`), messages the simulator accepted, dead letters.\n"
    )
    rows = []
    for run in results["broadcast"]["runs"]:
        rows.append(
            [
                f"{run['recipients']:,}",
                fmt(run["elapsed_s"], 1),
                fmt(run["recipients_per_s"], 0),
                f"{run['accepted_by_provider']:,}",
                f"{run['records_stored']:,}",
                f"{run['accepted_events_published']:,}",
                run["dead_letters"],
                run.get("intake_invocations", "–"),
                run["sender_invocations"],
                fmt(run["cpu_s"]["moto_server"], 1),
                fmt(run["cpu_s"]["gateway_process"], 1),
            ]
        )
    for skipped in results["broadcast"]["skipped"]:
        size = skipped["recipients"]
        rows.append(
            [
                f"{size:,}",
                f"*{b['extrapolated_s'].get(str(size), float('nan')):.1f} (extrapolated)*",
                "–",
                "not run",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ]
        )
    add(
        table(
            [
                "recipients",
                "seconds",
                "recipients/s",
                "accepted by provider",
                "records stored",
                "Accepted events",
                "dead letters",
                "intake invocations",
                "sender invocations",
                "moto CPU s",
                "gateway process CPU s",
            ],
            rows,
        )
        + "\n"
    )
    fit = b["fit"]
    add(
        f"Linear fit: {fmt(fit['slope'] * 1000, 2)} ms per recipient + {fmt(fit['intercept'], 2)} s, "
        f"R² = {fmt(fit['r2'], 4)}" + (" — time grows linearly with recipients." if b.get("linear") else ".") + "\n"
    )
    if results["broadcast"]["skipped"]:
        add(
            "**Not measured, extrapolated:** "
            + "; ".join(
                f"{s['recipients']:,} recipients would have taken about {s['projected_s']:.0f} s at the rate of the "
                f"previous size, more than the {s['remaining_s']:.0f} s left of the run's time budget; the figure "
                f"shown is the linear fit's"
                for s in results["broadcast"]["skipped"]
            )
            + ".\n"
        )
    add(_png("broadcast_scaling.png", plot_files, "broadcast scaling"))
    add(
        "The local stack's throughput is bounded by moto's server, a single Python process doing every AWS request "
        "(its CPU time above is close to the wall time): it says how fast this machine emulates AWS, not how fast "
        "the gateway runs in AWS. What the gateway itself costs is measured per chunk below.\n"
    )
    profile = results["sender_profile"]
    add(
        f"**Where a chunk's time goes.** {len(profile['chunks'])} chunks of {profile['chunk_recipients']} recipients "
        "(lane messages as the intake makes them) given to the sender one at a time in the gateway process (pollers "
        "paused), timing every botocore call and provider call on the "
        "invocation's thread and the 16-thread phase that clears the outbox of each record; *own code* is what "
        f"is left: the handler, wab, Powertools, pydantic. Median chunk: {fmt(b['chunk_ms_median'], 0)} ms wall, "
        f"{fmt(b['chunk_cpu_ms_median'], 0)} ms CPU in the gateway process.\n"
    )
    rows = [[name, f"{share * 100:.1f} %"] for name, share in sorted(b["time_shares"].items(), key=lambda kv: -kv[1])]
    add(table(["part of a chunk invocation (wall time)", "share"], rows) + "\n")
    add(
        f"Own code: **{b['own_code_share'] * 100:.1f} %** of a chunk (target ≤ 20 %). With the profiler on (one more "
        "chunk, cProfile, main thread), self time by package, ms: "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in profile["top_own_functions"]["self_ms_by_package"].items())
        + ". The gateway's own functions with the most self time: "
        + ", ".join(
            f"`{item['function']}` {item['ms']:.2f} ms" for item in profile["top_own_functions"]["own_functions"][:6]
        )
        + ".\n"
    )
    if "broadcast" in memory:
        mb = memory["broadcast"]
        configured = T.functions()["SenderFunction"]["memory"]
        intake_configured = T.functions()["IntakeFunction"]["memory"]
        add(
            f"**Memory of a {mb['recipients']:,}-recipient broadcast** (each function in a process of its own, "
            "against the local stack; peaks measured before tracemalloc was turned on): the intake, "
            f"{fmt(mb['intake_rss_warm_mb'])} MB resident when warm, split the request into {mb['chunks']:,} chunks "
            f"of {mb['chunk']} on the bulk lane in {fmt(mb['split_ms'], 0)} ms with "
            f"{fmt(mb['split_tracemalloc_peak_mb'], 1)} MB of Python allocations at the peak, peak resident set "
            f"**{fmt(mb['intake_rss_peak_mb'])} MB** (of {intake_configured} MB configured); the sender, "
            f"{fmt(mb['sender_rss_warm_mb'])} MB when warm, sent one of those chunks in {fmt(mb['chunk_ms'], 0)} ms "
            f"with {fmt(mb['chunk_tracemalloc_peak_mb'], 1)} MB, peak resident set "
            f"**{fmt(mb['sender_rss_peak_mb'])} MB** (of {configured} MB configured).\n"
        )

    # 5. Callback load
    load = results.get("callback_load", {})
    add("## 5. Sustained callbacks\n")
    add(
        "MO and DLR callbacks posted to the local stack's HTTP API by keep-alive client threads in a process of "
        "their own, bounded in time and count; every answer's latency recorded client side. MOs are new messages; DLRs "
        "are `sent` for MT records stored beforehand (each moves a record forward and publishes one event). A "
        "thread drains the event tap queue throughout; afterwards every callback answered 200 is looked up in the "
        "table and among the events.\n"
    )
    rows = []
    for flow, value in load.items():
        latency = value["latency_ms"]
        rows.append(
            [
                flow.upper(),
                value["clients"],
                fmt(value["seconds"], 1),
                f"{value['requests']:,}",
                fmt(value["requests_per_s"], 0),
                fmt(latency["p50"], 1),
                fmt(latency["p95"], 1),
                fmt(latency["p99"], 1),
                value["errors"],
                value["records_lost"],
                value["events_lost"],
                value["events_duplicated"],
            ]
        )
    add(
        table(
            [
                "callbacks",
                "clients",
                "seconds",
                "requests",
                "requests/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "errors",
                "records lost",
                "events lost",
                "events doubled",
            ],
            rows,
        )
        + "\n"
    )
    add(_png("callback_latency.png", plot_files, "callback latency"))
    notes, busy = [], []
    for flow, value in load.items():
        cpu = value.get("cpu_s_during_load", {})
        share = cpu.get("moto_server", float("nan")) / cpu.get("wall", float("nan"))
        busy.append(share)
        notes.append(
            f"{flow.upper()}: moto's server {fmt(cpu.get('moto_server'), 1)} s of CPU in "
            f"{fmt(cpu.get('wall'), 1)} s, {share * 100:.0f} % of its one core; the gateway process "
            f"{fmt(cpu.get('gateway_process'), 1)} s"
        )
    saturated = busy and min(busy) >= 0.7
    first_load = next(iter(load.values()), {"warmup_requests": 0, "clients": 1})
    add(
        f"Each client first sent {first_load['warmup_requests'] // max(first_load['clients'], 1)} callbacks that "
        "start the gateway's execution environments (the local stack imports the handler once per "
        "concurrent invocation, as Lambda does); they are stored and checked like the rest but left out of the rates "
        "and latencies. CPU used during the load: "
        + "; ".join(notes)
        + "."
        + (
            " moto's single server process, which does every AWS request, is close to saturated: the rate is what "
            "this machine's emulation of AWS allows, the same bound as in section 4."
            if saturated
            else ""
        )
        + " So these figures say that nothing is lost or doubled under sustained concurrent load, not how many "
        "callbacks Lambda would take. "
        "The bench sets TCP_NODELAY on the local HTTP API's connections: without it every answer waits ~40 ms for the "
        "client's delayed ACK (headers and body go out in two writes), an artefact of the emulator that hid the "
        "handlers' time.\n"
    )

    # 6. Cost
    add("## 6. Cost per 1,000,000 messages\n")
    add(f"Public us-east-1 list prices, {C.PRICES_AS_OF}:\n")
    add(
        table(
            ["item", "price (USD)", "unit", "per million units"],
            [
                [
                    name,
                    f"{value:.10g}",
                    C.PRICE_UNITS[name],
                    f"{value * 1e6:,.3f}".rstrip("0").rstrip(".") if name not in C.MONTHLY_OR_PER_GB else "–",
                ]
                for name, value in C.PRICES.items()
            ],
        )
        + "\n"
    )
    add(cost_section(results) + "\n")

    # 7. Memory
    add("## 7. Memory size per function\n")
    add(sizing_section(results) + "\n")

    if results.get("sendpath"):
        add(S.sections(results))
        add(S.cost_section(results))

    add("## Context: the provider simulator\n")
    add(
        f"The simulator accepted {results['simulator_throughput']['sends_per_s']:.0f} sends/s "
        f"(`bench/simulator_throughput.measure({results['simulator_throughput']['seconds']})`, in-process, two client "
        "threads): far above the provider call rate of any figure here (a broadcast makes one provider call per "
        f"{T.bench_chunk_size()} recipients), so it never limits them.\n"
    )
    add("## What could not be measured here\n")
    add(limits_section(results) + "\n")
    add("## Reproduce\n")
    add(
        f"`make bench` ({meta['duration_s'] / 60:.1f} minutes for this run; `make bench BENCH_ARGS=--quick` for a "
        "smaller one, about a minute and a half; `make bench BENCH_ARGS=--rederive` measures nothing and works out "
        "sections 6, 7 and 9 again from results.json, after a change to the cost model or to what the stack keeps; "
        "`--inproc` and `--imports` measure again only the in-process sections 1b–3c, or the imports of 1a, and keep "
        "the rest of the run). "
        "The code: "
        "`bench/__main__.py` (order and sizes), `bench/handlers.py` + `bench/inproc.py` (sections 1–3), "
        "`bench/stackbench.py` + `bench/loadgen.py` (4, 5), `bench/analysis.py` + `bench/cost.py` (6, 7, 9), "
        "`bench/sendbench.py` + `bench/sendpath.py` (8), `bench/sendreport.py` (8, 9 and the previous run's "
        "figures), `bench/baseline/` (the hand-written handlers).\n"
    )
    return "\n".join(parts)


def cold_findings(results: dict[str, Any]) -> str:
    cold = results["cold_start"]
    imports, first = cold["import"], cold["first_invocation"]
    lines = ["What the figures say:"]
    floors = ", ".join(
        f"{handler} {A_median(value['libraries_ms']) / A_median(value['boto3_ms']):.2f}×"
        for handler, value in imports.items()
    )
    own = ", ".join(
        f"{handler} {A_median(value['ours_ms']) - A_median(value['libraries_ms']):.0f} ms"
        for handler, value in imports.items()
    )
    lines.append(
        f"- **1a's target is at or below what the chosen libraries cost to import.** The libraries alone take {floors} "
        "of `import boto3`: Powertools' `event_handler` package imports every resolver it has (AppSync, Bedrock "
        "agents, VPC Lattice, …) whichever one a function uses, the Tracer imports the X-Ray SDK (and with it "
        "asyncio), and pydantic is ~45 ms on its own. The design requires all three (Powertools' event handler, "
        "logger, metrics and tracer; pydantic for every model; X-Ray tracing), so 1.5× leaves the gateway's own code "
        f"next to nothing. Its own part on top of them: {own} (building the resolver, logger, metrics and tracer, the "
        "validators the module-level adapters need, and the classes of its models)."
    )
    sources = {handler: A_median(value.get("ours_sources_only_ms", [])) for handler, value in imports.items()}
    if all(value == value for value in sources.values()):
        lines.append(
            "- **Shipping the bytecode is the largest saving.** Without `.pyc` files, which Lambda cannot write on "
            "its read-only file system, every cold start compiles every module again: "
            + ", ".join(
                f"{handler} {sources[handler]:.0f} ms instead of {A_median(imports[handler]['ours_ms']):.0f} ms"
                for handler in imports
            )
            + ". The layer's Makefile compiles it at build time (`unchecked-hash`)."
        )
    lines.append(
        "- **Built only when needed.** Every model defers its validator to its first use, and an MO's message or a "
        "command is validated by the model of its own type, not by a union of all of them: a cold start builds the "
        "validators of its own request only. Each inbound message type's models are in a module of their own, "
        "imported when the first message of the type arrives, so an MO's cold start creates the classes of its own "
        "type only and a status callback's none. The X-Ray SDK patches botocore at start and requests only where the "
        "provider client is loaded. The handler modules import with the garbage collector off (nothing they create "
        "is garbage) and freeze what they built, so the first invocation's collections do not walk it."
    )
    extra = {
        handler: value["ours"]["median_import_ms"] - value["baseline"]["median_import_ms"]
        for handler, value in first.items()
    }
    calls = {
        handler: value["ours"]["median_first_ms"] - value["baseline"]["median_first_ms"]
        for handler, value in first.items()
    }
    lines.append(
        "- **1b: the difference is the import.** The first invocations cost about the same on both sides for the same "
        "AWS requests (ours minus hand-written: "
        + ", ".join(f"{h} {v:+.0f} ms" for h, v in calls.items())
        + "); the imports differ by "
        + ", ".join(f"{h} {v:.0f} ms" for h, v in extra.items())
        + ". The 1.2× target would need everything imported beyond boto3 to fit in a fifth of a hand-written cold "
        "start ("
        + ", ".join(f"{h} {value['baseline']['median_total_ms'] / 5:.0f} ms" for h, value in first.items())
        + "); the libraries alone take "
        + ", ".join(
            f"{h} {A_median(imports[h]['libraries_ms']) - A_median(imports[h]['boto3_ms']):.0f} ms" for h in first
        )
        + " more than boto3."
    )
    lines.append(
        "- Clients are created on the first invocation, not at import (so tests can start moto before any client "
        "exists). Lambda is widely observed, though not documented, to run the init phase faster "
        "than the configured CPU share; if so, the import part of a real cold start is shorter than section 7's "
        "model at the configured memory (its *init boosted* column shows how much)."
    )
    return "\n".join(lines)


def requests_findings(results: dict[str, Any]) -> str:
    calls = results["aws_calls"]
    mo = calls["mo"]["ours"]["steady"]
    index_units = sum(item["gsi_wru"] for item in mo.values())
    write, _, _ = C.units(mo)
    return (
        "These are the minimum the design allows: every request above carries one of the README's guarantees "
        "(stored and published exactly once, no lost updates, status only forward, the 24-hour window, a command "
        "sent once), and the hand-written handlers, which keep the same guarantees, need the same ones. Cheaper "
        f"designs are possible only by giving one up. Of an MO's {write:.0f} write units, the `by-contact` and "
        f"`by-reference` indexes take {index_units:.0f}: they hold keys only, so a record's entries are written when "
        "it is first stored, not when its outbox is cleared or a DLR rewrites it (section 3b). An MO's `Received` "
        "waits in the outbox as a mark, built from the record when it goes out, so the record holds the content "
        "once: a typical MO record stays under 1 KB, one write unit on the put and one on the clear."
    )


def relay_paragraph(results: dict[str, Any]) -> str:
    """Section 6: how the relay's batches, invocations and counter writes are modelled, and what it costs."""
    model = results.get("relay_model") or {}
    if not model.get("measured"):
        return ""
    mapping = T.relay_mapping()
    window, size = mapping.get("MaximumBatchingWindowInSeconds", 0), mapping.get("BatchSize", 100)
    cases = [
        ("defaults", "defaults"),
        ("defaults_high_volume", "defaults"),
        ("lean", "lean settings"),
        ("lean_high_volume", "lean settings"),
    ]
    rows = []
    for key, settings in cases:
        case = model[key]
        flows = case["flows"]
        cost = case["usd_per_million"]
        counters = case["counters"]
        rows.append(
            [
                f"{case['rate']:,g}/s, {settings}",
                f"{flows['mo']['shards']:,.0f} / {flows['send']['shards']:,.0f} / {flows['broadcast']['shards']:,.0f}",
                f"{flows['mo']['fill']:.1f} / {flows['send']['fill']:.1f} / {flows['broadcast']['fill']:.1f}",
                f"{flows['mo']['invocations']:.2f} / "
                f"{flows['send']['invocations'] + 2 * flows['dlr']['invocations']:.2f} / "
                f"{flows['broadcast']['invocations'] + 2 * flows[A.broadcast_dlr(flows)]['invocations']:.2f}",
                f"${cost['inbound']['total']:,.2f} / ${cost['outbound']['total']:,.2f} / "
                f"${cost['broadcast']['total']:,.2f}",
                f"{counters['own']['writes']:.2f} (${counters['own']['usd_per_million']:,.2f}) / "
                f"{counters['shared']['writes']:.2f} (${counters['shared']['usd_per_million']:,.2f})",
            ]
        )
    calls = results["aws_calls"]
    records = {flow: calls[flow]["ours"]["relay"]["records"] for flow in ("mo", "send", "dlr")}
    chunk = calls["chunk"]["ours"]["relay"]
    lines = [
        "**The relay.** A send's `Accepted` and a DLR's `Status Changed` go out from the table's stream: the write "
        "that stores them leaves them in the record's `relay`, and `RelayFunction` publishes them (`PutEvents`) and "
        "counts them for campaign summaries (`UpdateItem` on `SUMMARY#`), in batches. Its requests, units and time "
        "are in every flow's figures above (section 3 counted them per flow); Lambda's reads of the stream cost "
        f"nothing. Stream records per message the mapping hands over: MO {records['mo']} (its filter passes only "
        "writes that left events, `relay_version`: an inbound message's go through the outbox), single send "
        f"{records['send']}, DLR {records['dlr']}, broadcast "
        f"recipient {chunk['records'] / calls['chunk']['recipients']:.0f}. *Batches*: Lambda reads each shard of "
        "the stream on its own (one batch at a time), and a DynamoDB stream has about one open shard per table "
        "partition (assumed; AWS does not publish the mapping): partitions = "
        f"max({C.ASSUMPTIONS['stream_shards_at_least']}, table size ÷ {C.ASSUMPTIONS['partition_gb']} GB, "
        "write units a second ÷ "
        f"{C.ASSUMPTIONS['partition_write_units_per_s']:,}), the table's size being what the priced traffic keeps "
        "for RetentionDays. Message ids are random, so every partition takes its share of the writes, and a batch "
        f"holds min({size}, 1 + records a second per shard × {window} s): the first record opens the mapping's "
        f"batching window ({window} s) and those arriving while it is open join it. A table kept "
        f"{A.retention_days()['MSG']:g} days grows with the traffic, and its partitions with it: the batches "
        "stay small at any rate; the lean "
        "settings' 30 days give a smaller table and fuller batches. *Counters*: one write per reference and "
        f"counter shard ({A.summary_shards()} a reference, by message id) for a batch's events. The modelled "
        "traffic has the references the flows were measured with: every single send its own (`order-<n>`, its DLRs "
        "that of their send), so each counted event is a write of its own, as before the relay; a broadcast one "
        f"for all its recipients (measured: {chunk['counted']} events of a chunk in one batch took "
        f"{chunk['counter_keys']} writes). The last column is what the counters cost an outbound single send with "
        "its two DLRs when every send has its own reference (the figures above) and when all the sends are one "
        "campaign's, sharing a reference (nothing with the lean settings, whose summaries count broadcasts only). "
        "*Relay cost per 1,000,000*: its Lambda requests, time (measured, each "
        "record at the time a measured batch took per record, an upper bound for fuller batches) and logs (no "
        "traces: the relay runs with Tracing PassThrough, and a stream's records carry none to continue), "
        "and the counter writes (which the storing invocation made before). The records keep the events of their "
        "last write in `relay` (nothing clears them): the storage figures include them.\n",
        table(
            [
                "traffic",
                "stream shards (inbound / outbound / broadcast)",
                "records per relay batch",
                "relay invocations per message",
                "relay cost per 1,000,000 (inbound / outbound / broadcast)",
                "counter writes per outbound message: own reference / one campaign reference",
            ],
            rows,
        )
        + "\n",
    ]
    return "\n".join(lines)


def cost_section(results: dict[str, Any]) -> str:
    costs = results["cost"]
    inputs = results["cost_inputs"]
    everything = results.get("all_in") or A.all_in(results)
    fixed = results.get("fixed_costs") or A.fixed_costs()
    send, broadcast = inputs["send"], inputs["broadcast"]
    intake = send["intake"]
    memory = T.functions()["SenderFunction"]["memory"]
    rate = everything["rate"]
    lines = []
    flows = ["mo", "dlr", "send", "broadcast", "get"]
    items = [key for key in costs["mo"]["per_million_measured"] if key != "total"]
    rows = []
    for item in items:
        rows.append([item] + [f"${costs[flow]['per_million_measured'][item]:,.2f}" for flow in flows])
    rows.append(
        ["**total (measured durations)**"]
        + [f"**${costs[flow]['per_million_measured']['total']:,.2f}**" for flow in flows]
    )
    rows.append(
        ["total (durations modelled for Lambda)"]
        + [f"${costs[flow]['per_million_modelled']['total']:,.2f}" for flow in flows]
    )
    if "cost_high_volume" in results:
        rows.append(
            [f"total at {everything['high_volume_rate']:,} messages/s (full batches; measured durations)"]
            + [f"${results['cost_high_volume'][flow]['per_million_measured']['total']:,.2f}" for flow in flows]
        )
    rows.append(
        ["Lambda duration used: measured / modelled, ms"]
        + [
            f"{costs[flow]['measured_duration_ms']:.1f} / {costs[flow]['modelled_duration_ms']:.1f}"
            + (
                f" (+ intake {costs[flow]['intake_measured_duration_ms']:.2f} / "
                f"{costs[flow]['intake_modelled_duration_ms']:.2f})"
                if costs[flow].get("intake_measured_duration_ms")
                else ""
            )
            + (
                f" (+ relay {costs[flow]['relay_measured_duration_ms']:.2f} / "
                f"{costs[flow]['relay_modelled_duration_ms']:.2f})"
                if costs[flow].get("relay_measured_duration_ms")
                else ""
            )
            for flow in flows
        ]
    )
    rows.append(["AWS requests per message"] + [f"{inputs[flow]['aws_requests']:.2f}" for flow in flows])
    rows.append(
        ["records per SQS batch (queue → function)"]
        + [
            "; ".join(f"{fill:.1f}" for fill in inputs[flow]["batch_fill"].values())
            if inputs[flow].get("batch_fill")
            else "–"
            for flow in flows
        ]
    )
    rows.append(
        ["traces per message (X-Ray, all functions)"] + [f"{inputs[flow]['traced_invocations']:.3f}" for flow in flows]
    )
    rows.append(
        ["bytes stored per message (table + indexes, kept)"]
        + [f"{sum(inputs[flow]['stored_bytes'].values()):,.0f}" for flow in flows]
    )
    lines.append(
        table(
            ["per 1,000,000", "MO callbacks", "DLR callbacks", "single sends", "broadcast recipients", "record reads"],
            rows,
        )
    )
    eums = costs["eums_social_per_million"]
    paths, high, lean = everything["paths"], everything["high_volume"], everything.get("lean") or {}
    lines.append("")
    lines.append(
        table(
            [
                "per 1,000,000 messages",
                f"this gateway, all in (at {rate:g}/s; measured / modelled durations)",
                f"at {everything['high_volume_rate']:,}/s (full batches)",
                "with the lean settings",
                "target",
                "AWS End User Messaging Social fee",
            ],
            [
                [
                    "inbound (one MO callback)",
                    f"**${costs['inbound_message']['per_million_measured']:,.2f}** / "
                    f"${costs['inbound_message']['per_million_modelled']:,.2f}",
                    f"${high['inbound']['total']:,.2f}" if high else "–",
                    f"${lean['inbound']['total']:,.2f}" if lean else "–",
                    f"≤ ${everything['targets']['inbound']:,.0f}: {target_status(everything, 'inbound')}",
                    f"${eums['inbound']:,.2f}",
                ],
                [
                    "outbound single send (+ its `sent` and `received` DLRs)",
                    f"**${costs['outbound_message']['per_million_measured']:,.2f}** / "
                    f"${costs['outbound_message']['per_million_modelled']:,.2f}",
                    f"${high['outbound']['total']:,.2f}" if high else "–",
                    f"${lean['outbound']['total']:,.2f}" if lean else "–",
                    f"≤ ${everything['targets']['outbound']:,.0f}: {target_status(everything, 'outbound')}",
                    f"${eums['outbound']:,.2f}",
                ],
                [
                    "outbound broadcast recipient (+ 2 DLRs)",
                    f"**${costs['outbound_broadcast_recipient']['per_million_measured']:,.2f}** / "
                    f"${costs['outbound_broadcast_recipient']['per_million_modelled']:,.2f}",
                    f"${high['broadcast']['total']:,.2f}" if high else "–",
                    f"${lean['broadcast']['total']:,.2f}" if lean else "–",
                    "",
                    f"${eums['outbound']:,.2f}",
                ],
            ],
        )
    )
    if lean:
        lines.append("")
        lines.append(
            f"*The lean settings* ({lean_settings_text(everything)}) are the cheapest a deployment can choose that "
            "keep every guarantee: callbacks reach their function through its own URL (no API Gateway request and "
            "no access log line per callback; a reserved concurrency bounds a flood instead of the stage throttle), "
            "nothing is traced unless an upstream service sampled the request (priced here as nothing), records "
            "with their WhatsApp-id pointers are kept 30 days instead of 180, campaign summaries count broadcasts "
            "only (a single send's events write no counters; a broadcast recipient's DLRs, priced apart, still do), "
            "and the functions log warnings and errors only (their INFO lines, measured apart, are left out; metrics "
            "and Lambda's own lines stay). docs/cost.md says what each gives up."
            + (
                f" At {everything['high_volume_rate']:,} messages a second (full batches) they cost "
                f"${everything['lean_high_volume']['inbound']['total']:,.2f} inbound and "
                f"${everything['lean_high_volume']['outbound']['total']:,.2f} outbound."
                if everything.get("lean_high_volume")
                else ""
            )
        )
    lines.append("")
    lines.append(
        "**What each line contributes** (measured durations, at the modelled rate), largest first for an outbound "
        "single send:"
    )
    lines.append("")
    order = sorted((name for name in paths["outbound"] if name != "total"), key=lambda name: -paths["outbound"][name])
    share_rows = []
    for name in order:
        if max(paths[path][name] for path in ("inbound", "outbound", "broadcast")) < 0.005:
            continue
        share_rows.append(
            [name]
            + [
                f"${paths[path][name]:,.2f} ({S.pct(paths[path][name] / paths[path]['total'], 0)})"
                for path in ("inbound", "outbound", "broadcast")
            ]
        )
    share_rows.append(
        ["**total**"] + [f"**${paths[path]['total']:,.2f}**" for path in ("inbound", "outbound", "broadcast")]
    )
    lines.append(table(["line", "inbound (MO)", "outbound send + 2 DLRs", "broadcast recipient + 2 DLRs"], share_rows))
    lines.append("")
    lines.append(
        "Neither column includes Meta's own per-conversation/per-message charges, which both pay; this gateway also "
        "pays the messaging provider's fee, which is not known here. How the figures are made: request counts and "
        f"units from section 3; Lambda at the template's memory ({memory} MB, arm64), billed per ms of the measured "
        "warm duration (in-process moto, full core: *measured*) or of a model of Lambda (*modelled*: the CPU time "
        "measured here × 1,769 MB ÷ memory, plus assumed round trips: "
        + ", ".join(f"{name.replace('_', ' ')} {ms:.0f} ms" for name, ms in C.ASSUMED_LATENCY_MS.items())
        + "). A send or a broadcast goes through the intake before the sender, and both are in its figures: the "
        "request's event on the bus, EventBridge's `SendMessage` to the send queue, the intake's invocation and its "
        "`SendMessageBatch` to a lane, each queue's `ReceiveMessage` and `DeleteMessageBatch` per batch, and the "
        "sender; every queue of the path is FIFO, priced as such. Per single send: "
        f"{send['sqs_requests']:.2f} SQS requests, {send['lambda_invocations']:.2f} Lambda invocations (intake and "
        f"sender), {send['event_chunks']:.0f} EventBridge events, {send['write_units']:.0f} DynamoDB write units (the "
        f"rate budget's included); the intake's Lambda time {intake['measured_ms']:.2f} ms per request (measured, a "
        f"batch of {results['aws_calls']['intake']['requests']} over in-process moto). Per broadcast recipient, the "
        f"request's share is spread over a broadcast of {broadcast['broadcast_recipients']:,} recipients (the one "
        "whose split section 4 measured), and the intake's split is its measured time.\n"
    )
    lines.append(
        f"**Traffic.** Each flow is priced alone at {rate:g} messages a second (inbound messages; single sends, whose "
        f"DLRs then come at {2 * rate:g} a second; broadcast recipients), and at {everything['high_volume_rate']:,} "
        "a second for the other end. *Batches*: Lambda's SQS poller hands a function whatever the queue holds, and "
        "FIFO queues take no batching window, so a batch holds what arrived while the previous one ran: records per "
        f"batch = min({C.ASSUMPTIONS['sqs_batch']}, max(1, rate × (the handler's modelled time for one record + "
        f"{C.ASSUMPTIONS['poll_to_invoke_ms']} ms from arrival to invocation))). At {rate:g}/s that is "
        + "; ".join(f"{name} {fill:.2f}" for name, fill in send["batch_fill"].items())
        + " for single sends; a broadcast's chunks go on the bulk lane at once ("
        + "; ".join(f"{name} {fill:.2f}" for name, fill in broadcast["batch_fill"].items())
        + "). Invocations, each queue's `ReceiveMessage` and `DeleteMessageBatch`, the intake's `SendMessageBatch` "
        "and a batch's shared waits are per batch, so they are divided by these. *X-Ray*: Lambda's active tracing "
        f"records the first request each second of each function and {S.pct(C.ASSUMPTIONS['xray_rate'], 0)} of the "
        "rest (it does not apply custom sampling rules), so a function called r times a second has (1 + "
        f"{C.ASSUMPTIONS['xray_rate']:g} × (r − 1)) ÷ r of its requests traced (all of them under one a second): "
        f"{S.pct(C.xray_share(rate))} at {rate:g}/s, {S.pct(C.xray_share(2 * rate))} at {2 * rate:g}/s, "
        f"{S.pct(C.xray_share(everything['high_volume_rate']))} at {everything['high_volume_rate']:,}/s; each "
        "function of a flow at its own rate. Other assumptions: "
        + ", ".join(f"{k} = {v}" for k, v in C.ASSUMPTIONS.items())
        + ".\n"
    )
    if relay := relay_paragraph(results):
        lines.append(relay)
    days = A.retention_days()
    lines.append(
        "**Storage.** Every item a message leaves behind is billed for as long as it lives: the record (`MSG#`, "
        f"{days['MSG']:g} days: the template's RetentionDays), an inbound message's `WAMID#` pointer "
        f"({days['WAMID']:g} days: as long as an edit or deletion can still come, wab.edits.POINTER_DAYS), the "
        f"sender's idempotency record (`IDEMPOTENCY#`, {days['IDEMPOTENCY']:g} days: IDEMPOTENCY_DAYS), each with "
        "100 bytes of overhead, and the record's entries in the two keys-only indexes (the table's and the index's "
        "key attributes + 100 bytes each). The sizes are those the in-process flows of section 3 stored, a DLR's "
        "being what it adds to its record; `CONTACT#`, `SUMMARY#` and `RATE#` items are per contact, reference or "
        "number, not per message, and left out. Cost = GB × (days ÷ "
        f"{C.ASSUMPTIONS['days_per_month']:g}) months × (${C.PRICES['dynamodb_storage_gb_month']:.2f} storage on "
        f"table and indexes + ${C.PRICES['dynamodb_pitr_gb_month']:.2f} point-in-time recovery on the table: "
        "continuous backups bill the table's size without its global secondary indexes). Per message, bytes: "
        + "; ".join(
            f"{FLOW_NAMES.get(flow, flow)} "
            + ", ".join(f"{name} {size:,.0f}" for name, size in inputs[flow]["stored_bytes"].items() if size)
            for flow in ("mo", "dlr", "send", "broadcast")
        )
        + ". The bus's archive "
        + (
            f"(EventArchiveDays = {T.parameter_default('EventArchiveDays')}) is priced per message from the measured "
            f"size of its events: ${C.PRICES['events_archive_gb']:.2f} per GB archived + "
            f"${C.PRICES['events_archive_gb_month']:.3f} per GB-month kept."
            if send["archive_days"]
            else "is off (EventArchiveDays = 0)."
        )
        + "\n"
    )
    fixed_rows = [[line["item"], f"{line['count']:,}", line["what"], f"${line['usd']:,.2f}"] for line in fixed["lines"]]
    fixed_rows.append(["**total**", "", "", f"**${fixed['total']:,.2f}**"])
    lines.append(
        "**Fixed per month**, whatever the traffic, at the template's defaults (resources counted in template.yaml, "
        "conditions evaluated; metrics in the code):\n"
    )
    lines.append(table(["item", "count", "what", "USD a month"], fixed_rows))
    lines.append("")
    volume = everything["break_even_messages_per_month"]
    monthly = rate * 86400 * C.ASSUMPTIONS["days_per_month"]
    lines.append(
        "Custom metrics, each with the `service` dimension and those listed: "
        + ", ".join(
            f"`{metric['metric']}`" + (f" ({', '.join(metric['dimensions'])})" if metric["dimensions"] else "")
            for metric in fixed["metrics"]
        )
        + f". Without the dashboard (free while the account has fewer than 3 others) and with one value per "
        f"dimension, the fixed part is ${fixed['minimum_total']:,.2f} a month. It falls under "
        f"{S.pct(C.FIXED_SHARE_THRESHOLD, 0)} of the variable cost (the fixed ÷ (10 % × the all-in cost per message)) "
        "from "
        f"**{volume['inbound'] / 1e6:,.1f} M inbound** or **{volume['outbound'] / 1e6:,.1f} M outbound** messages a "
        f"month ({volume['broadcast'] / 1e6:,.1f} M broadcast recipients); at 1 M messages a month it adds "
        f"${fixed['total']:,.2f} per million, at {rate:g} messages/s ({monthly / 1e6:,.0f} M a month) "
        f"${fixed['total'] / (monthly / 1e6):,.2f}. Not counted: "
        "CloudWatch Logs storage after ingestion, and the HTTP API's and Lambda's free tiers."
    )
    lines.append("")
    top = next(iter(order))
    lines.append(
        f"{top} are the largest line of an outbound message (outbox put + clear, the contact window, the index "
        "entries: see section 3); Lambda is a few percent of it, so memory size barely moves the cost (section 7)."
    )
    return "\n".join(lines)


def _usd_change(delta: float) -> str:
    return f"{'+' if delta >= 0 else '−'}${abs(delta):.2f}"


def sizing_section(results: dict[str, Any]) -> str:
    sizing = results["sizing"]
    lines = [
        "Lambda gives a function CPU in proportion to its memory (a full vCPU at 1,769 MB), so CPU-bound time "
        "stretches by 1,769 ÷ memory below that; time waiting on AWS or the provider does not. From the measurements "
        "above: the CPU time of a warm invocation (outside moto and the provider) and of a cold start (import + the "
        "first invocation's own work), the round trips assumed in section 6, and the peak resident set. Each "
        f"function gets the smallest size that keeps {A.HEADROOM}× its peak memory and meets its latency rule with "
        f"{1 - A.LATENCY_MARGIN:.0%} to spare (a size that only just meets a limit here flips from run to run); the "
        "cold-start column assumes the init phase gets no more CPU than the configured share (the worst case; the "
        "next column gives init a full vCPU).",
        "",
    ]
    for function, value in sizing.items():
        rule = value["rule"]
        rule_text = ", ".join(
            f"{k.replace('_ms', '').replace('_s', '')} ≤ {v}{' ms' if k.endswith('_ms') else ' s'}"
            for k, v in rule.items()
            if k != "why"
        )
        chunk_note = (
            f" Broadcast chunks are sized at {A.sizing_chunk()} recipients, BroadcastChunkSize's default and the "
            "most the intake puts in a chunk unless the parameter is raised (a number at a high enough rate gets "
            f"chunks that large; at the default rate the intake makes chunks of {T.chunk_size()}), from the "
            "per-recipient figures of section 6."
            if value["handler"] == "sender"
            else ""
        )
        lines.append(
            f"**{function}** ({value['handler']}): peak resident set {fmt(value['peak_rss_mb'])} MB; CPU per "
            f"warm invocation {value['warm_cpu_ms']:.1f} ms + {value['warm_wait_ms']:.0f} ms waiting; cold "
            f"start CPU {value['cold_cpu_ms']:.0f} ms (import {value['cold_cpu_import_ms']:.0f}, first "
            f"invocation {value['cold_cpu_first_ms']:.0f}). Rule: {rule_text} — it {rule['why']}.{chunk_note}"
        )
        lines.append("")
        headers = [
            "memory MB",
            f"fits ({A.HEADROOM}× peak)",
            "cold start ms",
            "cold, init boosted",
            "warm ms",
            "Lambda $ / 1 M",
        ]
        if value["handler"] == "sender":
            headers += [
                f"chunk of {A.sizing_chunk()} ms",
                "batch of 10 chunks s",
                "Lambda $ / 1 M broadcast recipients",
            ]
        rows = []
        for row in value["rows"]:
            cells = [
                f"**{row['memory_mb']}**" if row["memory_mb"] == value["recommended_mb"] else row["memory_mb"],
                "yes" if row["fits"] else "no",
                fmt(row["cold_ms"], 0),
                fmt(row["cold_ms_if_init_boosted"], 0),
                fmt(row["warm_ms"], 1),
                f"${row['lambda_usd_per_million']:.2f}",
            ]
            if value["handler"] == "sender":
                cells += [
                    fmt(row["chunk_ms"], 0),
                    fmt(row["batch_s"], 1),
                    f"${row['lambda_usd_per_million_broadcast']:.2f}",
                ]
            rows.append(cells)
        lines.append(table(headers, rows))
        lines.append("")
        chosen = next(row for row in value["rows"] if row["memory_mb"] == value["recommended_mb"])
        current = next((row for row in value["rows"] if row["memory_mb"] == value["template_mb"]), None)
        text = f"→ **{value['recommended_mb']} MB** (template: {value['template_mb']} MB)"
        if current and current is not chosen:
            text += (
                f": against {value['template_mb']} MB, "
                f"cold start {current['cold_ms']:,.0f} → {chosen['cold_ms']:,.0f} ms "
                f"({current['cold_ms_if_init_boosted']:,.0f} → {chosen['cold_ms_if_init_boosted']:,.0f} ms if init "
                f"is boosted), warm {current['warm_ms']:.0f} → {chosen['warm_ms']:.0f} ms"
            )
            if value["handler"] == "sender":
                text += (
                    f", a batch of ten broadcast chunks {current['batch_s']:.1f} → {chosen['batch_s']:.1f} s; Lambda "
                    f"cost {_usd_change(chosen['lambda_usd_per_million'] - current['lambda_usd_per_million'])} per "
                    "million single sends (they wait on the provider, and waiting is billed by memory) and "
                    + _usd_change(
                        chosen["lambda_usd_per_million_broadcast"] - current["lambda_usd_per_million_broadcast"]
                    )
                    + " per million broadcast recipients"
                )
            else:
                flow = {"callbacks": "mo", "messages": "get"}[value["handler"]]
                delta = chosen["lambda_usd_per_million"] - current["lambda_usd_per_million"]
                share = delta / results["cost"][flow]["per_million_measured"]["total"]
                text += (
                    f"; Lambda cost {_usd_change(delta)} per million invocations, {abs(share) * 100:.1f} % of the "
                    f"{FLOW_NAMES[flow]} flow's total (section 6)"
                )
        elif current is chosen:
            text += ": the template's size already meets the rule"
        lines.append(text + ".")
        lines.append("")
    recommended = results["cost_at_recommended_memory"]
    lines.append(
        "At the recommended sizes the totals per million become: "
        + ", ".join(
            f"{FLOW_NAMES.get(flow, flow)} ${recommended[flow]['per_million_modelled']['total']:,.2f} (modelled)"
            for flow in ("mo", "dlr", "send", "broadcast", "get")
        )
        + ". "
        + (
            "`template.yaml` uses these sizes."
            if all(value["template_mb"] == value["recommended_mb"] for value in results["sizing"].values())
            else "`template.yaml` differs where marked above: a run on a quieter machine, or Lambda Power Tuning in "
            "the target account, should settle it before the template changes."
        )
    )
    return "\n".join(lines)


def limits_section(results: dict[str, Any]) -> str:
    lines = [
        "- **Real AWS latencies and Lambda's CPU share.** There is no AWS account here: moto answers in-process (or "
        "from a local server) in a few milliseconds, and this machine's core is not a Graviton vCPU. Ratios compare "
        "like with like; absolute durations, the *modelled* columns and the memory sizing rest on the stated "
        "assumptions and should be checked once with Lambda Power Tuning in a real account.",
        "- **Lambda's init phase** (the CPU it really gets, the runtime's own start, the layer unpacking) is not "
        "reproduced: cold-start figures are the Python part only.",
        "- **The provider's real latency** is unknown; the simulator answers on loopback in about a millisecond.",
        "- **X-Ray's cost per sampled request**: the handlers run with tracing on, as deployed, but with an unsampled "
        "trace header (most requests are not traced once a function gets more than one a second, section 6), so a "
        "traced request's extra work "
        "(building and sending segments) is not in the figures.",
        "- **Throughput of the gateway in AWS**: the local stack's rates (sections 4 and 5) are bounded by moto's "
        "single server process; they show linear scaling and that nothing is lost, not Lambda's capacity.",
        "- **Pacing**: every benchmark runs with a number rate (`NumberRatePerSecond="
        f"{T.bench_parameters()['NumberRatePerSecond']}`) at which the rate budget never waits (section 4), so no "
        "figure includes time spent waiting for the number's rate: a deployment at the default rate sends at most "
        f"{T.parameter_default('NumberRatePerSecond')} messages a second per number, however fast the gateway is. "
        "The budget's write is in every figure. The intake has no cold-start or warm comparison of its own; its "
        "requests and time enter the cost of a send and of a broadcast (section 6).",
    ]
    if S.limits(results):
        lines.append(S.limits(results))
    if results["broadcast"]["skipped"]:
        lines.append(
            "- **The largest broadcast(s)** did not fit the run's time budget on the local stack (moto's "
            "single process); their times are extrapolated from the measured sizes, as labelled."
        )
    return "\n".join(lines)


def readme_section(results: dict[str, Any]) -> str:
    meta = results["meta"]
    rows = headline_rows(results)
    return "\n".join(
        [
            "## Benchmarks",
            "",
            f"`make bench` measures the gateway against minimal hand-written boto3 handlers making the same AWS calls "
            f"(latest run: {meta['started'][:10]}, {meta['duration_s']:.0f} s, "
            f"a shared {meta['machine_before']['cpus']}-core machine; every figure is a ratio against a baseline "
            "measured in the same run). Full report, method and plots: [bench/report.md](bench/report.md).",
            "",
            table(["figure", "measured", "target", ""], rows),
            "",
            cold_start_summary(results),
            "",
            *([S.previous_summary(results), ""] if results.get("previous") else []),
        ]
    )


def cold_start_summary(results: dict[str, Any]) -> str:
    imports = results["cold_start"]["import"]
    own = [  # measured in one process where the run has it: two processes apart, the noise is as large as the part
        A_median(value["own_in_process_ms"])
        if value.get("own_in_process_ms")
        else A_median(value["ours_ms"]) - A_median(value["libraries_ms"])
        for value in imports.values()
    ]
    sources = {handler: A_median(value.get("ours_sources_only_ms", [])) for handler, value in imports.items()}
    room = {
        handler: 1.5 * A_median(value["boto3_ms"]) - A_median(value["libraries_ms"])
        for handler, value in imports.items()
    }
    text = (
        "Imported on their own, the libraries the design requires (Powertools' event handler, logger, metrics and "
        "tracer with the X-Ray SDK; pydantic) already take "
        + ", ".join(f"{h} {A_median(v['libraries_ms']) / A_median(v['boto3_ms']):.2f}×" for h, v in imports.items())
        + " of `import boto3` (*the libraries alone*): 1a's 1.5× leaves the gateway's own code "
        + ", ".join(f"{h} {room[h]:.0f} ms" if room[h] >= 0.5 else f"{h} nothing" for h in imports)
        + f", and it takes {min(own):.0f}–{max(own):.0f} ms; 1b's 1.2× is further still (report, section 1)."
    )
    if all(value == value for value in sources.values()):
        text += (
            " The layer ships compiled bytecode, which Lambda cannot write for itself: without it a handler's "
            "import takes "
            + ", ".join(f"{sources[h]:.0f} ms instead of {A_median(imports[h]['ours_ms']):.0f}" for h in imports)
            + " (callbacks, messages, sender)."
        )
    if like := results["cold_start"].get("like_for_like"):
        runtime, code = like_for_like_changes(like)
        text += (
            f" Like for like (the tree of the last python3.11 run, `{like['commit']}`, on both runtimes), the move to "
            f"python3.13 changed wab's own part of the import by {runtime}; the code since, by {code} "
            "(report, section 1a)."
        )
    return text
