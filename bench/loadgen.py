"""Sustained MO or DLR callbacks against a running gateway's HTTP API, from a process of its own.

    python -m bench.loadgen < spec.json > result.json

`clients` threads, each with a keep-alive `requests.Session`, first post `warmup` callbacks each (they start the
gateway's execution environments, one per concurrent request, as Lambda would; stored and checked like the others but
left out of the rates and latencies), then post callbacks until `seconds` have passed or `max_requests` have been
sent (both bounds always apply). Meanwhile one thread drains the event tap queue (so moto's
queue never grows long, which would slow every later publish) and notes every event it sees; after the load it keeps
draining until the queue stays empty for a moment or `drain_seconds` pass. Only loopback URLs are accepted.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from bench import lambda_env as L


def _loopback(url: str) -> str:
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to send load to {url}: loopback only")
    return url


def run(spec: dict[str, Any]) -> dict[str, Any]:
    import boto3

    api = _loopback(spec["api_url"]).rstrip("/")
    _loopback(spec["aws_endpoint_url"])
    flow, run_id = spec["flow"], spec["run"]
    url = f"{api}/callbacks/{flow}"
    auth = (spec["username"], spec["password"])
    lock = threading.Lock()
    counter = [0]
    results: list[tuple[str, int, float]] = []  # (message id, HTTP status, latency ms)
    warmups: list[tuple[str, int, float]] = []
    errors: list[str] = []
    deadline = [float("inf")]
    ready = threading.Barrier(spec["clients"] + 1)

    def next_index(warming: bool) -> int | None:
        with lock:
            if counter[0] >= spec["max_requests"] + spec["clients"] * spec["warmup"]:
                return None
            if not warming and time.monotonic() >= deadline[0]:
                return None
            counter[0] += 1
            return counter[0] - 1

    def client() -> None:
        mine: list[tuple[str, int, float]] = []
        with requests.Session() as session:
            session.trust_env = False
            session.auth = auth
            for _ in range(spec["warmup"]):
                index = next_index(True)
                if index is not None:
                    mine.append(post(session, index))
            with lock:
                warmups.extend(mine)
            mine = []
            ready.wait()
            while (index := next_index(False)) is not None:
                mine.append(post(session, index))
        with lock:
            results.extend(mine)

    def post(session: requests.Session, index: int) -> tuple[str, int, float]:
        if flow == "mo":
            body = L.mo_body(spec["first_index"] + index, run_id)
        else:
            body = L.dlr_body(spec["first_index"] + index, "sent")
        started = time.perf_counter()
        try:
            status = session.post(url, json=body, timeout=30).status_code
        except requests.RequestException as exc:
            status = 0
            with lock:
                errors.append(type(exc).__name__)
        return body["id"], status, (time.perf_counter() - started) * 1000

    events: list[dict[str, Any]] = []
    load_done = threading.Event()

    def drain() -> None:
        sqs = boto3.session.Session(region_name=spec["region"]).client(
            "sqs",
            endpoint_url=spec["aws_endpoint_url"],
            aws_access_key_id="AKIABENCHMARK000000",
            aws_secret_access_key="bench",
        )
        quiet_since = None
        stop_at = None
        while True:
            now = time.monotonic()
            if load_done.is_set():
                stop_at = stop_at or now + spec["drain_seconds"]
                if now > stop_at or (quiet_since is not None and now - quiet_since > 2):
                    return
            messages = sqs.receive_message(
                QueueUrl=spec["tap_queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                quiet_since = quiet_since or time.monotonic()
                continue
            quiet_since = None
            sqs.delete_message_batch(
                QueueUrl=spec["tap_queue_url"],
                Entries=[
                    {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]}
                    for number, message in enumerate(messages)
                ],
            )
            for message in messages:
                envelope = json.loads(message["Body"])
                events.append(
                    {
                        "id": envelope.get("id"),
                        "detail_type": envelope.get("detail-type"),
                        "message_id": (envelope.get("detail") or {}).get("message_id"),
                    }
                )

    drainer = threading.Thread(target=drain, name="tap-drainer")
    drainer.start()
    threads = [threading.Thread(target=client, name=f"client-{number}") for number in range(spec["clients"])]
    for thread in threads:
        thread.start()
    ready.wait(timeout=120)  # every client warmed up
    started_epoch = time.time()
    started = time.monotonic()
    deadline[0] = started + spec["seconds"]
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    load_done.set()
    drainer.join()
    return {
        "flow": flow,
        "elapsed_s": elapsed,
        "started_epoch": started_epoch,
        "results": results,
        "warmups": warmups,
        "errors": errors,
        "events": events,
    }


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
