"""The benchmark worker: runs handlers in fresh processes against in-process moto (or a running moto server).

    python -m bench.inproc < plan.json      (results go to plan["out"])

It prepares once (moto imported and started, resources created, items seeded; nothing of the handlers imported),
then forks one child per task, so every task starts in a fresh process in the same state: the handler module not yet
imported, no boto3 client created. The child times what the task asks, writes its result back through a pipe and
exits. Tasks:

- `cold`:   import the handler module, then its first invocation (both timed).
- `warm`:   import, warm up, then time each of `n` invocations (and the time spent inside AWS calls).
- `count`:  every AWS request of the first and of `n` later invocations, with billing units; bytes logged.
- `memory`: peak RSS (getrusage) after import, after warm-up and after `n` invocations; tracemalloc peak of one
            invocation. Run in `endpoint` mode (a moto server elsewhere), so moto's own memory is not counted.
- `broadcast_memory`: stage `split`, the intake given one broadcast request of `recipients` (split into chunks on
            the bulk lane); stage `chunk`, the sender given chunks as the intake made them (`bodies`).
"""

from __future__ import annotations

import calendar
import datetime
import gc
import json
import os
import signal
import sys
import time
import traceback
import zlib
from pathlib import Path
from typing import Any

from bench import lambda_env as L
from bench.awscalls import CallRecorder, summarize

TASK_TIMEOUT_SECONDS = 240


class Sink:
    """Stands in for stdout/stderr in a child: counts what the handler logs (for the CloudWatch Logs estimate)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0
        self.info_bytes = 0  # of INFO lines: what `LogLevel: WARNING` leaves out (metrics' EMF lines have no level)

    def write(self, text: str) -> int:
        size = len(text.encode())
        self.bytes += size
        self.lines += text.count("\n")
        if text.startswith(('{"level":"INFO"', '{"level": "INFO"')):
            self.info_bytes += size
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("no file descriptor")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Peak resident set of this process (VmHWM). Not getrusage's ru_maxrss: Linux carries that over from the
    parent across fork and exec, so a small child would report the parent's peak."""
    return _status_mb("VmHWM")


# --- preparation (in the parent, before any fork) ----------------------------------------------------------------


def start_moto(plan: dict[str, Any]) -> None:
    from moto import mock_aws
    from moto.core.models import responses_mock

    mock_aws().start()
    # moto also routes `requests` through the `responses` library (for AWS URLs); the handlers' provider calls go to a
    # real loopback simulator, so take that patch off: botocore calls stay mocked by moto's botocore hook.
    responses_mock.stop()
    import boto3

    session = boto3.session.Session(region_name=L.REGION)  # not the default session: children start without one
    table = plan["table"]
    dynamodb = session.client("dynamodb")
    indexes = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
        for index in table.get("GlobalSecondaryIndexes", [])
    ]
    optional: dict[str, Any] = {"GlobalSecondaryIndexes": indexes} if indexes else {}
    if stream := table.get("StreamSpecification"):  # the relay's stream (template.yaml, RelayStreamMapping)
        optional["StreamSpecification"] = {"StreamEnabled": True, **stream}
    dynamodb.create_table(
        TableName=plan["names"]["table"],
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        BillingMode="PAY_PER_REQUEST",
        **optional,
    )
    session.client("events").create_event_bus(Name=plan["names"]["bus"])
    sqs = session.client("sqs")
    for queue in ("queue", "priority_lane", "bulk_lane", "dead_letters"):  # FIFO, as in the template
        deduplication = "true" if queue == "queue" else "false"
        sqs.create_queue(
            QueueName=plan["names"][queue], Attributes={"FifoQueue": "true", "ContentBasedDeduplication": deduplication}
        )
    secrets = session.client("secretsmanager")
    secrets.create_secret(
        Name=plan["names"]["callback_secret"],
        SecretString=json.dumps({"username": L.CALLBACK_USER, "password": L.CALLBACK_PASSWORD}),
    )
    secrets.create_secret(Name=plan["names"]["provider_secret"], SecretString=json.dumps(plan["provider"]))
    seed(session.client("dynamodb"), plan["names"]["table"], range(plan["seed"]))


def seeded_reference_key(reference: str, message_id: str) -> str:
    """`wab.store.reference_key`, which this process must not import (the children it forks would start with wab
    loaded): a record seeded under another key would be moved in the index by its first DLR, a write the gateway's
    own records never make (tests/bench/test_inproc_seed.py keeps the two the same)."""
    return f"{reference}#{zlib.crc32(message_id.encode()) % 10}"


def seed(dynamodb: Any, table: str, indexes: range) -> None:
    """MT records at `accepted` as the sender leaves them (for DLRs and record reads) and contacts inside the 24-hour
    window (for sends)."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(now - 60))
    items = []
    for index in indexes:
        number = L.customer(index)
        content = {"M": {"type": {"S": "text"}, "text": {"M": {"body": {"S": "Your order 1042 has shipped."}}}}}
        accepted = {
            "M": {
                "message_id": {"S": L.mt_id(index)},
                "reference": {"S": f"order-{index}"},
                "destination": {"S": number},
                "source": {"S": L.BUSINESS_NUMBER},
                "type": {"S": "text"},
                "idempotency_key": {"S": f"order-{index}-shipped"},
            }
        }
        items.append(
            {
                "pk": {"S": f"MSG#{L.mt_id(index)}"},
                "id": {"S": L.mt_id(index)},
                "direction": {"S": "MT"},
                "source": {"S": L.BUSINESS_NUMBER},
                "destination": {"S": number},
                "contact": {"S": number},
                "contact_key": {"S": number},
                "type": {"S": "text"},
                "status": {"S": "accepted"},
                "reference": {"S": f"order-{index}"},
                "reference_key": {"S": seeded_reference_key(f"order-{index}", L.mt_id(index))},
                "content": content,
                "status_history": {"L": [{"M": {"status": {"S": "accepted"}, "at": {"S": stamp}}}]},
                "created_at": {"S": stamp},
                "updated_at": {"S": stamp},
                "version": {"N": "2"},
                "outbox": {"M": {}},
                # the `Accepted` the send's write left for the stream, as the sender leaves it: the record's next
                # write (a DLR's) puts its own event in its place
                "relay": {
                    "M": {"accepted": {"M": {"detail_type": {"S": "WhatsApp Message Accepted"}, "detail": accepted}}}
                },
                "expires_at": {"N": str(int(now) + 180 * 86400)},
            }
        )
        items.append(
            {
                "pk": {"S": f"CONTACT#{number}"},
                "last_inbound_at": {"S": stamp},
                "expires_at": {"N": str(int(now) + 180 * 86400)},
            }
        )
    for start in range(0, len(items), 25):
        dynamodb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        )


# --- tasks (in a forked child) -------------------------------------------------------------------------------------


def run_task(plan: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    flow, side = task["flow"], task["side"]
    spec = L.FLOWS.get(flow) or L.COUNT_ONLY_FLOWS[flow]
    function = plan["functions"][spec["function"]]
    os.environ.update(L.lambda_environment(f"wab-{spec['function']}", function["memory"], function["env"]))
    if "env" in task:
        os.environ.update(task["env"])
    sink = Sink()
    sys.stdout = sys.stderr = sink
    kind = task["kind"]
    if "callback_auth" in plan:
        L.CALLBACK_USER, L.CALLBACK_PASSWORD = plan["callback_auth"]
    recorder = CallRecorder(detail=kind == "count").install()
    clocks = install_clocks(moto=plan["mode"] == "moto")
    run = f"{task.get('run', 'r')}{os.getpid()}"
    base = task.get("offset", 0)
    context = lambda: L.Context(f"wab-{spec['function']}", function["memory"], function["timeout"])  # noqa: E731

    def invoke(module: Any, index: int, event: dict[str, Any] | None = None) -> Any:
        answer = module.lambda_handler(event or L.flow_event(flow, base + index, run), context())
        if not L.succeeded(flow, answer):
            raise RuntimeError(f"{flow}/{side} invocation {index} did not succeed: {str(answer)[:500]}")
        return answer

    def load() -> Any:
        return L.load_module(spec[side], f"bench_{flow}_{side}")

    if kind == "cold":
        gc.collect()
        # Does the handler module call gc.freeze() at the end of its import? The variant task does it the other way
        # round (the handler's call skipped, or a call added) to show what the freeze is worth.
        variant, freezes, real_freeze = task.get("gc_variant"), [0], gc.freeze

        def freeze() -> None:
            freezes[0] += 1
            if not variant:
                real_freeze()

        gc.freeze = freeze
        cpu0, wall0 = time.process_time(), time.perf_counter()
        module = load()
        gc.freeze = real_freeze
        handler_freezes = freezes[0] > 0
        if variant and not handler_freezes:
            real_freeze()
        wall1, cpu1 = time.perf_counter(), time.process_time()
        clocks.reset()
        sessions = count_sessions()
        collector = GcClock().start()
        invoke(module, 0)
        collector.stop()
        wall2, cpu2 = time.perf_counter(), time.process_time()
        calls = recorder.take()
        return {
            "import_ms": (wall1 - wall0) * 1000,
            "first_ms": (wall2 - wall1) * 1000,
            "import_cpu_ms": (cpu1 - cpu0) * 1000,
            "first_cpu_ms": (cpu2 - cpu1) * 1000,
            "first_aws_ms": sum(call.ms for call in calls),
            "first_moto_ms": clocks.ms["moto"],
            "first_provider_ms": clocks.ms["provider"],
            "first_calls": len(calls),
            "first_gc_ms": collector.ms,
            "first_full_collections": collector.full,
            "first_sessions": sessions[0],
            "handler_freezes": handler_freezes,
            "first_ops": [f"{call.service}.{call.operation}" for call in calls],
        }

    if kind == "warm":
        module = load()
        for index in range(task["warmup"]):
            invoke(module, index)
        recorder.take()
        walls, aws, cpu, moto, provider = [], [], [], [], []
        gc.collect()
        for index in range(task["warmup"], task["warmup"] + task["n"]):
            clocks.reset()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            invoke(module, index)
            walls.append((time.perf_counter() - wall0) * 1000)
            cpu.append((time.process_time() - cpu0) * 1000)
            aws.append(sum(call.ms for call in recorder.take()))
            moto.append(clocks.ms["moto"])
            provider.append(clocks.ms["provider"])
        return {
            "ms": walls,
            "aws_ms": aws,
            "cpu_ms": cpu,
            "moto_ms": moto,
            "provider_ms": provider,
            "log_bytes": sink.bytes,
        }

    if kind == "count":
        # Ours: after each invocation, the stream records its writes left go through the relay function as its
        # mapping would hand them over; the relay's requests are counted apart, for the same flow.
        stream = TableStream(plan, sink) if side == "ours" and plan["mode"] == "moto" else None
        relay_runs: list[dict[str, Any]] = []

        def relay() -> None:
            if stream is not None:
                done = stream.run()
                relay_runs.append({**done, "steady": summarize(recorder.take())})

        module = load()
        invoke(module, 0)
        first = [call.as_dict() for call in recorder.take()]
        first_log, first_info = sink.bytes, sink.info_bytes
        relay()
        per_invocation = []
        for index in range(1, 1 + task["n"]):
            invoke(module, index)
            per_invocation.append(summarize(recorder.take()))
            relay()
        relay_log = sum(run["log_bytes"] for run in relay_runs)
        relay_info = sum(run["info_log_bytes"] for run in relay_runs)
        result: dict[str, Any] = {
            "first": first,
            "steady": per_invocation,
            "log_bytes_first": first_log,
            "log_bytes_per_invocation": (sink.bytes - first_log - relay_log) / max(task["n"], 1),
            "info_log_bytes_per_invocation": (sink.info_bytes - first_info - relay_info) / max(task["n"], 1),
        }
        if stream is not None:
            # The relay's time: more invocations of the flow, nothing recorded (no billing look-ups), the relay's
            # handling of what each left timed on its own.
            recorder.paused = True
            timing = []
            first_timed = 1 + task["n"]
            for index in range(first_timed, first_timed + task.get("relay_samples", 0)):
                invoke(module, index)
                clocks.reset()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                done = stream.run(analyse=False)
                wall = (time.perf_counter() - wall0) * 1000
                timing.append(
                    {
                        "ms": wall,
                        "cpu_ms": (time.process_time() - cpu0) * 1000,
                        "moto_ms": clocks.ms["moto"],
                        "records": done["records"],
                        "invocations": done["invocations"],
                    }
                )
            recorder.paused = False
            result["relay"] = {"first": relay_runs[0], "steady": relay_runs[1:], "timing": timing}
        return result

    if kind == "memory":
        import tracemalloc

        rss_start = rss_mb()
        module = load()
        rss_import = rss_mb()
        for index in range(task["warmup"]):
            invoke(module, index)
        rss_warm = rss_mb()
        for index in range(task["warmup"], task["warmup"] + task["n"]):
            invoke(module, index)
        rss_peak = rss_mb()  # before tracemalloc, whose own bookkeeping would add to the resident set
        tracemalloc.start()
        peaks = []
        first = task["warmup"] + task["n"]
        for index in range(first, first + max(task["n"] // 4, 1)):
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            invoke(module, index)
            peaks.append((tracemalloc.get_traced_memory()[1] - before) / 2**20)
        tracemalloc.stop()
        return {
            "rss_start_mb": rss_start,
            "rss_import_mb": rss_import,
            "rss_warm_mb": rss_warm,
            "rss_peak_mb": rss_peak,
            "tracemalloc_peak_mb": max(peaks),
        }

    if kind == "broadcast_memory":
        import tracemalloc

        # First without tracemalloc (its bookkeeping would inflate the resident set), then again, traced, with another
        # request or chunk (the same one again would be an idempotent replay).
        module = load()
        if task["stage"] == "split":  # the intake: one broadcast request split into chunks on the bulk lane
            for index in range(task["warmup"]):
                invoke(module, index)
            destinations = [L.customer(500_000 + index) for index in range(task["recipients"])]

            def work(item: str) -> None:
                request = L.broadcast_request(destinations, item)
                invoke(module, 0, L.sqs_event([request], "queue", group="requests"))

            items = [f"bench-memory-{run}", f"bench-memory-traced-{run}"]  # the requests' references
        else:  # the sender: chunks as the intake made them
            bodies = task["bodies"]
            for index in range(task["warmup"]):
                invoke(module, index, L.sqs_event([bodies[index]], "bulk_lane"))

            def work(item: str) -> None:
                invoke(module, 0, L.sqs_event([item], "bulk_lane"))

            items = bodies[task["warmup"] : task["warmup"] + 2]  # two more chunks
        gc.collect()
        rss_warm = rss_mb()
        logged = sink.bytes
        started = time.perf_counter()
        work(items[0])
        elapsed_ms = (time.perf_counter() - started) * 1000
        logged = sink.bytes - logged
        rss_peak = rss_mb()
        tracemalloc.start()
        work(items[1])
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return {
            "rss_warm_mb": rss_warm,
            "rss_peak_mb": rss_peak,
            "ms": elapsed_ms,
            "log_bytes": logged,
            "tracemalloc_peak_mb": traced_peak,
            "calls": len(recorder.take()),
        }

    raise ValueError(kind)


RELAY_HANDLER = "functions/relay/app.py"


class TableStream:
    """The table's stream handed to the relay function as its event source mapping does (template.yaml,
    RelayStreamMapping): the records its filter passes, in order, up to `relay_batch_size` records a batch.
    Read from moto's backend, as tests/integration/conftest.py does (moto's dynamodbstreams API serialises a deep
    item's images slowly). Each `run` hands over what the writes since the last one left: a counted invocation's
    records make batches of their own."""

    def __init__(self, plan: dict[str, Any], sink: Sink):
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[DEFAULT_ACCOUNT_ID][L.REGION].get_table(plan["names"]["table"])
        if table.stream_shard is None:
            raise RuntimeError("the table has no stream: the relay would never run")
        self.shard = table.stream_shard
        self.handled = len(self.shard.items)  # the seed's writes (and earlier tasks') are not this task's
        self.arn = f"arn:aws:dynamodb:{L.REGION}:{L.ACCOUNT}:table/{table.name}/stream/bench"
        self.batch_size = int(plan.get("relay_batch_size", 100))
        from local.stream_source import matches, parse_filter_patterns  # the local stack's filter: one of them

        filters = parse_filter_patterns(plan.get("relay_filters", []))
        self.wanted = lambda record: not filters or any(matches(pattern, record) for pattern in filters)
        self.function = plan["functions"]["RelayFunction"]
        self.env = L.lambda_environment("wab-RelayFunction", self.function["memory"], self.function["env"])
        self.sink = sink
        self.module: Any = None

    def pending(self) -> list[dict[str, Any]]:
        items = self.shard.items[self.handled :]
        self.handled += len(items)
        records = [_lambda_record(item.to_json(), self.arn) for item in items]
        return [record for record in records if self.wanted(record)]

    def run(self, *, analyse: bool = True) -> dict[str, Any]:
        """Hand the new records to the relay in batches; what it was given, did and logged (`analyse`: and which
        events the batches carried, worked out apart from the relay's own time)."""
        records = self.pending()
        done = {"records": len(records), "invocations": 0, "events": 0, "counted": 0, "counter_keys": 0}
        logged, info = self.sink.bytes, self.sink.info_bytes
        if records:
            saved = dict(os.environ)
            os.environ.update(self.env)  # the relay's own settings while it runs, as in its own container
            try:
                if self.module is None:
                    self.module = L.load_module(RELAY_HANDLER, "bench_relay")
                from wab.relay import carried
                from wab.summary import increments

                for start in range(0, len(records), self.batch_size):
                    batch = records[start : start + self.batch_size]
                    context = L.Context("wab-RelayFunction", self.function["memory"], self.function["timeout"])
                    answer = self.module.lambda_handler({"Records": batch}, context)
                    if answer.get("batchItemFailures"):
                        raise RuntimeError(f"the relay failed a batch: {answer}")
                    done["invocations"] += 1
                    if not analyse:
                        continue
                    events = [one.event for record in batch for one in carried(record)]
                    counted = [found for event in events if (found := increments(event.detail_type, event.detail))]
                    done["events"] += len(events)
                    done["counted"] += len(counted)  # events that count for their reference
                    done["counter_keys"] += len({(reference, shard) for reference, shard, _ in counted})
            finally:
                os.environ.clear()
                os.environ.update(saved)
        done["log_bytes"] = self.sink.bytes - logged
        done["info_log_bytes"] = self.sink.info_bytes - info
        return done


def _lambda_record(record: dict[str, Any], arn: str) -> dict[str, Any]:
    """A stream record as Lambda hands it over: its source's ARN, the creation time in epoch seconds (moto keeps a
    datetime). A copy: moto's own record stays as it is."""
    change = dict(record["dynamodb"])
    when = change.get("ApproximateCreationDateTime")
    if isinstance(when, datetime.datetime):
        change["ApproximateCreationDateTime"] = float(calendar.timegm(when.utctimetuple()))
    return {**record, "dynamodb": change, "eventSourceARN": arn}


def count_sessions() -> list[int]:
    """How many botocore sessions are created from now on (each loads botocore's endpoint data again)."""
    import botocore.session

    created = [0]
    original = botocore.session.Session.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        created[0] += 1
        original(self, *args, **kwargs)

    botocore.session.Session.__init__ = init  # type: ignore[method-assign]
    return created


class GcClock:
    """Time spent in garbage collections (and how many were full, generation 2) while it runs."""

    def __init__(self) -> None:
        self.ms = 0.0
        self.full = 0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.ms += (time.perf_counter() - self._started) * 1000
            self.full += info["generation"] == 2

    def start(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def stop(self) -> None:
        gc.callbacks.remove(self._callback)


class Clocks:
    """Wall time spent inside moto's request handling and inside provider HTTP calls (urllib3, under requests too)."""

    def __init__(self) -> None:
        self.ms = {"moto": 0.0, "provider": 0.0}

    def reset(self) -> None:
        self.ms = {"moto": 0.0, "provider": 0.0}

    def wrap(self, owner: Any, name: str, clock: str) -> None:
        original = getattr(owner, name)
        clocks = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                clocks.ms[clock] += (time.perf_counter() - started) * 1000

        setattr(owner, name, timed)


def install_clocks(*, moto: bool) -> Clocks:
    clocks = Clocks()
    if moto:
        from moto.core.botocore_stubber import BotocoreStubber

        clocks.wrap(BotocoreStubber, "__call__", "moto")
    else:
        return clocks  # against a moto server every AWS call is an HTTP call through urllib3 too: no provider clock
    import urllib3.connectionpool

    clocks.wrap(urllib3.connectionpool.HTTPConnectionPool, "urlopen", "provider")
    return clocks


def fork_task(plan: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        signal.alarm(TASK_TIMEOUT_SECONDS)
        try:
            result = {"ok": True, **run_task(plan, task)}
        except BaseException as exc:
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-3000:]}
        with os.fdopen(write_end, "w") as pipe:
            json.dump(result, pipe)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    try:
        return {**task, **json.loads(text)}
    except ValueError:
        return {**task, "ok": False, "error": "the task's process died without a result"}


def run_here(plan: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
    """One task in this process, which has done nothing else yet (memory figures: nothing but the handler in it)."""
    try:
        return {**task, "ok": True, **run_task(plan, task)}
    except BaseException as exc:
        return {**task, "ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-3000:]}


def main() -> None:
    plan = json.load(sys.stdin)
    if plan.get("wab_dir"):  # the built layer's wab, compiled as Lambda gets it (the other libraries: this virtualenv)
        L.LAYER_DIR = Path(plan["wab_dir"])
    L.QUEUE_NAMES.update(plan.get("queue_names", {}))
    L.LANE_BODIES.update(plan.get("lane_bodies", {}))
    os.environ.update(
        {
            "AWS_REGION": L.REGION,
            "AWS_DEFAULT_REGION": L.REGION,
            "AWS_ACCESS_KEY_ID": "AKIABENCHMARK000000",
            "AWS_SECRET_ACCESS_KEY": "bench-secret-access-key",
        }
    )
    if plan["mode"] == "moto":
        start_moto(plan)
    results = []
    for task in plan["tasks"]:
        results.append(fork_task(plan, task) if plan["mode"] == "moto" else run_here(plan, task))
        if not results[-1]["ok"]:
            print(f"task failed: {task}: {results[-1]['error']}\n{results[-1].get('trace', '')}", file=sys.stderr)
    with open(plan["out"], "w") as out:
        json.dump(results, out)


if __name__ == "__main__":
    main()
