"""The report's send-path sections (outage, pacing, the send path before the lanes, order, what pacing and ordering
cost), their headline rows, and this run's cold-start and warm figures beside the previous run's."""

from __future__ import annotations

from typing import Any

from bench import cost as C

THROTTLED_TARGET = 0.01
THROUGHPUT_TARGET = 0.90


def fmt(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def ms(seconds: Any) -> str:
    """A duration given in seconds: in ms below 10 s, in s above."""
    if isinstance(seconds, (int, float)) and seconds == seconds and seconds >= 10:
        return fmt(float(seconds), 1, " s")
    return fmt(seconds * 1000 if isinstance(seconds, (int, float)) else seconds, 0, " ms")


def pct(value: Any, digits: int = 1) -> str:
    return fmt(value * 100 if isinstance(value, (int, float)) else value, digits, " %")


def met(ok: bool | None) -> str:
    return "–" if ok is None else ("met" if ok else "**not met**")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# --- the previous run ---------------------------------------------------------------------------------------------


def comparable(results: dict[str, Any]) -> dict[str, Any]:
    """The cold-start and warm figures of a run, small enough to keep in the next run's results.json."""
    meta, cold = results["meta"], results["cold_start"]
    return {
        "python": meta["machine_before"]["python"],
        "started": meta["started"],
        "mode": meta["mode"],
        "import": {
            handler: {
                "ours_ms": median(value["ours_ms"]),
                "boto3_ms": median(value["boto3_ms"]),
                "ratio": value["ratio"],
                "own_ms": value.get("own_ms"),  # beyond the libraries alone: the gateway's own part
                "own_in_process_ms": median(value["own_in_process_ms"]) if value.get("own_in_process_ms") else None,
            }
            for handler, value in cold["import"].items()
        },
        "first_invocation": {
            handler: {
                "ours_ms": value["ours"]["median_total_ms"],
                "hand_ms": value["baseline"]["median_total_ms"],
                "ratio": value["ratio"],
            }
            for handler, value in cold["first_invocation"].items()
        },
        "send_requests": sum(item["count"] for item in results["aws_calls"]["send"]["ours"]["steady"].values()),
        "warm": {
            flow: {
                "ours_ms": value["ours"]["median_ms"],
                "hand_ms": value["baseline"]["median_ms"],
                "ratio": value["ratio"],
            }
            for flow, value in results["warm"].items()
        },
    }


def previous_runs(prior: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What this run keeps of earlier ones: the run it replaces, then the runs that one kept, one per Python version
    (so a run on a new Python keeps the last figures of the old one)."""
    if not prior or "cold_start" not in prior:
        return []
    kept = [comparable(prior)]
    for earlier in prior.get("previous", []):
        if all(earlier["python"] != one["python"] for one in kept):
            kept.append(earlier)
    return kept[:3]


def previous_section(results: dict[str, Any]) -> str:
    previous = results.get("previous") or []
    if not previous:
        return ""
    now = comparable(results)
    label = f"this run (python{_minor(now['python'])})"
    labels = [f"previous (python{_minor(run['python'])}, {run['started'][:10]})" for run in previous]
    lines = [
        "### This run beside the previous ones\n",
        "The same figures from the run(s) this one replaces (kept in results.json under `previous`), each measured "
        "against its own baseline in its own run, so the ratios compare across runs while the milliseconds depend "
        "on the machine's load at the time. "
        + ", ".join(f"{run['python']}: {run['mode']} run of {run['started']}" for run in previous)
        + ".\n",
    ]
    rows = []
    for handler, value in now["import"].items():
        row = [f"1a import: {handler}", f"{fmt(value['ours_ms'])} ms ({value['ratio']:.2f}×)"]
        for run in previous:
            old = run["import"].get(handler)
            row.append(f"{fmt(old['ours_ms'])} ms ({old['ratio']:.2f}×)" if old else "–")
        rows.append(row)
    for handler, value in now["import"].items():
        row = [f"1a wab's own part of the import: {handler}", f"{fmt(value['own_ms'])} ms"]
        for run in previous:
            old = run["import"].get(handler) or {}
            row.append(f"{fmt(old['own_ms'])} ms" if old.get("own_ms") is not None else "–")
        rows.append(row)
    for handler, value in now["import"].items():
        if value.get("own_in_process_ms") is None:
            continue
        row = [f"1a wab's own part in one process: {handler}", f"{fmt(value['own_in_process_ms'])} ms"]
        for run in previous:
            old = run["import"].get(handler) or {}
            row.append(f"{fmt(old['own_in_process_ms'])} ms" if old.get("own_in_process_ms") is not None else "–")
        rows.append(row)
    for handler, value in now["first_invocation"].items():
        row = [f"1b import + 1st call: {handler}", f"{fmt(value['ours_ms'])} ms ({value['ratio']:.2f}×)"]
        for run in previous:
            old = run["first_invocation"].get(handler)
            row.append(f"{fmt(old['ours_ms'])} ms ({old['ratio']:.2f}×)" if old else "–")
        rows.append(row)
    for flow, value in now["warm"].items():
        row = [f"2 warm: {flow}", f"{fmt(value['ours_ms'], 2)} ms ({value['ratio']:.2f}×)"]
        for run in previous:
            old = run["warm"].get(flow)
            row.append(f"{fmt(old['ours_ms'], 2)} ms ({old['ratio']:.2f}×)" if old else "–")
        rows.append(row)
    lines.append(table(["figure (ours, median; ratio to its baseline)", label, *labels], rows) + "\n")
    for run in previous:
        if run.get("send_requests") not in (None, now["send_requests"]):
            lines.append(
                f"The sender's rows are not like for like with the {run['python']} run: there a send made "
                f"{run['send_requests']} AWS requests, here {now['send_requests']} (that run predates the send lanes; "
                "the rate budget's write is the new one), and its hand-written baseline changed with it.\n"
            )
    return "\n".join(lines)


def previous_summary(results: dict[str, Any]) -> str:
    """One paragraph for the README: the cold start and warm ratios beside the previous run's."""
    previous = results.get("previous") or []
    if not previous:
        return ""
    now, old = comparable(results), previous[0]

    def ratios(part: str) -> str:
        return ", ".join(
            f"{name} {value['ratio']:.2f}× ({old[part][name]['ratio']:.2f}×)"
            for name, value in now[part].items()
            if name in old[part]
        )

    return (
        f"On python{_minor(now['python'])}, with the previous run's (python{_minor(old['python'])}, "
        f"{old['started'][:10]}) in brackets: import {ratios('import')}; import + first invocation "
        f"{ratios('first_invocation')}; warm {ratios('warm')} (report, end of section 2)."
    )


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


# --- headline -----------------------------------------------------------------------------------------------------


def headline_rows(results: dict[str, Any]) -> list[list[str]]:
    send = results.get("sendpath")
    if not send:
        return []
    rows = []
    rate = send["rate"]
    outage = send.get("outage")
    if outage:
        rows.append(
            [
                f"Send path: provider outage ({outage['outage_s'] / 60:.1f} min of 500s, {outage['commands']} sends)",
                f"delivered {outage['delivered']}/{outage['requested']}, duplicates {outage['duplicates']}, "
                f"dead letters {outage['dead_letters']}, Failed events {outage['failed_events']}; last delivery "
                f"{outage['recovery_to_last_s']:.1f} s after recovery (retries ≤ {send['retry_max_delay_s']} s apart)",
                "all delivered once, 0 dead letters, 0 Failed",
                met(_outage_ok(outage)),
            ]
        )
    pacing = send.get("pacing")
    if pacing:
        during = pacing["with_broadcast"]
        rows.append(
            [
                f"Send path: pacing ({pacing['recipients']:,}-recipient broadcast at {rate:g}/s + a send a second)",
                f"130429 on {pct(during['throttled_share'], 2)} of calls; throughput "
                f"{pct(during['throughput_share'], 0)} of the rate; single sends p50/p95 "
                f"{ms(during['latency_during']['p50_s'])} / {ms(during['latency_during']['p95_s'])} "
                f"(alone {ms(pacing['alone']['latency']['p50_s'])} / {ms(pacing['alone']['latency']['p95_s'])})",
                "≤ 1 % 130429; ≥ 90 % of the rate",
                met(_pacing_ok(pacing)),
            ]
        )
    order = send.get("order")
    if order:
        rows.append(
            [
                f"Send path: order ({order['messages']:,} sends, {order['contacts']} contacts, "
                f"{order['error_rate']:.0%} errors, {order['throttle_rate']:.0%} throttled)",
                f"{order['order']['in_order']}/{order['order']['contacts']} contacts in order; duplicates "
                f"{order['duplicates']}; delivered {order['delivered']}/{order['requested']}",
                "every contact in order, 0 duplicates",
                met(_order_ok(order)),
            ]
        )
    cost = results.get("sendpath_cost")
    if cost:
        outbound = cost["outbound"]
        lean = results.get("cost_lean", {}).get("outbound_message", {}).get("per_million_measured")
        lean_met = lean is not None and lean <= outbound["target"]
        rows.append(
            [
                "Send path cost: outbound send + 2 DLRs per 1 M (all in, measured durations)",
                f"${outbound['per_million_measured']:,.2f} (pacing and ordering: "
                f"+${cost['steady_total']['single_send']:,.2f}"
                + (
                    f"; retries at {cost['under_faults']['error_rate']:.0%}/{cost['under_faults']['throttle_rate']:.0%}"
                    f" faults: +${cost['under_faults']['usd_total']:,.2f}"
                    if "under_faults" in cost
                    else ""
                )
                + f"); largest: {next(iter(outbound['breakdown']))}"
                + (f"; with the lean settings ${lean:,.2f}" if lean is not None else ""),
                f"≤ ${outbound['target']:,.0f}",
                met(outbound["met"])
                if outbound["met"] or not lean_met
                else "met with the lean settings; **not met** at the defaults",
            ]
        )
    return rows


def _outage_ok(outage: dict[str, Any]) -> bool:
    return (
        outage["delivered"] == outage["requested"]
        and outage["duplicates"] == 0
        and outage["dead_letters"] == 0
        and outage["failed_events"] == 0
    )


def _pacing_ok(pacing: dict[str, Any]) -> bool:
    during = pacing["with_broadcast"]
    share = during["throughput_share"]
    return bool(during["throttled_share"] <= THROTTLED_TARGET and share == share and share >= THROUGHPUT_TARGET)


def _order_ok(order: dict[str, Any]) -> bool:
    return order["order"]["in_order"] == order["order"]["contacts"] and order["duplicates"] == 0


# --- sections -----------------------------------------------------------------------------------------------------


def sections(results: dict[str, Any]) -> str:
    send = results.get("sendpath")
    if not send:
        return ""
    parts = [
        "## 8. The send path under faults and limits\n",
        f"A local stack of its own, with two template parameters changed: `NumberRatePerSecond={send['rate']:g}` (the "
        f"default is 80; {send['rate']:g} messages a second is what this machine's local stack carries beside the "
        "scenarios' own traffic) and `SendRetryMaxDelaySeconds="
        f"{send['retry_max_delay_s']}` (default 300), so that a recovery is seen within seconds. The provider "
        f"simulator limits the business number to the same {send['rate']:g} messages a second (`number_rate`: over "
        "it, 429 with #130429) and sends no DLRs (the send path alone is measured). Commands are events on the bus, "
        "as other services send them; what the provider accepted, and when, is read from the simulator "
        "(`/_sim/messages`, `accepted_at` to the microsecond), Failed events from the event tap, the dead-letter "
        "queue's depth from SQS. A provider call is one accepted call (a distinct `accepted_at`) or one refusal "
        f"(`/_sim/stats`). The machine has {results['meta']['machine_before']['cpus']} cores shared with other work "
        "(load average "
        f"{results['meta']['machine_before']['load_average'][0]:.1f} at the start, "
        f"{results['meta']['machine_after']['load_average'][0]:.1f} at the end), so latencies are this machine's, "
        "not Lambda's.\n",
        f"This run is `{results['meta']['mode']}`. " + modes() + "\n",
    ]
    if "outage" in send:
        parts.append(outage_section(send))
    if "pacing" in send:
        parts.append(pacing_section(send))
    parts.append(legacy_section(send))
    if "order" in send:
        parts.append(order_section(send))
    return "\n".join(parts)


def modes() -> str:
    """The sizes of section 8 in every mode of `python -m bench` (bench.sendbench.SENDPATH_SIZES)."""
    from bench.sendbench import SENDPATH_SIZES

    described = []
    for mode, sizes in SENDPATH_SIZES.items():
        outage, pacing, order = sizes["outage"], sizes["pacing"], sizes["order"]
        described.append(
            f"`{mode}`: an outage of {outage['seconds']} s with {outage['commands']} sends to {outage['contacts']} "
            f"contacts; a broadcast of {pacing['recipients']:,} beside single sends ({pacing['baseline_sends']} alone "
            f"first; before the lanes at most {sizes['legacy_cap_s']} s per broadcast); {order['messages']:,} sends to "
            f"{order['contacts']} contacts; retries at most {sizes['retry_max_delay_s']} s apart"
        )
    return "Sizes per mode — " + "; ".join(described) + ". `smoke` only checks that everything runs."


def outage_section(send: dict[str, Any]) -> str:
    o = send["outage"]
    per_contact = o["commands"] // max(o["contacts"], 1)
    rows = [
        ["sends requested (bus events, spread over the outage)", fmt(o["requested"])],
        ["accepted by the provider during the outage", fmt(o["accepted_during_outage"])],
        [
            "provider calls answered 500 during the outage (per send)",
            f"{fmt(o['calls_answered_500'])} ({fmt(o['attempts_per_command_during_outage'], 1)})",
        ],
        ["**delivered** (accepted at least once)", f"**{o['delivered']}/{o['requested']}**"],
        ["**duplicates at the provider**", f"**{o['duplicates']}**"],
        ["**messages in the dead-letter queue**", f"**{o['dead_letters']}**"],
        ["**`WhatsApp Message Failed` events**", f"**{o['failed_events']}**" + _codes(o["failed_codes"])],
        ["recovery → first delivery", fmt(o["recovery_to_first_s"], 1, " s")],
        ["**recovery → last delivery**", f"**{fmt(o['recovery_to_last_s'], 1, ' s')}**"],
        [
            "provider calls after recovery (429 among them)",
            f"{o['provider_calls_after_recovery']['total']} ({o['throttled_after_recovery']})",
        ],
        [
            "contacts whose messages arrived in the requested order",
            f"{o['order']['in_order']}/{o['order']['contacts']}",
        ],
    ]
    text = [
        "### 8a. A provider outage\n",
        f"The provider answers 500 to every call for {o['outage_s']:.0f} s while {o['commands']} single sends arrive "
        f"on the bus, one every {o['outage_s'] / max(o['commands'], 1):.1f} s ({o['contacts']} contacts, {per_contact} "
        "sends each, interleaved); then it recovers. " + _result(o) + "\n",
        table(["", "measured"], rows) + "\n",
        retries(o),
        f"Why the last delivery comes when it does: each failed attempt puts the message back with a backoff doubling "
        f"from 2 s up to `SendRetryMaxDelaySeconds` ({send['retry_max_delay_s']} s here), and the messages behind it "
        "in its contact's group wait for it; after recovery each contact's head goes at its next attempt, then the "
        f"rest of its group in order at the number's rate. With the default 300 s, a message that has been failing "
        "for a while is retried only every five minutes, so after a long outage the last delivery can come up to "
        "about five minutes (plus the backlog at the number's rate) after the provider is back.\n",
    ]
    return "\n".join(text)


def pacing_section(send: dict[str, Any]) -> str:
    p = send["pacing"]
    during, alone = p["with_broadcast"], p["alone"]
    calls = during["provider_calls"]
    rows = [
        [
            "single sends alone (a send a second, no broadcast)",
            alone["latency"]["n"],
            ms(alone["latency"]["p50_s"]),
            ms(alone["latency"]["p95_s"]),
            ms(alone["latency"]["max_s"]),
        ],
        [
            "single sends during the broadcast",
            during["latency_during"]["n"],
            f"**{ms(during['latency_during']['p50_s'])}**",
            f"**{ms(during['latency_during']['p95_s'])}**",
            ms(during["latency_during"]["max_s"]),
        ],
    ]
    facts = [
        ["broadcast recipients delivered", f"{during['delivered']:,}/{during['requested']:,}"],
        ["request → last recipient accepted", fmt(during["broadcast_s"], 1, " s")],
        [
            "broadcast calls to the provider (recipients per call)",
            f"{during['broadcast_calls']} ({send['chunk_recipients']} at most: bulk's share of the burst)",
        ],
        ["broadcast's own rate", fmt(during["broadcast_rate"], 2, " /s")],
        [
            f"**throughput, broadcast and single sends** (share of {p['rate']:g}/s; target ≥ 90 %)",
            f"**{fmt(during['total_rate'], 2, ' /s')} ({pct(during['throughput_share'])})**",
        ],
        [
            "provider calls: accepted / 429 #130429 / 500",
            f"{calls['accepted']} / {calls['throttled']} / {calls['errors']}",
        ],
        ["**130429 share of calls** (target ≤ 1 %)", f"**{pct(during['throttled_share'], 2)}**"],
        ["single sends during the broadcast: delivered", f"{during['single_sends_accepted']}/{during['single_sends']}"],
        [
            "rate budget writes per message (refused: another invocation moved the budget first)",
            _budget_writes(p.get("aws_requests")),
        ],
        [
            "dead letters / Failed events / left on the queues",
            f"{during['dead_letters']} / {during['failed_events']} / {during['left_in_queues']}",
        ],
    ]
    return "\n".join(
        [
            "### 8b. Pacing: a broadcast and single sends on one number\n",
            f"A broadcast of {p['recipients']:,} recipients (one `Broadcast Requested` event) with a single send to a "
            f"new contact every second for as long as it runs; before it, {alone['sends']} single sends a second apart "
            f"with no broadcast. Latency is from the event's put to the provider's `accepted_at`. "
            f"Throughput counts every message the provider accepted from the broadcast's first acceptance to its last "
            f"(the last call's own recipients excluded), over that time. {_result(during, pacing=True)}\n",
            table(["latency, event put → provider accepted", "sends", "p50", "p95", "max"], rows) + "\n",
            table(["", "measured"], facts) + "\n",
            retries(p),
            contention(p),
            slow_singles(p),
        ]
    )


def _budget_writes(summary: dict[str, Any] | None) -> str:
    if not summary or not summary.get("messages"):
        return "–"
    writes = sum(value for key, value in summary["requests"].items() if "[RATE]" in key)
    refused = sum(value for key, value in summary["failed"].items() if "[RATE]" in key)
    return f"{writes / summary['messages']:.2f} ({refused / summary['messages']:.2f})"


def slow_singles(p: dict[str, Any]) -> str:
    """Which single sends were slow during the broadcast, and what the intake was doing then."""
    during = p["with_broadcast"]
    timeline = during.get("latency_timeline") or []
    slow = [(put, seconds) for put, seconds in timeline if seconds > 1.0]
    if not slow:
        return ""
    summary = p.get("aws_requests") or {}
    intake = (summary.get("invocations") or {}).get("IntakeFunction", {})
    longest = intake.get("longest_ms", 0.0) / 1000
    batches = summary.get("requests", {}).get("sqs.SendMessageBatch [bulk lane]", 0)
    batch_ms = summary.get("mean_ms", {}).get("sqs.SendMessageBatch [bulk lane]", float("nan"))
    early = [(put, seconds) for put, seconds in slow if put <= longest + 1]
    text = (
        f"**Single sends during the broadcast:** {len(slow)} of {len(timeline)} took over 1 s"
        f" (the slowest {max(seconds for _, seconds in slow):.1f} s)"
    )
    if early:
        text += (
            f"; {len(early)} of them were requested in the first {max(put for put, _ in early):.0f} s after the "
            f"broadcast, and reached the provider {min(put + s for put, s in early):.1f}–"
            f"{max(put + s for put, s in early):.1f} s after it was requested. They waited behind the "
            "intake's handling of the broadcast request: the bus's requests share one message group on the send "
            "queue (to keep their order), so a request behind a broadcast waits until all of its chunks are on the "
            f"bulk lane. That intake invocation took {longest:.1f} s here, "
            + (
                f"{'most of it' if batches * batch_ms / 1000 >= longest / 2 else 'of which'} {batches} "
                f"SendMessageBatch calls of ten chunks at {batch_ms:.0f} ms each against moto's FIFO queue"
                if batches
                else "its SendMessageBatch calls against moto"
            )
            + ". SQS answers such a call in milliseconds, so on AWS the wait would be far shorter; the head-of-line "
            "wait itself is the design's: a request put just after a large broadcast waits for its whole split."
        )
    later = len(slow) - len(early)
    if later:
        text += f" {later} slow send(s) came later in the broadcast."
    return text + "\n"


def legacy_section(send: dict[str, Any]) -> str:
    legacy = send.get("legacy")
    head = "### 8c. The same pacing scenario on the send path before the lanes\n"
    if not legacy:
        return head + "\nNot run in this mode.\n"
    if legacy.get("skipped"):
        return head + f"\nNot measured: {legacy['skipped']}.\n"
    rows = []
    for variant in legacy["variants"]:
        during, alone = variant["with_broadcast"], variant["alone"]
        chunk = legacy["chunk_recipients"].get(variant["name"])
        calls = during["provider_calls"]
        rows.append(
            [
                f"{variant['name'].replace('_', ' ')} (chunks of {chunk})",
                f"{during['delivered']:,}/{during['requested']:,} in {fmt(during['broadcast_s'], 0, ' s')}"
                + ("" if during["completed"] else " (stopped)"),
                f"{fmt(during['total_rate'], 2)} ({pct(during['throughput_share'], 0)})",
                f"{calls['throttled']}/{calls['total']} ({pct(during['throttled_share'], 1)})",
                f"{during['single_sends_accepted']}/{during['single_sends']}",
                f"{ms(during['latency_during']['p50_s'])} / {ms(during['latency_during']['p95_s'])}",
                f"{ms(alone['latency']['p50_s'])} / {ms(alone['latency']['p95_s'])}",
                f"{during['dead_letters']} / {during['failed_events']}",
            ]
        )
    lanes = send.get("pacing", {}).get("with_broadcast")
    if lanes:
        p = send["pacing"]
        calls = lanes["provider_calls"]
        rows.append(
            [
                f"**with the lanes** (section 8b; chunks of {send['chunk_recipients']})",
                f"{lanes['delivered']:,}/{lanes['requested']:,} in {fmt(lanes['broadcast_s'], 0, ' s')}",
                f"{fmt(lanes['total_rate'], 2)} ({pct(lanes['throughput_share'], 0)})",
                f"{calls['throttled']}/{calls['total']} ({pct(lanes['throttled_share'], 1)})",
                f"{lanes['single_sends_accepted']}/{lanes['single_sends']}",
                f"{ms(lanes['latency_during']['p50_s'])} / {ms(lanes['latency_during']['p95_s'])}",
                f"{ms(p['alone']['latency']['p50_s'])} / {ms(p['alone']['latency']['p95_s'])}",
                f"{lanes['dead_letters']} / {lanes['failed_events']}",
            ]
        )
    cap = None
    for variant in legacy["variants"]:
        cap = variant.get("cap_s", cap)
    notes = _legacy_notes(legacy, send)
    return "\n".join(
        [
            head,
            f"Commit {legacy['commit']} (main before the lanes were merged: the bus straight to one standard send "
            "queue, the sender calling the provider as fast as its two invocations of ten go, no rate budget; a "
            "throttled command is retried with backoff and moved to the dead-letter queue after its fifth receive), "
            "extracted with `git archive` into bench/.cache/ and started as its own local stack in a process of its "
            "own, with this tree's provider simulator (the older one has no number rate). Same scenario, same rate at "
            "the provider. It was run twice: with its own default (broadcast chunks of 100 recipients) and with the "
            "chunk size the lanes' intake makes at this rate. Each broadcast is given at most "
            f"{send.get('legacy_cap_s', '–')} s, and the wait ends early when nothing is accepted and nothing is left "
            "on its queue. Each single send has a reference of its own: before the lanes a `reference` was the "
            "idempotency key. Logs: `" + str(legacy.get("logs")) + "`.\n",
            table(
                [
                    "send path",
                    "broadcast delivered",
                    "throughput /s (share of rate)",
                    "130429 / calls",
                    "single sends delivered",
                    "single sends p50 / p95, during",
                    "alone",
                    "dead letters / Failed",
                ],
                rows,
            )
            + "\n",
            notes,
        ]
    )


def _legacy_notes(legacy: dict[str, Any], send: dict[str, Any]) -> str:
    notes = []
    rate = send["rate"]
    for variant in legacy["variants"]:
        during = variant["with_broadcast"]
        chunk = legacy["chunk_recipients"].get(variant["name"])
        name = variant["name"].replace("_", " ")
        if isinstance(chunk, int) and chunk > rate and during["delivered"] == 0:
            notes.append(
                f"- **{name}**: a chunk of {chunk} recipients asks for more than the number may send in a second "
                f"({rate:g}), so the provider refuses it with 130429 however often it is retried: none of the "
                f"broadcast's recipients arrived ({during['dead_letters']} message(s) in the dead-letter queue when "
                "the run ended; the retries' backoff decides when the last goes there). Single sends still went, "
                "between the refused chunks."
            )
        elif during["delivered"]:
            notes.append(
                f"- **{name}**: without a budget the sender learns the rate only from 429s: "
                f"{pct(during['throttled_share'], 0)} of its provider calls were refused, and the backoff after each "
                f"refusal leaves the number idle, so it reached {pct(during['throughput_share'], 0)} of the rate"
                + (
                    ""
                    if during["completed"]
                    else f" and delivered {during['delivered']:,} of {during['requested']:,} before the run stopped"
                )
                + "."
            )
    lanes = send.get("pacing", {}).get("with_broadcast")
    if lanes:
        notes.append(
            f"- **With the lanes** the budget holds the broadcast to bulk's share and leaves room for single sends: "
            f"{pct(lanes['throttled_share'], 2)} 130429s, {pct(lanes['throughput_share'], 0)} of the rate. The lanes "
            "add latency to every send on this stack (the intake's hop and the FIFO lanes' short polls): compare the "
            "*alone* columns."
        )
    return "\n".join(notes) + "\n"


def order_section(send: dict[str, Any]) -> str:
    o = send["order"]
    order = o["order"]
    calls = o["provider_calls"]
    rows = [
        [
            "sends requested (bus events, interleaved across contacts)",
            f"{o['requested']:,} to {o['contacts']} contacts",
        ],
        [
            "**contacts whose messages the provider accepted in the requested order**",
            f"**{order['in_order']}/{order['contacts']}**",
        ],
        ["contacts out of order / incomplete", f"{order['out_of_order']} / {order['incomplete']}"],
        ["**duplicates at the provider**", f"**{o['duplicates']}**"],
        ["delivered", f"{o['delivered']:,}/{o['requested']:,}"],
        [
            "provider calls: accepted / 500 / 429 (per delivered message)",
            f"{calls['accepted']} / {calls['errors']} / {calls['throttled']} ({fmt(o['calls_per_message'], 2)})",
        ],
        ["dead letters / Failed events", f"{o['dead_letters']} / {o['failed_events']}" + _codes(o["failed_codes"])],
        ["first request → last acceptance", fmt(o["elapsed_s"], 0, " s")],
    ]
    examples = ""
    if order["examples_out_of_order"] or order["examples_incomplete"]:
        examples = (
            "Examples (sequence numbers in the order the provider accepted them): "
            + "; ".join(
                f"{item['destination']}: {item['accepted_order']}"
                for item in order["examples_out_of_order"] + order["examples_incomplete"]
            )
            + "\n"
        )
    return "\n".join(
        [
            "### 8d. Order through errors and throttling\n",
            f"{o['requested']:,} single sends to {o['contacts']} contacts ({o['requested'] // max(o['contacts'], 1)} "
            "each, numbered), put on the bus one event at a time and interleaved as an application sends them, while "
            f"the provider fails {o['error_rate']:.0%} of the calls with 500 and throttles {o['throttle_rate']:.0%} "
            "with 429 #130429 (besides the number's rate). moto's bus delivers each event before `PutEvents` returns, "
            "so the requested order is the order of the puts. For every contact: were its messages accepted by the "
            f"provider in that order (by `accepted_at`), each once? {_result(o, order=True)}\n",
            table(["", "measured"], rows) + "\n",
            retries(o),
            contention(o),
            examples,
        ]
    )


def retries(result: dict[str, Any]) -> str:
    """What the functions' logs say about the commands they put back for another attempt."""
    found = result.get("retries")
    if found is None:
        return ""
    parts = [
        f"{function.removesuffix('Function').lower()}: "
        + ", ".join(f"{count:,} × {reason}" for reason, count in reasons.items())
        for function, reasons in found.items()
        if reasons
    ]
    return (
        "Commands put back for another attempt, by the reason their function logged: "
        + ("; ".join(parts) if parts else "none")
        + ".\n"
    )


def contention(result: dict[str, Any]) -> str:
    """Why commands were put back as failures by the rate budget, when they were."""
    count = sum(
        value
        for reasons in (result.get("retries") or {}).values()
        for reason, value in reasons.items()
        if "contended" in reason
    )
    if not count:
        return ""
    return (
        f"**The rate budget put {count:,} commands back as failures.** `RateBudget.take` (wab/pacing.py) tries at "
        "most 32 times, and a wait for room counts as one of its tries as much as a write another invocation beat: "
        "with many chunks (or sends) taking from one number at once, a take that keeps losing the race for the next "
        'slot runs out of tries and raises `DependencyFailed` ("contended beyond 32 attempts"). The sender then '
        "treats it as a failure that may pass, not as pacing: the command is retried with backoff, its idempotency "
        "claim is released and taken again, an attempt counter is written, and the `SendRetries` metric counts it "
        "(`reason: dependency_failed`), where `Deferred` would have put it back for just the time the budget "
        "needs. Nothing is lost, doubled or reordered by it; it costs requests (section 9) and time.\n"
    )


def _codes(codes: dict[str, int]) -> str:
    return f" ({', '.join(f'{code}: {count}' for code, count in codes.items())})" if codes else ""


def _result(result: dict[str, Any], *, pacing: bool = False, order: bool = False) -> str:
    problems = result.get("misbehaviour")
    if problems is None:
        return ""
    if not problems:
        return "Nothing lost, doubled, reordered or dead-lettered."
    return "**Found:** " + "; ".join(problems) + f" (the functions' logs: `{result.get('evidence', '–')}`)."


# --- 9. cost ------------------------------------------------------------------------------------------------------


def cost_section(results: dict[str, Any]) -> str:
    cost = results.get("sendpath_cost")
    if not cost:
        return ""
    outbound = cost["outbound"]
    parts = ["## 9. What pacing and ordering cost\n"]
    parts.append(
        "From the cost model of section 6 (steady traffic at its modelled rate, SQS batches as full as that traffic "
        "makes them, the prices above): what the send path "
        "pays for the rate budget and the ordered lanes that the path before them did not (a standard send queue "
        "read by the sender itself, no budget).\n"
    )
    rows = []
    for flow, label in (("single_send", "single send"), ("broadcast_recipient", "broadcast recipient")):
        for line in cost["steady"][flow]:
            rows.append([label, line["item"], fmt(line["requests"], 3), f"${line['usd']:,.3f}"])
        rows.append(
            [
                f"**{label}**",
                "**total**",
                f"**{fmt(cost['steady_requests'][flow], 3)}**",
                f"**${cost['steady_total'][flow]:,.2f}**",
            ]
        )
    parts.append(table(["per message", "what", "AWS requests per message", "USD per 1 M messages"], rows) + "\n")
    budget = cost.get("budget_writes")
    if budget:
        parts.append(
            "Measured on the local stack (section 8b): the budget's conditional `PutItem` per single send alone "
            f"{budget['single_alone_per_message']:.2f} ({budget['single_alone_failed_per_message']:.2f} of them "
            "refused because another invocation had moved the budget: a refused condition still bills its write "
            "unit), and per message while the broadcast ran (chunks of "
            f"{budget['broadcast_chunk_recipients']}) {budget['broadcast_per_message']:.2f} "
            f"({budget['broadcast_failed_per_message']:.2f} refused). Contention among invocations makes the budget "
            "dearer than its one write per take; at these counts it is "
            f"${budget['broadcast_per_message'] * C.PRICES['dynamodb_write_unit'] * 1e6:,.2f} per million messages "
            "of a broadcast with single sends beside it.\n"
        )
    faults = cost.get("under_faults")
    if faults:
        extra = ", ".join(
            f"`{key}` {value:.2f}" for key, value in list(faults["extra_requests_per_message"].items())[:8]
        )
        parts.append(
            f"**Retries under faults** (section 8d: {faults['error_rate']:.0%} errors, "
            f"{faults['throttle_rate']:.0%} throttling, {faults['provider_calls_per_message']:.2f} provider calls per "
            "delivered message): requests per delivered message beyond the same single sends without faults — "
            f"{extra} — {faults['extra_requests_total']:.1f} in all (the attempt counters, the visibility changes that "
            "put a message back, the idempotency claim taken and released again, the budget's unit taken again and "
            f"its refused writes: {faults['budget_writes_per_message']:.2f} budget writes per delivered message, "
            f"{faults['budget_refused_per_message']:.2f} of them refused), "
            f"${faults['usd_total']:,.2f} per million messages (each write priced as one unit: the items are under "
            "1 KB and on no index). Request kinds the faults made rarer (fuller batches) are not subtracted, so this "
            "is an upper bound.\n"
        )
    lines = [
        [name, f"${value:,.2f}", pct(value / outbound["per_million_measured"], 0)]
        for name, value in outbound["breakdown"].items()
        if value >= 0.005
    ]
    parts.append(
        f"**The outbound path on AWS** — a single send and its two DLRs (`sent`, `received`), all in (measured "
        "durations; storage and point-in-time recovery, batches and tracing at the modelled rate; section 6): "
        f"**${outbound['per_million_measured']:,.2f}** per million messages (modelled for Lambda: "
        f"${outbound['per_million_modelled']:,.2f}; a broadcast recipient and its DLRs "
        f"${outbound['broadcast_recipient_per_million_measured']:,.2f}"
        + (f"; with the retries of section 8d's faults ${outbound['under_faults_per_million']:,.2f}" if faults else "")
        + f"), against a target of ${outbound['target']:,.0f}: **{met(outbound['met']).strip('*')}**. The cost "
        "model's own breakdown:\n"
    )
    parts.append(table(["line", "USD per 1 M (send + 2 DLRs)", "share"], lines) + "\n")
    top = next(iter(outbound["breakdown"]))
    parts.append(
        (
            f"{top} are the largest line. Every DynamoDB write is billed per 1 KB of item on the table, and again on "
            "each keys-only index whose entry it puts or moves, and a send and its two "
            "DLRs write the record three times with its event in the outbox and clear the outbox three times, "
            "besides the send's idempotency claim and outcome and its rate budget unit (section 3). What pacing and "
            f"ordering add (${cost['steady_total']['single_send']:,.2f} per million single sends) is a small part "
            "of it; the target would need fewer or smaller writes per message, not a cheaper budget or intake. The "
            "product is unchanged here: this is the measured cost."
            if not outbound["met"]
            else "The outbound path is within the target."
        )
        + "\n"
    )
    return "\n".join(parts)


def limits(results: dict[str, Any]) -> str:
    send = results.get("sendpath")
    if not send:
        return ""
    return (
        f"- **The send path's scenarios (section 8)** run at {send['rate']:g} messages a second, not the default 80 or "
        "WhatsApp's higher tiers: the local stack shares this machine's cores with moto, the simulator and other "
        "work. The rate budget's arithmetic does not depend on the rate, but its contention does (more invocations "
        "taking units at once), and Lambda's pollers, SQS and DynamoDB latencies are not reproduced. The retry "
        f"backoff is capped at {send['retry_max_delay_s']} s instead of 300 s, which shortens the recovery measured "
        "in 8a (see there)."
    )
