"""Callbacks to the gateway: loopback-only targets, keep-alive sessions, retries with backoff, and the scheduler
whose small pool of workers posts delayed callbacks."""

from __future__ import annotations

import base64
import heapq
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests

from local.simulator.config import RetryPolicy, SimulatorError

log = logging.getLogger(__name__)


def check_loopback(host: str, what: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SimulatorError(f"{what} must be a loopback address (127.0.0.1), not {host!r}: the simulator stays local")


@dataclass(frozen=True)
class CallbackTarget:
    url: str  # without credentials
    authorization: str | None  # "Basic …" from the credentials the configured URL carried

    @classmethod
    def from_url(cls, url: str, what: str) -> CallbackTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SimulatorError(f"{what} must be an http(s) URL, got {url!r}")
        check_loopback(parts.hostname, what)
        authorization = None
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(credentials.encode()).decode()
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        netloc = f"{host}:{parts.port}" if parts.port else host
        return cls(urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), authorization)


@dataclass(frozen=True)
class Delivery:
    http_status: int | None  # None: never answered (connection error or timeout)
    attempts: int

    @property
    def ok(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


class SessionPool:
    """Keep-alive `requests.Session`s, each used by one thread at a time."""

    def __init__(self) -> None:
        self._idle: list[requests.Session] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def session(self) -> Iterator[requests.Session]:
        with self._lock:
            session = self._idle.pop() if self._idle else None
        if session is None:
            session = requests.Session()
            session.trust_env = False  # never through a proxy: callbacks go to loopback only
        try:
            yield session
        finally:
            with self._lock:
                keep = not self._closed
                if keep:
                    self._idle.append(session)
            if not keep:
                session.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()


class CallbackClient:
    """Posts callbacks: one attempt at a time (for the scheduler) or with the whole retry policy (synchronous)."""

    def __init__(self, retry: RetryPolicy, timeout: float, stopping: threading.Event):
        self.retry = retry
        self.timeout = timeout
        self._stopping = stopping
        self._sessions = SessionPool()

    def post_once(self, target: CallbackTarget, payload: dict[str, Any]) -> int | None:
        headers = {"Content-Type": "application/json", "User-Agent": "wab-provider-simulator"}
        if target.authorization:
            headers["Authorization"] = target.authorization
        data = json.dumps(payload, ensure_ascii=False).encode()
        with self._sessions.session() as session:
            try:
                return session.post(target.url, data=data, headers=headers, timeout=self.timeout).status_code
            except requests.RequestException as exc:
                log.warning("callback to %s failed: %s", target.url, exc)
                return None

    def deliver(self, target: CallbackTarget, payload: dict[str, Any]) -> Delivery:
        """Post until a 2xx answer or the retry policy gives up (sleeping between attempts, in the caller's thread)."""
        attempt = 1
        while True:
            delivery = Delivery(self.post_once(target, payload), attempt)
            if delivery.ok or attempt >= self.retry.max_attempts:
                return delivery
            if self._stopping.wait(self.retry.delay_after(attempt)):
                return delivery
            attempt += 1

    def close(self) -> None:
        self._sessions.close()


@dataclass
class CallbackJob:
    target: CallbackTarget
    payload: dict[str, Any]
    on_done: Callable[[Delivery], None]
    attempt: int = 1


@dataclass(order=True)
class _Due:
    at: float
    sequence: int
    job: CallbackJob = field(compare=False)


class CallbackScheduler:
    """Delayed callbacks posted by a small pool of workers. A failed attempt is rescheduled after its backoff
    rather than slept on, so one slow or failing callback never holds up the others."""

    def __init__(self, client: CallbackClient, workers: int):
        self._client = client
        self._worker_count = workers
        self._queue: list[_Due] = []
        self._sequence = 0
        self._condition = threading.Condition()
        self._stopped = False
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        for number in range(self._worker_count):
            worker = threading.Thread(target=self._work, name=f"simulator-callbacks-{number}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def schedule(self, job: CallbackJob, delay: float) -> None:
        with self._condition:
            if self._stopped:
                return
            self._sequence += 1
            heapq.heappush(self._queue, _Due(time.monotonic() + delay, self._sequence, job))
            self._condition.notify()

    def clear(self) -> None:
        with self._condition:
            self._queue.clear()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._queue.clear()
            self._condition.notify_all()
        for worker in self._workers:
            worker.join(timeout=self._client.timeout + 1)
        self._workers = []

    def _next_job(self) -> CallbackJob | None:
        with self._condition:
            while not self._stopped:
                if self._queue:
                    wait = self._queue[0].at - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._queue).job
                    self._condition.wait(wait)
                else:
                    self._condition.wait()
            return None

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            delivery = Delivery(self._client.post_once(job.target, job.payload), job.attempt)
            if not delivery.ok and job.attempt < self._client.retry.max_attempts:
                backoff = self._client.retry.delay_after(job.attempt)
                job.attempt += 1
                self.schedule(job, backoff)
                continue
            try:
                job.on_done(delivery)
            except Exception:  # a bookkeeping bug must not kill the worker
                log.exception("callback completion failed")
