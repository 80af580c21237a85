"""What a handler sees in Lambda, rebuilt for benchmark processes: environment, context, events, module loading.

Imported by the worker processes before anything is timed, so it uses the standard library only: importing it must
not pre-load anything a handler would otherwise pay for.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER_DIR = ROOT / "layers" / "wab"
BASELINE_DIR = ROOT / "bench" / "baseline"
REGION = "us-east-1"
ACCOUNT = "123456789012"
BUSINESS_NUMBER = "1234567890"
CALLBACK_USER = "wab-callbacks"
CALLBACK_PASSWORD = "bench-callback-password-0123456789"
# Trace header Lambda sets on each invocation: unsampled, as most requests are under X-Ray's default sampling rule
# (one per second, then 5 %), so the tracer's per-call cost is that of an unsampled request.
TRACE_HEADER = "Root=1-674455f0-3b8a1e0c2f4d5a6b7c8d9e0f;Parent=53995c3f42cd8ad8;Sampled=0"

# Which handler file each side of a flow runs, and which function (template logical id) it belongs to.
FLOWS: dict[str, dict[str, str]] = {
    "mo": {"function": "CallbacksFunction", "ours": "functions/callbacks/app.py", "baseline": "bench/baseline/mo.py"},
    "dlr": {"function": "CallbacksFunction", "ours": "functions/callbacks/app.py", "baseline": "bench/baseline/dlr.py"},
    "send": {"function": "SenderFunction", "ours": "functions/sender/app.py", "baseline": "bench/baseline/sender.py"},
    "get": {
        "function": "MessagesFunction",
        "ours": "functions/messages/app.py",
        "baseline": "bench/baseline/messages.py",
    },
}
# Counted only (no hand-written baseline): one broadcast chunk on the bulk lane, as the intake splits a broadcast
# (bench.template_info.chunk_size recipients); the intake routing a batch of INTAKE_BATCH send requests onto the lane.
COUNT_ONLY_FLOWS: dict[str, dict[str, str]] = {
    "chunk": {"function": "SenderFunction", "ours": "functions/sender/app.py"},
    "intake": {"function": "IntakeFunction", "ours": "functions/intake/app.py"},
}
INTAKE_BATCH = 10  # the intake's event source batch size (template.yaml)

# The queues a record comes from (its eventSourceARN), by the names the benchmark gives them; a worker is told the
# names of the queues it runs against (the local stack's scratch queues) in its plan.
QUEUE_NAMES = {
    "queue": "send-queue.fifo",
    "priority_lane": "priority-lane.fifo",
    "bulk_lane": "bulk-lane.fifo",
    "dead_letters": "dead-letters.fifo",
}
# Lane messages (bodies) of the `send` and `chunk` flows by index, as the intake would put them on the lanes. They are
# built with the gateway's own code (bench.lane_bodies) in the benchmark's parent process and handed over in the plan:
# a worker must not import wab before the handler it times does, and the hand-written baseline never imports it.
LANE_BODIES: dict[str, dict[str, str]] = {}


PROVIDER_USER, PROVIDER_PASSWORD = "bench", "bench-provider-password"  # the bench's own provider simulator


def lambda_environment(function_name: str, memory_mb: int, variables: dict[str, str]) -> dict[str, str]:
    """The variables Lambda's Python runtime sets, plus the function's own (from the template)."""
    return {
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "AKIABENCHMARK000000",
        "AWS_SECRET_ACCESS_KEY": "bench-secret-access-key",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(ROOT),  # Powertools' Tracer only traces inside Lambda, which it detects by this
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",  # unsampled: nothing is sent; if it were, only to loopback
        **variables,
    }


class Context:
    """The Lambda context object (the attributes Powertools and the handlers read)."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.memory_limit_in_mb = str(memory_mb)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "bench"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


def load_module(relative_path: str, name: str) -> ModuleType:
    """Import a handler file under its own name, with its folder and the layer on sys.path (Lambda's /opt/python)."""
    path = ROOT / relative_path
    for folder in (str(LAYER_DIR), str(path.parent)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# --- events ----------------------------------------------------------------------------------------------------------


def basic_auth() -> str:
    return "Basic " + base64.b64encode(f"{CALLBACK_USER}:{CALLBACK_PASSWORD}".encode()).decode()


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the HTTP API hands it to the function."""
    all_headers = {"host": "api.example.test", "user-agent": "provider-callbacks/1.0", **(headers or {})}
    if body is not None:
        all_headers["content-type"] = "application/json"
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": route or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "bench",
            "domainName": "api.example.test",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": all_headers["user-agent"],
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route or f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": path_parameters,
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def customer(index: int) -> str:
    return f"+6421{index:07d}"


def mt_id(index: int) -> str:
    return f"b95fc11e-37f0-4770-a082-{index:012d}"


def mo_body(index: int, run: str) -> dict[str, Any]:
    """An MO callback as the provider sends it: the WhatsApp message object as a JSON string."""
    content = {
        "from": customer(index).lstrip("+"),
        "id": f"wamid.HBgLNjQyMTEyMzQ1NjcVAgASGBQzQTRB{index:010d}{run}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": "Kia ora! Is my order on its way? It was order 1042, placed last Tuesday."},
    }
    return {
        "id": str(uuid.uuid4()),
        "source": customer(index),
        "destination": BUSINESS_NUMBER,
        "content": json.dumps(content),
    }


def dlr_body(index: int, status: str = "sent") -> dict[str, Any]:
    return {"id": mt_id(index), "status": status, "reference": f"order-{index}"}


def mo_event(index: int, run: str) -> dict[str, Any]:
    return http_event("POST", "/callbacks/mo", body=mo_body(index, run), headers={"authorization": basic_auth()})


def dlr_event(index: int, status: str = "sent") -> dict[str, Any]:
    return http_event("POST", "/callbacks/dlr", body=dlr_body(index, status), headers={"authorization": basic_auth()})


def get_event(index: int) -> dict[str, Any]:
    message_id = mt_id(index)
    return http_event("GET", f"/messages/{message_id}", route="GET /messages/{id}", path_parameters={"id": message_id})


def bus_event(detail_type: str, detail: dict[str, Any], source: str = "shop.orders") -> dict[str, Any]:
    """An EventBridge event as a bus rule puts it on the send queue."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def send_request(index: int, run: str) -> dict[str, Any]:
    """`WhatsApp Send Requested` as the rule puts it on the send queue: a free-form reply inside the 24-hour window."""
    return bus_event(
        "WhatsApp Send Requested",
        {
            "destination": customer(index),
            "type": "text",
            "text": {"body": "Your order 1042 has shipped and arrives on Thursday."},
            "reference": f"order-{index}-{run}",
            "idempotency_key": f"order-{index}-shipped-{run}",
        },
    )


def broadcast_detail(destinations: list[str], reference: str) -> dict[str, Any]:
    """The detail of `WhatsApp Broadcast Requested`: one template to every destination."""
    return {
        "destination": destinations,
        "type": "template",
        "reference": reference,
        "idempotency_key": reference,
        "template": {"name": "spring_sale", "language": {"code": "en"}},
    }


def broadcast_request(destinations: list[str], reference: str) -> dict[str, Any]:
    return bus_event("WhatsApp Broadcast Requested", broadcast_detail(destinations, reference))


def queue_arn(queue: str, names: dict[str, str] | None = None) -> str:
    """The ARN of one of QUEUE_NAMES ("queue", "priority_lane", "bulk_lane"), or of `names`."""
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{(names or QUEUE_NAMES)[queue]}"


def sqs_event(
    bodies: list[Any], queue: str, group: str | None = None, names: dict[str, str] | None = None
) -> dict[str, Any]:
    """An SQS event of FIFO records from one of QUEUE_NAMES (or of `names`); `group` is the records' message group
    (on a lane: each body's own, which the sender does not read)."""
    now_ms = str(int(time.time() * 1000))
    records = []
    for position, body in enumerate(bodies):
        attributes = {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now_ms,
            "SenderId": "AIDABENCH",
            "ApproximateFirstReceiveTimestamp": now_ms,
            "MessageGroupId": group or uuid.uuid4().hex,
            "MessageDeduplicationId": uuid.uuid4().hex,
            "SequenceNumber": f"{int(now_ms) * 1000 + position:020d}",
        }
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": base64.b64encode(uuid.uuid4().bytes).decode(),
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn(queue, names),
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


def lane_body(flow: str, index: int) -> str:
    try:
        return LANE_BODIES[flow][str(index)]
    except KeyError:
        raise KeyError(f"no lane message for {flow} #{index}: the plan must carry it (bench.lane_bodies)") from None


def flow_event(flow: str, index: int, run: str) -> dict[str, Any]:
    if flow == "mo":
        return mo_event(index, run)
    if flow == "dlr":
        return dlr_event(index)
    if flow == "send":
        return sqs_event([lane_body("send", index)], "priority_lane")
    if flow == "get":
        return get_event(index)
    if flow == "chunk":
        return sqs_event([lane_body("chunk", index)], "bulk_lane")
    if flow == "intake":
        requests = [send_request(INTAKE_BATCH * index + position, run) for position in range(INTAKE_BATCH)]
        return sqs_event(requests, "queue", group="requests")  # the bus rules' one message group
    raise ValueError(flow)


def succeeded(flow: str, answer: Any) -> bool:
    """Did the invocation do the whole flow (a 200, or an SQS batch with no failures)?"""
    if flow in ("send", "chunk", "intake"):
        return isinstance(answer, dict) and not answer.get("batchItemFailures")
    return isinstance(answer, dict) and answer.get("statusCode") == 200


def run_module(module: str, request: dict[str, Any], *, timeout: float) -> str:
    """Run `python -m module` in a process of its own (the layer and the project on its path, none of this process's
    AWS or Powertools settings), `request` as JSON on its stdin; its stdout. RuntimeError if it fails."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN"))}
    env["PYTHONPATH"] = os.pathsep.join([str(LAYER_DIR), str(ROOT)])
    process = subprocess.run(
        [sys.executable, "-m", module],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )
    if process.returncode != 0:
        raise RuntimeError(f"{module} failed: {process.stderr[-3000:]}")
    return process.stdout


def provider_simulator(max_messages: int) -> Any:
    """A provider simulator of the bench's own (in this process, any free port): no DLRs of its own, no window
    checks. Use it as a context manager; `PROVIDER_USER`/`PROVIDER_PASSWORD` are its credentials."""
    from local.simulator import Faults, Simulator, SimulatorConfig

    return Simulator(
        SimulatorConfig(
            port=0,
            api_username=PROVIDER_USER,
            api_password=PROVIDER_PASSWORD,
            faults=Faults(auto_dlr=False, enforce_window=False),
            max_messages=max_messages,
        )
    )


def provider_secret(simulator: Any) -> dict[str, str]:
    """The provider secret's value for `simulator`."""
    return {"base_url": simulator.api_url, "username": PROVIDER_USER, "password": PROVIDER_PASSWORD}
