"""The send path under the provider's faults and limits, on a running local stack: an outage ridden out (`outage`), a
number paced to its rate while a broadcast runs beside single sends (`pacing`), and each contact's messages in order
through provider errors and throttling (`order`).

Every scenario talks to the stack only through its public interfaces: commands as events on the bus, the queues'
depths, the event tap (narrowed to `WhatsApp Message Failed`) and the provider simulator's `/_sim` endpoints, whose
`accepted_at` (to the microsecond, on this machine's clock) says when the provider took each message. So the same code
measures the send path before the lanes: `python bench/sendpath.py` (`legacy_main`) starts the local stack of an older
tree (commit 6e415a8, the send path before the lanes), with this tree's simulator (the older one has no number rate),
and runs `pacing` against it. For that reason this module imports nothing of the project's own.

A provider call is counted from the simulator's side: each accepted call is one distinct `accepted_at` (a broadcast
call stamps all its recipients with one instant), each refused one is in `/_sim/stats` (`throttled`: 429 #130429, from
`number_rate` and `throttle_rate` alike; `errors`: 500; `pair_rate_limited`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

FAILED = "WhatsApp Message Failed"
SOURCE = "bench.sendpath"  # the `source` of the commands this module puts on the bus
LEGACY_COMMIT = "6e415a8"  # main before the lanes were merged: the send path "today"
Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def template(number: int) -> dict[str, Any]:
    """An approved template whose one parameter carries the message's sequence number (free-form text would need the
    customer's 24-hour window)."""
    return {
        "name": "order_update",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": str(number)}]}],
    }


def sequence(message: dict[str, Any]) -> int:
    return int(message["body"]["template"]["components"][0]["parameters"][0]["text"])


class Probe:
    """A running stack (its `stack.json` content), seen from outside."""

    def __init__(self, info: dict[str, Any]):
        self.info = info
        session = boto3.session.Session(
            region_name=info["region"], aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=20)
        self.events = session.client("events", endpoint_url=info["aws_endpoint_url"], config=config)
        self.sqs = session.client("sqs", endpoint_url=info["aws_endpoint_url"], config=config)
        self.http = requests.Session()
        self._http_lock = threading.Lock()

    # -- the bus -------------------------------------------------------------------------------------------------

    def request(self, detail_type: str, detail: dict[str, Any]) -> float:
        """Put one command on the bus; the epoch just before the put (where a send's latency starts)."""
        return self.request_with_id(detail_type, detail)[0]

    def request_with_id(self, detail_type: str, detail: dict[str, Any]) -> tuple[float, str]:
        """`request`, and the event's id: the gateway's `correlation_id` (and `idempotency_key`) in its logs."""
        put_at = time.time()
        answer = self.events.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self.info["event_bus_name"],
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"the bus refused a command: {answer['Entries'][0]}")
        return put_at, answer["Entries"][0]["EventId"]

    def send(self, destination: str, reference: str, number: int) -> float:
        return self.send_with_id(destination, reference, number)[0]

    def send_with_id(self, destination: str, reference: str, number: int) -> tuple[float, str]:
        detail = {"destination": destination, "type": "template", "template": template(number), "reference": reference}
        return self.request_with_id("WhatsApp Send Requested", detail)

    # -- the provider simulator ----------------------------------------------------------------------------------

    def sim(self, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.info["simulator_url"].rstrip("/") + path
        with self._http_lock:  # one connection pool, used from the scenario's threads
            response = (
                self.http.post(url, json=body, timeout=60) if body is not None else self.http.get(url, timeout=60)
            )
        response.raise_for_status()
        return response.json()

    def reset(self, **faults: Any) -> None:
        """Forget every message and fault count; then these faults (automatic DLRs off: the send path alone)."""
        self.sim("/_sim/reset", {})
        self.sim("/_sim/faults", {"auto_dlr": False, **faults})

    def accepted(self, reference: str) -> list[dict[str, Any]]:
        """What the provider accepted for this reference, oldest first, each with `t` (its `accepted_at`, epoch s)."""
        messages = self.sim(f"/_sim/messages?reference={reference}")
        for message in messages:
            message["t"] = epoch(message["accepted_at"])
        return sorted(messages, key=lambda message: message["t"])

    def accepted_from(self, prefix: str) -> list[dict[str, Any]]:
        """`accepted` for every reference that starts with `prefix`."""
        messages = [m for m in self.sim("/_sim/messages") if (m.get("reference") or "").startswith(prefix)]
        for message in messages:
            message["t"] = epoch(message["accepted_at"])
        return sorted(messages, key=lambda message: message["t"])

    def wait_for(
        self, reference: str, count: int, timeout: float, poll: float = 1.0, *, prefix: bool = False
    ) -> list[dict[str, Any]]:
        """Poll until `count` messages were accepted (for the reference, or every reference it begins) or `timeout`
        passed; then a little longer, so that a duplicate has the chance to show."""
        listing = self.accepted_from if prefix else self.accepted
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(listing(reference)) >= count:
                time.sleep(2)
                break
            time.sleep(poll)
        return listing(reference)

    # -- queues --------------------------------------------------------------------------------------------------

    def depth(self, key: str) -> int:
        """Messages in a queue of the stack (visible and in flight); 0 when this stack has no such queue."""
        url = self.info.get(key)
        if not url:
            return 0
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return sum(int(value) for value in attributes.values())


class FailedEvents:
    """The event tap, narrowed to `WhatsApp Message Failed` (so thousands of `Accepted` events do not fill a queue of
    the emulator), drained in a thread: every Failed event the gateway publishes, by reference."""

    def __init__(self, probe: Probe, stack_name: str = "wab-local"):
        self.probe = probe
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="failed-events", daemon=True)
        self.narrowed = self._narrow(f"{stack_name}-event-tap")

    def _narrow(self, rule: str) -> bool:
        try:
            self.probe.events.put_rule(
                Name=rule,
                EventBusName=self.probe.info["event_bus_name"],
                EventPattern=json.dumps({"source": ["wab.gateway"], "detail-type": [FAILED]}),
            )
            return True
        except Exception:  # an older stack's tap: every event then, still drained
            return False

    def start(self) -> FailedEvents:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(10)

    def of(self, reference: str, *, prefix: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            return [
                event
                for event in self.events
                if event.get("reference") == reference
                or (prefix and (event.get("reference") or "").startswith(reference + "-"))
            ]

    def _drain(self) -> None:
        url = self.probe.info.get("event_tap_queue_url")
        if not url:
            return
        while not self._stopping.is_set():
            try:
                messages = self.probe.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                    "Messages", []
                )
            except Exception:
                self._stopping.wait(1)
                continue
            found = []
            for message in messages:
                event = json.loads(message["Body"])
                if event.get("detail-type") == FAILED:
                    detail = event.get("detail") or {}
                    found.append(
                        {
                            "reference": detail.get("reference"),
                            "destination": detail.get("destination"),
                            "code": (detail.get("error") or {}).get("code"),
                            "command": detail.get("command"),
                        }
                    )
            if messages:
                self.probe.sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )
            with self._lock:
                self.events.extend(found)


# -- what the provider saw ----------------------------------------------------------------------------------------


def provider_calls(accepted: list[dict[str, Any]], stats: dict[str, int]) -> dict[str, int]:
    """Calls the provider answered since the last reset: accepted (one per distinct `accepted_at` and source), and
    refused (429 #130429, 500, pair rate)."""
    ok = len({(message["accepted_at"], message["source"]) for message in accepted})
    refused = {kind: int(stats.get(kind, 0)) for kind in ("throttled", "errors", "pair_rate_limited")}
    return {"accepted": ok, **refused, "total": ok + sum(refused.values())}


def contact_order(messages: list[dict[str, Any]], expected: dict[str, int]) -> dict[str, Any]:
    """For every contact (destination → messages requested, numbered 0..n-1): were they accepted, each once, in the
    requested order? `messages` oldest first."""
    by_contact: dict[str, list[int]] = {destination: [] for destination in expected}
    acceptances: dict[str, list[list[Any]]] = {}
    for message in messages:
        by_contact.setdefault(message["destination"], []).append(sequence(message))
        acceptances.setdefault(message["destination"], []).append(
            [sequence(message), message["id"], message["accepted_at"], message.get("event_id")]
        )
    in_order, out_of_order, incomplete = 0, [], []
    duplicates = 0
    for destination, numbers in by_contact.items():
        seen: list[int] = []
        for number in numbers:
            if number in seen:
                duplicates += 1
            else:
                seen.append(number)
        wanted = list(range(expected.get(destination, 0)))
        if seen == wanted:
            in_order += 1
        elif sorted(seen) == wanted:
            # [number, provider id, accepted_at, the request's event id]: the event id is the `correlation_id` of every
            # line the intake and the sender log about it
            out_of_order.append(
                {"destination": destination, "accepted_order": seen, "accepted": acceptances.get(destination, [])}
            )
        else:
            incomplete.append({"destination": destination, "accepted_order": seen, "requested": len(wanted)})
    return {
        "contacts": len(by_contact),
        "in_order": in_order,
        "out_of_order": len(out_of_order),
        "incomplete": len(incomplete),
        "duplicates": duplicates,
        "examples_out_of_order": out_of_order[:5],
        "examples_incomplete": incomplete[:5],
    }


def delivery(messages: list[dict[str, Any]], requested: int) -> dict[str, int]:
    """Messages accepted once or more (a contact and sequence number), and how many acceptances were repeats."""
    unique = {(message["destination"], sequence(message)) for message in messages}
    return {"requested": requested, "delivered": len(unique), "duplicates": len(messages) - len(unique)}


def sustained_rate(times: list[float], at_last: int) -> float:
    """Messages per second over a stream of acceptances (sorted epochs): those before the last call, over the time
    from the first call to the last (`at_last`: the last call's messages; for a paced stream it gives the rate)."""
    if len(times) < 2 or times[-1] <= times[0]:
        return float("nan")
    return (len(times) - at_last) / (times[-1] - times[0])


def latency(puts: dict[str, float], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Event put → provider accepted, per single send (`puts`: destination → put epoch)."""
    values = [message["t"] - puts[message["destination"]] for message in messages if message["destination"] in puts]
    return {
        "n": len(values),
        "p50_s": percentile(values, 0.5),
        "p95_s": percentile(values, 0.95),
        "max_s": max(values) if values else float("nan"),
    }


# -- 1. outage ----------------------------------------------------------------------------------------------------


def outage(
    probe: Probe,
    failed: FailedEvents,
    *,
    seconds: float,
    commands: int,
    contacts: int,
    rate: float,
    wait_s: float,
    run: str,
    log: Log = _quiet,
) -> dict[str, Any]:
    """The provider answers 500 to everything for `seconds` while `commands` single sends arrive, spread evenly over
    the outage (contact i % contacts, its (i // contacts)-th message); then it recovers."""
    probe.reset(number_rate=rate, error_rate=1.0)
    reference = f"bench-outage-{run}"
    destinations = [f"+64211{index:06d}" for index in range(contacts)]
    expected = Counter(destinations[index % contacts] for index in range(commands))
    started = time.time()
    for index in range(commands):
        _sleep_until(started + index * seconds / commands)
        probe.send(destinations[index % contacts], reference, index // contacts)
    _sleep_until(started + seconds)
    during = probe.accepted(reference)
    stats_outage = probe.sim("/_sim/stats")
    probe.sim("/_sim/faults", {"error_rate": 0.0})
    recovered = time.time()
    log(f"outage: provider back after {recovered - started:.0f} s; {stats_outage['errors']} calls answered 500")
    messages = probe.wait_for(reference, commands, wait_s)
    stats = probe.sim("/_sim/stats")
    times = [message["t"] for message in messages]
    return {
        "outage_s": recovered - started,
        "commands": commands,
        "contacts": contacts,
        "accepted_during_outage": len(during),
        "calls_answered_500": stats_outage["errors"],
        "attempts_per_command_during_outage": stats_outage["errors"] / commands if commands else float("nan"),
        **delivery(messages, commands),
        "order": contact_order(messages, dict(expected)),
        "dead_letters": probe.depth("dlq_url"),
        "failed_events": len(failed.of(reference)),
        "failed_codes": dict(Counter(event["code"] for event in failed.of(reference))),
        "recovery_to_first_s": min(times) - recovered if times else float("nan"),
        "recovery_to_last_s": max(times) - recovered if times else float("nan"),
        "provider_calls_after_recovery": provider_calls(
            messages, {**stats, "errors": stats["errors"] - stats_outage["errors"]}
        ),
        "throttled_after_recovery": stats["throttled"] - stats_outage["throttled"],
    }


# -- 2. pacing ----------------------------------------------------------------------------------------------------


class SingleSends:
    """One single send a second, each to a new contact and with a reference of its own (`<reference>-<n>`: before the
    lanes the reference was the idempotency key), from a thread, until stopped (or `count` were sent)."""

    def __init__(self, probe: Probe, reference: str, prefix: str, count: int | None = None):
        self.probe, self.reference, self.prefix, self.count = probe, reference, prefix, count
        self.puts: dict[str, float] = {}
        self.errors = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"singles-{reference}", daemon=True)

    def start(self) -> SingleSends:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(30)

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        started = time.time()
        index = 0
        while not self._stopping.is_set() and (self.count is None or index < self.count):
            destination = f"{self.prefix}{index:05d}"
            try:
                self.puts[destination] = self.probe.send(destination, f"{self.reference}-{index:05d}", index)
            except Exception:
                self.errors += 1
            index += 1
            self._stopping.wait(max(0.0, started + index - time.time()))


def pacing(
    probe: Probe,
    failed: FailedEvents,
    *,
    recipients: int,
    baseline_sends: int,
    rate: float,
    cap_s: float,
    run: str,
    log: Log = _quiet,
    on_phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Single sends at 1/s alone (the baseline), then a broadcast of `recipients` with single sends at 1/s for as long
    as it runs (or `cap_s`), the provider limiting the number to `rate` messages a second (429 #130429 above it).
    `on_phase("alone")` is called between the two."""
    out: dict[str, Any] = {"rate": rate, "recipients": recipients}
    probe.reset(number_rate=rate)
    base_reference = f"bench-pacing-alone-{run}"
    alone = SingleSends(probe, base_reference, "+6421300", baseline_sends).start()
    alone.join()
    base_messages = probe.wait_for(base_reference, baseline_sends, 60, prefix=True)
    out["alone"] = {
        "sends": len(alone.puts),
        "accepted": len(base_messages),
        "latency": latency(alone.puts, base_messages),
        "provider_calls": provider_calls(base_messages, probe.sim("/_sim/stats")),
        "failed_events": len(failed.of(base_reference, prefix=True)),
    }
    if on_phase:
        on_phase("alone")
    log(
        f"pacing: single sends alone: p50 {out['alone']['latency']['p50_s'] * 1000:.0f} ms, "
        f"p95 {out['alone']['latency']['p95_s'] * 1000:.0f} ms"
    )

    probe.reset(number_rate=rate)
    reference, single_reference = f"bench-pacing-broadcast-{run}", f"bench-pacing-singles-{run}"
    destinations = [f"+642240{index:06d}" for index in range(recipients)]
    requested = probe.request(
        "WhatsApp Broadcast Requested",
        {"destination": destinations, "type": "template", "template": template(0), "reference": reference},
    )
    singles = SingleSends(probe, single_reference, "+6421400").start()
    deadline = requested + cap_s
    count, progress, idle = 0, requested, 0
    while time.time() < deadline:
        time.sleep(2)
        before, count = count, len(probe.sim(f"/_sim/messages?reference={reference}"))
        if count >= recipients:
            break
        # Nothing accepted since the last look and nothing left on the send path's queues (in flight included):
        # what is missing will not come (dead-lettered, given up).
        waiting = sum(probe.depth(key) for key in ("send_queue_url", "priority_lane_url", "bulk_lane_url"))
        idle = idle + 1 if count == before and waiting == 0 else 0
        if idle >= 3:
            log(f"pacing: {count} of {recipients} recipients accepted and nothing left to send")
            break
        if time.time() - progress >= 30:
            log(f"pacing: {count} of {recipients} recipients accepted after {time.time() - requested:.0f} s")
            progress = time.time()
    singles.stop()
    broadcast = probe.accepted(reference)
    single_messages = probe.wait_for(single_reference, len(singles.puts), 60, prefix=True)
    broadcast = probe.accepted(reference)
    stats = probe.sim("/_sim/stats")
    times = [message["t"] for message in broadcast]
    last = times[-1] if times else time.time()
    calls = provider_calls(broadcast + single_messages, stats)
    during = {destination: at for destination, at in singles.puts.items() if at <= last}
    in_window = sorted(times + [m["t"] for m in single_messages if times and times[0] <= m["t"] <= last])
    last_call = sum(1 for t in times if t == last)
    sustained = sustained_rate(in_window, last_call)
    out["with_broadcast"] = {
        "completed": len({m["destination"] for m in broadcast}) >= recipients,
        **delivery(broadcast, recipients),
        "broadcast_s": last - requested,
        "first_accepted_after_s": times[0] - requested if times else float("nan"),
        "broadcast_rate": sustained_rate(times, last_call),
        "total_rate": sustained,
        "throughput_share": sustained / rate if rate else float("nan"),
        "broadcast_calls": len({m["accepted_at"] for m in broadcast}),
        "single_sends": len(singles.puts),
        "single_sends_accepted": len(single_messages),
        "single_send_errors": singles.errors,
        "latency_during": latency(during, single_messages),
        # (put, seconds after the broadcast was requested; latency in seconds), for each single send during it
        "latency_timeline": sorted(
            (round(during[m["destination"]] - requested, 2), round(m["t"] - during[m["destination"]], 3))
            for m in single_messages
            if m["destination"] in during
        ),
        "provider_calls": calls,
        "throttled_share": calls["throttled"] / calls["total"] if calls["total"] else float("nan"),
        "dead_letters": probe.depth("dlq_url"),
        "failed_events": len(failed.of(reference)) + len(failed.of(single_reference, prefix=True)),
        "failed_codes": dict(
            Counter(e["code"] for e in failed.of(reference) + failed.of(single_reference, prefix=True))
        ),
        "left_in_queues": sum(probe.depth(key) for key in ("send_queue_url", "priority_lane_url", "bulk_lane_url")),
    }
    return out


# -- 3. order -----------------------------------------------------------------------------------------------------


def order(
    probe: Probe,
    failed: FailedEvents,
    *,
    messages: int,
    contacts: int,
    error_rate: float,
    throttle_rate: float,
    rate: float,
    timeout_s: float,
    run: str,
    seed: int = 7,
    log: Log = _quiet,
) -> dict[str, Any]:
    """`messages` single sends to `contacts` contacts, interleaved as an application sends them (message j to contact
    j % contacts, its (j // contacts)-th), one event each, while the provider fails `error_rate` of the calls (500)
    and throttles `throttle_rate` (429 #130429) on top of the number's rate."""
    probe.reset(number_rate=rate, error_rate=error_rate, throttle_rate=throttle_rate, seed=seed)
    reference = f"bench-order-{run}"
    destinations = [f"+64215{index:06d}" for index in range(contacts)]
    expected = Counter(destinations[index % contacts] for index in range(messages))
    started = time.time()
    events: dict[tuple[str, int], str] = {}
    for index in range(messages):
        destination, number = destinations[index % contacts], index // contacts
        events[(destination, number)] = probe.send_with_id(destination, reference, number)[1]
    put_s = time.time() - started
    log(f"order: {messages} requests put in {put_s:.0f} s")
    accepted = probe.wait_for(reference, messages, timeout_s, poll=2)
    for message in accepted:  # the request's event id, to follow each message through the functions' logs
        message["event_id"] = events.get((message["destination"], sequence(message)))
    stats = probe.sim("/_sim/stats")
    probe.sim("/_sim/faults", {"error_rate": 0.0, "throttle_rate": 0.0})
    calls = provider_calls(accepted, stats)
    times = [message["t"] for message in accepted]
    return {
        "messages": messages,
        "contacts": contacts,
        "error_rate": error_rate,
        "throttle_rate": throttle_rate,
        "put_s": put_s,
        "elapsed_s": (max(times) - started) if times else float("nan"),
        **delivery(accepted, messages),
        "order": contact_order(accepted, dict(expected)),
        "provider_calls": calls,
        "calls_per_message": calls["total"] / len(accepted) if accepted else float("nan"),
        "dead_letters": probe.depth("dlq_url"),
        "failed_events": len(failed.of(reference)),
        "failed_codes": dict(Counter(event["code"] for event in failed.of(reference))),
    }


def _sleep_until(moment: float) -> None:
    pause = moment - time.time()
    if pause > 0:
        time.sleep(pause)


# -- the send path before the lanes --------------------------------------------------------------------------------


def legacy_main() -> int:
    """`python bench/sendpath.py < spec.json`: run `pacing` on the local stack of an older tree (`legacy_root`), once
    per variant of its template parameters, with this tree's provider simulator; print the results as JSON.

    The older tree's `local` package is imported (its stack, its handlers, its template); its simulator is replaced by
    this tree's (`simulator_root`), which knows the number rate. Each variant's logs are kept in `log_dir/<name>`."""
    spec = json.loads(sys.stdin.read())
    here = Path(__file__).resolve().parent
    sys.path[:] = [spec["legacy_root"]] + [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    from local import stack as legacy  # the older tree's

    class LegacyStack(legacy.LocalStack):
        def _spawn(self, name: str, module: str, args: list[str], log_name: str, environment: Any = None) -> Any:
            cwd = Path(spec["simulator_root"]) if module == "local.simulator" else legacy.PROJECT_DIR
            child = legacy.ChildProcess(name, module, args, self.log_dir / log_name, cwd=cwd, environment=environment)
            self._children.append(child)
            return child

    def log(message: str) -> None:
        print(f"[legacy {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    results = []
    for variant in spec["variants"]:
        state_dir = Path(tempfile.mkdtemp(prefix="wab-bench-legacy-"))
        started = time.monotonic()
        stack = LegacyStack(
            api_port=0, aws_port=0, simulator_port=0, state_dir=state_dir, parameter_overrides=variant["parameters"]
        ).start()
        try:
            log(f"{variant['name']}: stack of {spec['commit']} started in {time.monotonic() - started:.0f} s")
            probe = Probe(stack.info)
            failed = FailedEvents(probe, stack.stack_name).start()
            try:
                result = pacing(probe, failed, run=f"{variant['name']}-{int(time.time())}", log=log, **spec["pacing"])
            finally:
                failed.stop()
            result["name"] = variant["name"]
            result["parameters"] = variant["parameters"]
            results.append(result)
        finally:
            stack.stop()
            kept = Path(spec["log_dir"]) / variant["name"]
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(state_dir / "logs", kept, dirs_exist_ok=True)
            shutil.rmtree(state_dir, ignore_errors=True)
    print(json.dumps(results, default=str))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(legacy_main())
