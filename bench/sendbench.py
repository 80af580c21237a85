"""`make bench`'s send-path sections: the scenarios of bench.sendpath on a local stack of this tree, paced at a rate
the local stack carries, with every AWS request and Lambda invocation they cause counted; and the pacing scenario
again on the send path before the lanes (commit `sendpath.LEGACY_COMMIT`, in a process of its own).

The stack runs with two template parameters changed, both reported: `NumberRatePerSecond` (the simulator's
`number_rate` is set to the same, so the provider answers 429 #130429 above it) and `SendRetryMaxDelaySeconds` (so
that a recovery is seen in seconds rather than the default's five minutes). When a scenario shows the product losing,
doubling or reordering messages, dead-lettering them, reporting them failed or being throttled often, the functions'
logs are copied to bench/.cache/sendpath-evidence/<run>/<scenario>/ and the scenario's result names them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import lambda_env as L
from bench import sendpath as P
from bench import template_info as T
from bench.awscalls import Call, CallRecorder

# Section 8's sizes per mode of `python -m bench`. The stack runs at `rate` messages a second (NumberRatePerSecond, and
# the simulator's number_rate) with retries at most `retry_max_delay_s` apart (SendRetryMaxDelaySeconds).
SENDPATH_SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "rate": 20,
        "retry_max_delay_s": 10,
        "outage": {"seconds": 300, "commands": 200, "contacts": 40, "wait_s": 300},
        "pacing": {"recipients": 5000, "baseline_sends": 60, "cap_s": 600},
        "order": {"messages": 1000, "contacts": 50, "error_rate": 0.2, "throttle_rate": 0.1, "timeout_s": 900},
        "legacy": True,
        "legacy_cap_s": 300,
    },
    "quick": {
        "rate": 20,
        "retry_max_delay_s": 10,
        "outage": {"seconds": 60, "commands": 40, "contacts": 10, "wait_s": 120},
        "pacing": {"recipients": 1000, "baseline_sends": 20, "cap_s": 200},
        "order": {"messages": 300, "contacts": 15, "error_rate": 0.2, "throttle_rate": 0.1, "timeout_s": 300},
        "legacy": True,
        "legacy_cap_s": 90,
    },
    "smoke": {  # only the shape of the results: every figure at these sizes is noise
        "rate": 20,
        "retry_max_delay_s": 5,
        "outage": {"seconds": 4, "commands": 4, "contacts": 2, "wait_s": 60},
        "pacing": {"recipients": 40, "baseline_sends": 3, "cap_s": 60},
        "order": {"messages": 20, "contacts": 4, "error_rate": 0.2, "throttle_rate": 0.1, "timeout_s": 120},
        "legacy": True,
        "legacy_cap_s": 20,
    },
}
CACHE = L.ROOT / "bench" / ".cache"
EVIDENCE = CACHE / "sendpath-evidence"
FUNCTIONS = ("IntakeFunction", "SenderFunction")
THROTTLED_SHARE_LIMIT = 0.01  # the pacing target: at most 1 % of the provider's answers 130429
SLOW_SINGLE_SEND_S = 1.0  # a single send slower than this, and than twice its p95 alone, is worth the logs


def stack_parameters(config: dict[str, Any]) -> dict[str, str]:
    return {
        "NumberRatePerSecond": str(config["rate"]),
        "SendRetryMaxDelaySeconds": str(config["retry_max_delay_s"]),
    }


class KeyedRecorder(CallRecorder):
    """CallRecorder, with each request's target in `note`: the DynamoDB item kind (`RATE`, `ATTEMPT`,
    `IDEMPOTENCY`, `MSG`, … from the key) or index, the SQS queue (`send queue`, `priority lane`, …), and whether a
    ReceiveMessage brought anything (`empty`: a poller's idle poll, which Lambda's pollers make too but which is
    not per message)."""

    def __init__(self) -> None:
        super().__init__(detail=False)
        self.queues: dict[str, str] = {}

    def _after(self, *, ok: bool) -> Any:
        inner = super()._after(ok=ok)

        def hook(context: dict[str, Any], **kwargs: Any) -> None:
            call: Call | None = context.get("bench_call")
            params = context.get("bench_params") or {}
            if call is not None:
                call.note = self._target(call, params, kwargs.get("parsed") or {})
            inner(context=context, **kwargs)  # PutEvents: the detail types, as CallRecorder notes them

        return hook

    def _target(self, call: Call, params: dict[str, Any], parsed: dict[str, Any]) -> str:
        if call.service == "dynamodb":
            if "IndexName" in params:
                return f"index {params['IndexName']}"
            key = params.get("Key") or params.get("Item") or {}
            pk = (key.get("pk") or {}).get("S", "")
            return pk.split("#", 1)[0] if pk else ("batch" if "RequestItems" in params else "")
        if call.service == "sqs":
            queue = self.queues.get(params.get("QueueUrl", ""), "other queue")
            if call.operation == "ReceiveMessage" and not parsed.get("Messages"):
                return f"{queue}, empty"
            return queue
        return call.note


class Invocations:
    """Counts the intake's and the sender's invocations and their time, by wrapping the stack's functions."""

    def __init__(self, stack: Any):
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.ms: dict[str, float] = {}
        self.longest: dict[str, float] = {}
        for name in FUNCTIONS:
            self._wrap(stack.functions[name], name)

    def _wrap(self, function: Any, name: str) -> None:
        original = function.invoke

        def invoke(event: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(event)
            finally:
                with self.lock:
                    self.counts[name] += 1
                    took = (time.perf_counter() - started) * 1000
                    self.ms[name] = self.ms.get(name, 0.0) + took
                    self.longest[name] = max(self.longest.get(name, 0.0), took)

        function.invoke = invoke

    def take(self) -> dict[str, dict[str, float]]:
        with self.lock:
            counts, ms, longest = dict(self.counts), dict(self.ms), dict(self.longest)
            self.counts, self.ms, self.longest = Counter(), {}, {}
        return {
            name: {"invocations": counts.get(name, 0), "ms": ms.get(name, 0.0), "longest_ms": longest.get(name, 0.0)}
            for name in FUNCTIONS
        }


def requests_summary(calls: list[Call], invocations: dict[str, dict[str, float]], per: int) -> dict[str, Any]:
    """The gateway's AWS requests (its functions' and the SQS pollers'; idle polls apart), in all and per message."""
    counted: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    ms: dict[str, float] = {}
    idle = 0
    for call in calls:
        if call.origin not in ("function", "poller"):
            continue
        if call.operation == "ReceiveMessage" and call.note.endswith("empty"):
            idle += 1
            continue
        key = f"{call.service}.{call.operation}" + (f" [{call.note}]" if call.note else "")
        counted[key] += 1
        failed[key] += 0 if call.ok else 1
        ms[key] = ms.get(key, 0.0) + call.ms
    return {
        "messages": per,
        "requests": dict(sorted(counted.items())),
        "failed": {key: value for key, value in sorted(failed.items()) if value},
        "per_message": {key: value / per for key, value in sorted(counted.items())} if per else {},
        "mean_ms": {key: ms[key] / value for key, value in sorted(counted.items())},
        "total_per_message": sum(counted.values()) / per if per else float("nan"),
        "idle_receives": idle,
        "invocations": invocations,
        "invocations_per_message": {
            name: value["invocations"] / per if per else float("nan") for name, value in invocations.items()
        },
    }


class SendPathBench:
    def __init__(self, config: dict[str, Any], log: Callable[[str], None]):
        self.config = config
        self.log = log
        self.run_id = str(int(time.time()))

    def run(self) -> dict[str, Any]:
        config = self.config
        parameters = stack_parameters(config)
        out: dict[str, Any] = {
            "stack_parameters": parameters,
            "simulator": {"number_rate": config["rate"], "auto_dlr": False},
            "rate": config["rate"],
            "retry_max_delay_s": config["retry_max_delay_s"],
            "legacy_cap_s": config.get("legacy_cap_s"),
            "chunk_recipients": T.chunk_size({"NumberRatePerSecond": str(config["rate"])}),
        }
        out.update(self.run_scenarios(parameters))
        if config.get("legacy"):
            out["legacy"] = self.run_legacy()
        return out

    # -- this tree ---------------------------------------------------------------------------------------------------

    def run_scenarios(self, parameters: dict[str, str]) -> dict[str, Any]:
        from local.stack import LocalStack

        config = self.config
        recorder = KeyedRecorder()
        recorder.install()
        state_dir = Path(tempfile.mkdtemp(prefix="wab-bench-sendpath-"))
        out: dict[str, Any] = {}
        stack = None
        for attempt in range(3):
            try:
                stack = LocalStack(
                    api_port=0, aws_port=0, simulator_port=0, state_dir=state_dir, parameter_overrides=parameters
                ).start()
                break
            except Exception as exc:  # a port race or a slow moto start
                if attempt == 2:
                    recorder.uninstall()
                    shutil.rmtree(state_dir, ignore_errors=True)
                    raise
                self.log(f"send-path stack did not start ({exc}); retrying")
        assert stack is not None
        reroute_function_logs()
        failed: P.FailedEvents | None = None
        try:
            recorder.queues = {
                stack.info[key]: name
                for key, name in (
                    ("send_queue_url", "send queue"),
                    ("priority_lane_url", "priority lane"),
                    ("bulk_lane_url", "bulk lane"),
                    ("dlq_url", "dead-letter queue"),
                    ("event_tap_queue_url", "event tap"),
                )
            }
            invocations = Invocations(stack)
            probe = P.Probe(stack.info)
            failed = P.FailedEvents(probe, stack.stack_name).start()
            rate = float(config["rate"])

            def measured(name: str, work: Callable[[], dict[str, Any]], per: Callable[[dict[str, Any]], int]) -> None:
                recorder.take()
                invocations.take()
                logs = {function: stack.log_dir / f"{function}.log" for function in FUNCTIONS}
                offsets = {function: _size(path) for function, path in logs.items()}
                started = time.monotonic()
                result = work()
                result["wall_s"] = time.monotonic() - started
                result["aws_requests"] = requests_summary(recorder.take(), invocations.take(), per(result))
                result["retries"] = {
                    function: retry_reasons(path, offsets[function]) for function, path in logs.items()
                }
                result["misbehaviour"] = misbehaviour(name, result)
                if result["misbehaviour"]:
                    result["evidence"] = self.keep_logs(stack, name)
                    self.log(f"{name}: {'; '.join(result['misbehaviour'])} (logs: {result['evidence']})")
                out[name] = result

            outage = config["outage"]
            self.log(
                f"send path 1, outage: the provider answers 500 for {outage['seconds']} s while "
                f"{outage['commands']} sends arrive"
            )
            measured(
                "outage",
                lambda: P.outage(probe, failed, rate=rate, run=self.run_id, log=self.log, **outage),
                lambda result: result["delivered"],
            )
            pacing = config["pacing"]
            self.log(
                f"send path 2, pacing: a broadcast of {pacing['recipients']:,} at {rate:g}/s, a single send a second"
            )
            phases: dict[str, Any] = {}

            def phase(name: str) -> None:
                phases[name] = (recorder.take(), invocations.take())

            def pacing_run() -> dict[str, Any]:
                result = P.pacing(probe, failed, rate=rate, run=self.run_id, log=self.log, on_phase=phase, **pacing)
                alone_calls, alone_invocations = phases["alone"]
                result["alone"]["aws_requests"] = requests_summary(
                    alone_calls, alone_invocations, result["alone"]["accepted"]
                )
                return result

            measured(
                "pacing",
                pacing_run,
                lambda result: (
                    result["with_broadcast"]["delivered"] + result["with_broadcast"]["single_sends_accepted"]
                ),
            )
            order = config["order"]
            self.log(
                f"send path 3, order: {order['messages']:,} sends to {order['contacts']} contacts, "
                f"{order['error_rate']:.0%} errors, {order['throttle_rate']:.0%} throttled"
            )
            measured(
                "order",
                lambda: P.order(probe, failed, rate=rate, run=self.run_id, log=self.log, **order),
                lambda result: result["delivered"],
            )
        finally:
            if failed is not None:
                failed.stop()
            stack.stop()
            recorder.uninstall()
            shutil.rmtree(state_dir, ignore_errors=True)
        return out

    def keep_logs(self, stack: Any, scenario: str) -> str:
        kept = EVIDENCE / self.run_id / scenario
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(stack.log_dir, kept, dirs_exist_ok=True)
        return str(kept.relative_to(L.ROOT))

    # -- the send path before the lanes ------------------------------------------------------------------------------

    def run_legacy(self) -> dict[str, Any]:
        """The pacing scenario on the stack of commit LEGACY_COMMIT: with its defaults (broadcast chunks of 100), and
        with the chunks this tree's intake makes at the same rate."""
        config = self.config
        commit = P.LEGACY_COMMIT
        out: dict[str, Any] = {"commit": commit}
        try:
            root = legacy_tree(commit)
        except (OSError, subprocess.CalledProcessError, tarfile.TarError) as exc:
            out["skipped"] = f"the tree of {commit} could not be extracted: {exc}"
            self.log(f"send path before the lanes: skipped ({out['skipped']})")
            return out
        chunk = T.chunk_size({"NumberRatePerSecond": str(config["rate"])})
        variants = [
            {"name": "defaults", "parameters": {}},
            {"name": "lane_chunks", "parameters": {"BroadcastChunkSize": str(chunk)}},
        ]
        pacing = dict(config["pacing"], cap_s=config["legacy_cap_s"], rate=float(config["rate"]))
        spec = {
            "commit": commit,
            "legacy_root": str(root),
            "simulator_root": str(L.ROOT),
            "log_dir": str(CACHE / "sendpath-legacy-logs"),
            "variants": variants,
            "pacing": pacing,
        }
        self.log(
            f"send path 2 before the lanes ({commit}): the same pacing scenario, broadcast chunks of 100 (its default) "
            f"and of {chunk}"
        )
        environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        environment.pop("PYTHONPATH", None)
        timeout = len(variants) * (config["legacy_cap_s"] + config["pacing"]["baseline_sends"] + 240)
        try:
            process = subprocess.run(
                [sys.executable, str(L.ROOT / "bench" / "sendpath.py")],
                input=json.dumps(spec),
                stdout=subprocess.PIPE,
                text=True,
                cwd=root,
                env=environment,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            out["skipped"] = f"the run did not finish within {timeout} s"
            return out
        if process.returncode != 0:
            out["skipped"] = f"the run failed (exit {process.returncode}); its output is above in the bench's log"
            return out
        out["chunk_recipients"] = {"defaults": legacy_default(root, "BroadcastChunkSize"), "lane_chunks": chunk}
        out["variants"] = json.loads(process.stdout.strip().splitlines()[-1])
        out["logs"] = str((CACHE / "sendpath-legacy-logs").relative_to(L.ROOT))
        return out


def reroute_function_logs() -> None:
    """Point loggers at the streams of the stack now running. A logger keeps the stream it was made with, and
    Powertools' Logger, made again when a second stack in this process imports the handlers afresh, finds the first
    stack's handler on its `logging` logger and keeps it: its lines would bypass the new stack's function logs."""
    import logging

    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            stream = getattr(handler, "stream", None)
            if type(stream).__name__ != "_RoutedStream" or stream in (sys.stdout, sys.stderr):
                continue
            original = getattr(stream, "_original", None)
            replacement = sys.stderr if original is getattr(sys.stderr, "_original", sys.stderr) else sys.stdout
            handler.setStream(replacement)  # type: ignore[attr-defined]


def legacy_tree(commit: str) -> Path:
    """The files of `commit` (git archive) in bench/.cache/legacy-<commit>, made once; its SAM tooling is this tree's
    (the older local stack translates its template with `.venv-sam`)."""
    root = CACHE / f"legacy-{commit}"
    if not (root / "template.yaml").is_file():
        archive = subprocess.run(
            ["git", "archive", "--format=tar", commit], cwd=L.ROOT, check=True, capture_output=True
        ).stdout
        CACHE.mkdir(parents=True, exist_ok=True)
        extracted = Path(tempfile.mkdtemp(prefix=f"legacy-{commit}-", dir=CACHE))
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(extracted, filter="data")
        shutil.rmtree(root, ignore_errors=True)
        extracted.rename(root)
    link = root / ".venv-sam"
    if not link.exists():
        link.symlink_to(L.ROOT / ".venv-sam")
    return root


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def retry_reasons(path: Path, offset: int) -> dict[str, int]:
    """Why a function put commands back for another attempt, from its log from `offset` on: the count of each
    `error: reason` of its "command will be retried" lines (the reason as logged, the provider's text included)."""
    reasons: Counter[str] = Counter()
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            log.seek(offset)
            for line in log:
                if '"command will be retried"' not in line and "retrying later" not in line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                reasons[f"{entry.get('error', '?')}: {entry.get('reason', entry.get('message', ''))}"] += 1
    except OSError:
        pass
    return dict(reasons.most_common())


def legacy_default(root: Path, parameter: str) -> Any:
    """A parameter's default in the older tree's template."""
    from cfnlint.decode import decode_str

    decoded, _ = decode_str((root / "template.yaml").read_text())
    return (decoded or {}).get("Parameters", {}).get(parameter, {}).get("Default")


def misbehaviour(name: str, result: dict[str, Any]) -> list[str]:
    """What the product must not do, as found in a scenario's result (empty: nothing)."""
    problems = []
    measured = result.get("with_broadcast", result)
    if measured.get("delivered", 0) < measured.get("requested", 0):
        problems.append(f"{measured['requested'] - measured['delivered']} of {measured['requested']} not delivered")
    if measured.get("duplicates"):
        problems.append(f"{measured['duplicates']} duplicate acceptances at the provider")
    if measured.get("dead_letters"):
        problems.append(f"{measured['dead_letters']} messages in the dead-letter queue")
    if measured.get("failed_events"):
        problems.append(f"{measured['failed_events']} WhatsApp Message Failed events ({measured.get('failed_codes')})")
    contended = sum(
        count
        for reasons in result.get("retries", {}).values()
        for reason, count in reasons.items()
        if "contended" in reason
    )
    if contended:
        problems.append(
            f"{contended} commands put back as failures (dependency_failed: the rate budget 'contended beyond "
            "32 attempts') rather than deferred"
        )
    order = measured.get("order")
    if order and order["out_of_order"]:
        problems.append(f"{order['out_of_order']} of {order['contacts']} contacts out of order")
    if name == "pacing":
        share = measured.get("throttled_share", 0.0)
        if share == share and share > THROTTLED_SHARE_LIMIT:
            problems.append(f"130429 on {share:.1%} of the provider calls")
        alone = result.get("alone", {}).get("latency", {}).get("p95_s", float("nan"))
        during = measured.get("latency_during", {})
        if during.get("p95_s", 0.0) > max(2 * alone, SLOW_SINGLE_SEND_S):
            slow = [put for put, seconds in measured.get("latency_timeline", []) if seconds > SLOW_SINGLE_SEND_S]
            problems.append(
                f"single sends slower during the broadcast: p95 {during['p95_s']:.2f} s (alone {alone:.2f} s), "
                f"max {during['max_s']:.1f} s; {len(slow)} over {SLOW_SINGLE_SEND_S:g} s"
                + (f", requested {min(slow):.0f}–{max(slow):.0f} s after the broadcast" if slow else "")
            )
        if measured.get("single_sends_accepted", 0) < measured.get("single_sends", 0):
            problems.append(
                f"{measured['single_sends'] - measured['single_sends_accepted']} single sends not delivered"
            )
    return problems
