"""The benchmarks that need the whole local stack: broadcasts end to end, sustained callbacks, memory per handler.

One `LocalStack` (moto server, HTTP API, SQS pollers, provider simulator) serves them all, with the simulator's
automatic DLRs off (the send path alone is measured; DLR load is measured on its own) and its 24-hour-window check
off, and with the benchmarks' template parameters (template_info.bench_parameters: a number rate the rate budget never
paces at, chunks as at the default rate). This process watches every AWS request through `CallRecorder`, and the
intake's and sender's invocations, the sender's provider calls and thread-pool phases through small wrappers, without
changing any of the project's files.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from bench import handlers as H
from bench import lambda_env as L
from bench import lane_bodies as B
from bench import template_info as T
from bench.awscalls import Call, CallRecorder

SENDER = "SenderFunction"
INTAKE = "IntakeFunction"
LOAD_WARMUP = 3  # callbacks per client thread before the measured load (they start the execution environments)


class SenderWatch:
    """Counts the send path's invocations in flight (intake and sender), and times the sender's provider calls and
    settle-pool phases per thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.invocations: list[tuple[float, float, str, str]] = []  # (start, ms, thread, function)
        self.provider: list[tuple[str, float]] = []  # (thread, ms)
        self.pools: list[tuple[str, float]] = []

    def wrap_invoke(self, function: Any, name: str) -> None:
        original = function.invoke
        watch = self

        def invoke(event: Any) -> Any:
            with watch.lock:
                watch.in_flight += 1
            started = time.perf_counter()
            try:
                return original(event)
            finally:
                with watch.lock:
                    watch.in_flight -= 1
                    watch.invocations.append(
                        (started, (time.perf_counter() - started) * 1000, threading.current_thread().name, name)
                    )

        function.invoke = invoke

    def of(self, name: str) -> list[tuple[float, float, str, str]]:
        return [invocation for invocation in self.invocations if invocation[3] == name]

    def wrap_modules(self) -> None:
        import concurrent.futures

        from wab import outbox, provider

        watch = self
        original_send = provider.ProviderClient._send_http

        def send_http(client: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original_send(client, *args, **kwargs)
            finally:
                with watch.lock:
                    watch.provider.append((threading.current_thread().name, (time.perf_counter() - started) * 1000))

        provider.ProviderClient._send_http = send_http  # type: ignore[method-assign, assignment]

        class TimedPool(concurrent.futures.ThreadPoolExecutor):
            def __enter__(self) -> Any:
                self._bench_started = time.perf_counter()
                return super().__enter__()

            def __exit__(self, *exc: Any) -> Any:
                try:
                    return super().__exit__(*exc)
                finally:
                    with watch.lock:
                        watch.pools.append(
                            (threading.current_thread().name, (time.perf_counter() - self._bench_started) * 1000)
                        )

        outbox.ThreadPoolExecutor = TimedPool  # type: ignore[misc]  # the pool that settles a chunk's outbox

    def reset(self) -> None:
        with self.lock:
            self.invocations, self.provider, self.pools = [], [], []


def _published_accepted(calls: list[Call]) -> int:
    return sum(
        call.entries
        for call in calls
        if call.ok and call.operation == "PutEvents" and call.origin == "function" and "Accepted" in call.note
    )


class StackBench:
    def __init__(self, config: dict[str, Any], log: Callable[[str], None]):
        self.config = config
        self.log = log
        self.recorder = CallRecorder(detail=False)
        self.watch = SenderWatch()
        self.stack: Any = None
        self.record_threads: set[str] = set()  # where the sender ran its records (as against its settle pool)

    # -- lifecycle -----------------------------------------------------------------------------------------------------

    def run(self, deadline: float) -> dict[str, Any]:
        from local.stack import LocalStack

        self.recorder.install()
        out: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="wab-bench-stack-") as state_dir:
            started = time.monotonic()
            for attempt in range(3):
                try:
                    self.stack = LocalStack(
                        api_port=0,
                        aws_port=0,
                        simulator_port=0,
                        state_dir=state_dir,
                        parameter_overrides=T.bench_parameters(),
                    ).start()
                    break
                except Exception as exc:  # a port race or a slow moto start: try again
                    if attempt == 2:
                        raise
                    self.log(f"local stack did not start ({exc}); retrying")
            try:
                out["stack_start_s"] = time.monotonic() - started
                self.simulate("/_sim/faults", {"auto_dlr": False, "enforce_window": False})
                self.watch.wrap_invoke(self.stack.functions[SENDER], SENDER)
                self.watch.wrap_invoke(self.stack.functions[INTAKE], INTAKE)
                self.watch.wrap_modules()
                sqs = self.stack.client("sqs")
                scratch = H.scratch_queues(self.stack)
                self.log("memory per handler (a process each, against the stack's moto server)")
                memory = H.run_memory(
                    self.stack,
                    H.memory_tasks(
                        self.config["memory_n"],
                        self.config["memory_warmup"],
                        self.config["broadcast_memory_recipients"],
                        T.bench_chunk_size(),
                        self.config.get("memory_flows"),
                    ),
                    scratch,
                )
                out["memory"] = H.reduce_memory(memory)
                self.log("cold start 1b: import + first invocation, a new interpreter each, against the moto server")
                out["cold_starts"] = H.run_cold_starts(self.stack, self.config["cold_samples"], scratch)
                for url in scratch.values():
                    sqs.purge_queue(QueueUrl=url)
                sqs.purge_queue(QueueUrl=self.stack.info["event_tap_queue_url"])
                time.sleep(0.5)
                out["callback_load"] = {}
                for flow in ("mo", "dlr"):
                    self.log(
                        f"callback load: {flow}, {self.config['load_clients']} clients, {self.config['load_seconds']} s"
                    )
                    out["callback_load"][flow] = self.callback_load(flow)
                    load = out["callback_load"][flow]
                    if load["errors"] or load["records_lost"] or load["events_lost"]:
                        kept = L.ROOT / "bench" / ".cache" / f"load-{flow}-logs"
                        shutil.copytree(self.stack.log_dir, kept, dirs_exist_ok=True)
                        self.log(
                            f"callback load {flow}: {load['statuses']}, {load['records_lost']} records and "
                            f"{load['events_lost']} events missing; the functions' logs are in {kept}"
                        )
                self.detach_tap()
                out["broadcast"] = self.broadcasts(deadline)
                self.log("sender profile: chunk invocations one at a time, pollers paused")
                out["sender_profile"] = self.profile_chunks(self.config["profile_chunks"])
            finally:
                self.stack.stop()
                self.recorder.uninstall()
        return out

    def simulate(self, path: str, body: dict[str, Any] | None = None) -> Any:
        import requests

        url = self.stack.info["simulator_url"] + path
        response = requests.post(url, json=body, timeout=60) if body is not None else requests.get(url, timeout=60)
        response.raise_for_status()
        return response.json()

    def detach_tap(self) -> None:
        """moto's SQS recounts a queue's messages on every send (O(queue length)); a tap filling with thousands of
        events would make every later publish slower, an artefact of the emulator. Broadcast events are counted where
        they are published instead, and the records in the table."""
        events = self.stack.client("events")
        bus = self.stack.info["event_bus_name"]
        rule = f"{self.stack.stack_name}-event-tap"
        targets = events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]
        if targets:
            events.remove_targets(Rule=rule, EventBusName=bus, Ids=[target["Id"] for target in targets])

    # -- 5: callback load ---------------------------------------------------------------------------------------------

    def callback_load(self, flow: str) -> dict[str, Any]:
        info = self.stack.info
        config = self.config
        first_index = 0
        if flow == "dlr":
            from bench.inproc import seed

            first_index = 300_000
            count = config["load_max_requests"] + config["load_clients"] * LOAD_WARMUP
            seed(self.stack.client("dynamodb"), info["table_name"], range(first_index, first_index + count))
        spec = {
            "api_url": info["api_url"],
            "aws_endpoint_url": info["aws_endpoint_url"],
            "region": info["region"],
            "tap_queue_url": info["event_tap_queue_url"],
            "username": info["callback_username"],
            "password": info["callback_password"],
            "flow": flow,
            "run": f"load{int(time.time())}",
            "clients": config["load_clients"],
            "seconds": config["load_seconds"],
            "max_requests": config["load_max_requests"],
            "first_index": first_index,
            "drain_seconds": 30,
            "warmup": LOAD_WARMUP,
        }
        samples: list[tuple[float, float, float]] = []  # (epoch, moto server CPU s, gateway process CPU s)
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.2):
                samples.append((time.time(), self.child_cpu("moto server"), time.process_time()))

        sampler = threading.Thread(target=sample, name="cpu-sampler", daemon=True)
        sampler.start()
        try:
            process = subprocess.run(
                [sys.executable, "-m", "bench.loadgen"],
                input=json.dumps(spec),
                text=True,
                capture_output=True,
                timeout=config["load_seconds"] + 120,
                cwd=L.ROOT,
                env=H._python_env(),
            )
        finally:
            sampling.set()
            sampler.join()
        if process.returncode != 0:
            raise RuntimeError(f"load generator failed: {process.stderr[-3000:]}")
        result = json.loads(process.stdout)
        window = (result["started_epoch"], result["started_epoch"] + result["elapsed_s"])
        cpu = {
            "wall": result["elapsed_s"],
            "moto_server": _cpu_between(samples, 1, *window),
            "gateway_process": _cpu_between(samples, 2, *window),
        }
        answers = result["results"]
        everything = answers + result["warmups"]
        ok_ids = [message_id for message_id, status, _ in everything if status == 200]
        latencies = [ms for _, _, ms in answers]
        statuses = Counter(str(status) for _, status, _ in everything)
        expected_type = "WhatsApp Message Received" if flow == "mo" else "WhatsApp Message Status Changed"
        seen = [event["message_id"] for event in result["events"] if event["detail_type"] == expected_type]
        stored = self.stored(ok_ids, flow)
        unique_events = set(seen)
        return {
            "clients": config["load_clients"],
            "seconds": result["elapsed_s"],
            "requests": len(answers),
            "warmup_requests": len(result["warmups"]),
            "requests_per_s": len(answers) / result["elapsed_s"],
            "ok": len(ok_ids),
            "statuses": dict(statuses),
            "errors": len(everything) - len(ok_ids),
            "client_errors": dict(Counter(result["errors"])),
            "cpu_s_during_load": cpu,
            "latency_ms": {
                "p50": H.percentile(latencies, 0.5),
                "p95": H.percentile(latencies, 0.95),
                "p99": H.percentile(latencies, 0.99),
                "max": max(latencies) if latencies else float("nan"),
            },
            "records_stored": stored,
            "records_lost": len(ok_ids) - stored,
            "events_seen": len(seen),
            "events_lost": len(set(ok_ids) - unique_events),
            "events_duplicated": len(seen) - len(unique_events),
            "bounded_by": "time" if len(answers) < config["load_max_requests"] else "count",
            "warmup_latency_ms_max": max((ms for _, _, ms in result["warmups"]), default=float("nan")),
            "latency_sample_ms": _sample(sorted(latencies), 400),
        }

    def stored(self, ids: list[str], flow: str) -> int:
        """How many of these callbacks are in the table (MO: the record; DLR: the status in the record's history)."""
        dynamodb = self.stack.client("dynamodb")
        table = self.stack.info["table_name"]
        found = 0
        self.recorder.paused = True
        try:
            for start in range(0, len(ids), 100):
                keys = [{"pk": {"S": f"MSG#{message_id}"}} for message_id in ids[start : start + 100]]
                request: dict[str, Any] | None = {
                    table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "pk, status_history"}
                }
                while request:
                    answer = dynamodb.batch_get_item(RequestItems=request)
                    for item in answer["Responses"].get(table, []):
                        history = [entry["M"]["status"]["S"] for entry in item.get("status_history", {}).get("L", [])]
                        found += 1 if flow == "mo" or "sent" in history else 0
                    request = answer.get("UnprocessedKeys") or None
        finally:
            self.recorder.paused = False
        return found

    # -- 4: broadcasts ------------------------------------------------------------------------------------------------

    def broadcasts(self, deadline: float) -> dict[str, Any]:
        from local.client import Gateway

        gateway = Gateway(self.stack.info)
        runs: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        for size in self.config["broadcast_sizes"]:
            remaining = deadline - time.monotonic()
            if runs:
                rate = runs[-1]["recipients_per_s"]
                projected = size / rate * 1.15 + 5
                if projected > remaining:
                    skipped.append({"recipients": size, "projected_s": projected, "remaining_s": remaining})
                    self.log(f"broadcast of {size}: skipped (projected {projected:.0f} s, {remaining:.0f} s left)")
                    continue
            self.log(f"broadcast of {size} recipients")
            runs.append(self.broadcast(gateway, size, timeout=max(60.0, remaining)))
            self.log(f"  {runs[-1]['recipients_per_s']:.0f} recipients/s, {runs[-1]['elapsed_s']:.1f} s")
        return {"runs": runs, "skipped": skipped}

    def broadcast(self, gateway: Any, size: int, timeout: float) -> dict[str, Any]:
        sqs = self.stack.client("sqs")
        queues = [self.stack.info[key] for key in ("send_queue_url", "priority_lane_url", "bulk_lane_url")]
        reference = f"bench-broadcast-{size}-{int(time.time())}"
        destinations = [f"+6422{size % 100:02d}{index:05d}" for index in range(size)]
        self.recorder.take()
        self.watch.reset()
        moto_cpu0, sim_cpu0, own_cpu0 = (
            self.child_cpu("moto server"),
            self.child_cpu("provider simulator"),
            time.process_time(),
        )
        started = time.monotonic()
        gateway.request("WhatsApp Broadcast Requested", L.broadcast_detail(destinations, reference))
        calls: list[Call] = []
        published = 0
        done_at = None
        while time.monotonic() - started < timeout:
            time.sleep(0.1)
            calls += self.recorder.take()
            published = _published_accepted(calls)
            if published >= size and self.watch.in_flight == 0:
                counts = [
                    value
                    for queue_url in queues
                    for value in sqs.get_queue_attributes(
                        QueueUrl=queue_url,
                        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
                    )["Attributes"].values()
                ]
                calls += self.recorder.take()
                if all(value == "0" for value in counts) and self.watch.in_flight == 0:
                    done_at = time.monotonic()
                    break
        elapsed = (done_at or time.monotonic()) - started
        self.recorder.paused = True
        try:
            stored = self.count_records(reference)
            accepted = len(self.simulate(f"/_sim/messages?reference={reference}"))
            dead = int(
                sqs.get_queue_attributes(
                    QueueUrl=self.stack.info["dlq_url"], AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
            )
        finally:
            self.recorder.paused = False
        per_op: Counter[str] = Counter()
        for call in calls:
            per_op[f"{call.origin}:{call.service}.{call.operation}"] += 1
        invocations = self.watch.of(SENDER)
        return {
            "recipients": size,
            "reference": reference,
            "completed": done_at is not None,
            "elapsed_s": elapsed,
            "recipients_per_s": size / elapsed,
            "accepted_by_provider": accepted,
            "records_stored": stored,
            "accepted_events_published": published,
            "dead_letters": dead,
            "requests": dict(per_op),
            "requests_per_recipient": {op: count / size for op, count in per_op.items()},
            "chunk_recipients": T.bench_chunk_size(),
            "sender_invocations": len(invocations),
            "sender_invocation_ms_sum": sum(invocation[1] for invocation in invocations),
            "intake_invocations": len(self.watch.of(INTAKE)),
            "intake_invocation_ms_sum": sum(invocation[1] for invocation in self.watch.of(INTAKE)),
            "provider_calls": len(self.watch.provider),
            "provider_ms_sum": sum(ms for _, ms in self.watch.provider),
            "aws_ms_sum_by_service": _sum_by(calls, lambda call: call.origin == "function"),
            "cpu_s": {
                "moto_server": self.child_cpu("moto server") - moto_cpu0,
                "simulator": self.child_cpu("provider simulator") - sim_cpu0,
                "gateway_process": time.process_time() - own_cpu0,
            },
        }

    def count_records(self, reference: str) -> int:
        from wab.store import reference_keys  # a reference's records are under several index keys

        dynamodb = self.stack.client("dynamodb")
        count = 0
        for key in reference_keys(reference):
            start = None
            while True:
                page = dynamodb.query(
                    TableName=self.stack.info["table_name"],
                    IndexName="by-reference",
                    KeyConditionExpression="reference_key = :r",
                    ExpressionAttributeValues={":r": {"S": key}},
                    Select="COUNT",
                    **({"ExclusiveStartKey": start} if start else {}),
                )
                count += page["Count"]
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
        return count

    def child_cpu(self, name: str) -> float:
        import os

        for child in self.stack._children:
            if child.name == name:
                try:
                    with open(f"/proc/{child.process.pid}/stat") as stat:
                        fields = stat.read().rsplit(")", 1)[1].split()
                    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                except OSError:
                    return float("nan")
        return float("nan")

    # -- 4: where a chunk's time goes --------------------------------------------------------------------------------

    def profile_chunks(self, chunks: int) -> dict[str, Any]:
        from wab.sender import Sender

        function = self.stack.functions[SENDER]
        reference = f"bench-profile-{int(time.time())}"
        per_chunk: list[dict[str, Any]] = []
        profile = cProfile.Profile()
        profiling = [False]
        handle_record = Sender.handle_record

        def profiled_handle_record(sender: Any, record: Any, lambda_context: Any = None) -> None:
            """A record may run in a thread of the handler's (wab.batch): its thread is the one to watch and profile."""
            self.record_threads.add(threading.current_thread().name)
            if not profiling[0]:
                return handle_record(sender, record, lambda_context)
            profile.enable()
            try:
                return handle_record(sender, record, lambda_context)
            finally:
                profile.disable()

        Sender.handle_record = profiled_handle_record  # type: ignore[method-assign, assignment]
        try:
            return self._profile_chunks(function, reference, chunks, per_chunk, profile, profiling)
        finally:
            Sender.handle_record = handle_record  # type: ignore[method-assign]

    def _profile_chunks(
        self,
        function: Any,
        reference: str,
        chunks: int,
        per_chunk: list[dict[str, Any]],
        profile: cProfile.Profile,
        profiling: list[bool],
    ) -> dict[str, Any]:
        size = T.bench_chunk_size()
        bodies = B.chunks(chunks + 2, reference, size)  # the chunks of one broadcast, as the intake makes them
        names = {"bulk_lane": self.stack.info["bulk_lane_url"].rsplit("/", 1)[-1]}
        with self.stack.paused_event_sources():
            for number in range(chunks + 2):
                event = L.sqs_event([bodies[str(number)]], "bulk_lane", names=names)
                self.recorder.take()
                self.watch.reset()
                profiled = number == chunks + 1
                cpu_started = time.process_time()
                started = time.perf_counter()
                profiling[0] = profiled
                answer = function.invoke(event)
                profiling[0] = False
                total = (time.perf_counter() - started) * 1000
                cpu_ms = (time.process_time() - cpu_started) * 1000
                if answer.get("batchItemFailures"):
                    raise RuntimeError(f"profiled chunk failed: {answer}")
                calls = self.recorder.take()
                if number == 0 or profiled:
                    continue  # the first warms this environment up; the profiled one is slowed by the profiler
                main = [call for call in calls if call.thread in self.record_threads and call.origin == "function"]
                pool_ms = sum(ms for thread, ms in self.watch.pools if thread in self.record_threads)
                provider_ms = sum(ms for thread, ms in self.watch.provider if thread in self.record_threads)
                by_service: defaultdict[str, float] = defaultdict(float)
                for call in main:
                    by_service[call.service] += call.ms
                pool_calls = [
                    call for call in calls if call.thread not in self.record_threads and call.origin == "function"
                ]
                per_chunk.append(
                    {
                        "total_ms": total,
                        "cpu_ms": cpu_ms,
                        "provider_ms": provider_ms,
                        "settle_pool_ms": pool_ms,
                        "aws_ms_by_service": dict(by_service),
                        "own_ms": total - provider_ms - pool_ms - sum(by_service.values()),
                        "calls_main_thread": dict(Counter(f"{c.service}.{c.operation}" for c in main)),
                        "calls_pool": dict(Counter(f"{c.service}.{c.operation}" for c in pool_calls)),
                    }
                )
        return {"chunk_recipients": size, "chunks": per_chunk, "top_own_functions": _top_functions(profile)}


def _cpu_between(samples: list[tuple[float, float, float]], column: int, start: float, end: float) -> float:
    """CPU seconds used between two moments, interpolated from (epoch, cpu, cpu) samples taken every 0.2 s."""

    def at(moment: float) -> float:
        before = [s for s in samples if s[0] <= moment]
        after = [s for s in samples if s[0] >= moment]
        if not before or not after:
            return (before or after)[-1 if before else 0][column] if (before or after) else float("nan")
        a, b = before[-1], after[0]
        if b[0] == a[0]:
            return a[column]
        return a[column] + (b[column] - a[column]) * (moment - a[0]) / (b[0] - a[0])

    return at(end) - at(start)


def _sample(ordered: list[float], count: int) -> list[float]:
    """Up to `count` values spread evenly over a sorted list (enough to draw its distribution)."""
    if len(ordered) <= count:
        return [round(value, 2) for value in ordered]
    step = (len(ordered) - 1) / (count - 1)
    return [round(ordered[round(index * step)], 2) for index in range(count)]


def _sum_by(calls: list[Call], keep: Callable[[Call], bool]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for call in calls:
        if keep(call):
            totals[call.service] += call.ms
    return dict(totals)


OWN_CODE = ("/layers/wab/", "/functions/")
LIBRARY_GROUPS = {
    "pydantic": ("pydantic",),
    "aws_lambda_powertools": ("aws_lambda_powertools",),
    "botocore/boto3": ("botocore", "boto3"),
    "requests/urllib3": ("requests", "urllib3"),
    "aws_xray_sdk": ("aws_xray_sdk",),
}


def _top_functions(profile: cProfile.Profile) -> dict[str, Any]:
    """Self time by package, and the gateway's own functions with the most self time (main thread, one chunk)."""
    stats = pstats.Stats(profile)
    by_group: Counter[str] = Counter()
    own: list[tuple[float, str]] = []
    for (filename, line, name), (_, _, tottime, _cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        group = "other (standard library, waits)"
        if any(marker in filename for marker in OWN_CODE):
            group = "wab (own code)"
            own.append((tottime * 1000, f"{filename.split('/layers/wab/')[-1].split('/functions/')[-1]}:{line} {name}"))
        else:
            for label, packages in LIBRARY_GROUPS.items():
                if any(f"/{package}/" in filename for package in packages):
                    group = label
                    break
        by_group[group] += tottime * 1000
    own.sort(reverse=True)
    return {
        "self_ms_by_package": dict(by_group.most_common()),
        "own_functions": [{"ms": round(ms, 3), "function": where} for ms, where in own[:12]],
    }
