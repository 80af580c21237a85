"""The SQS → Lambda event source mapping, run locally the way Lambda's pollers run it.

`MaximumConcurrency` pollers each long-poll the queue for up to `BatchSize` messages (gathering for up to
`MaximumBatchingWindowInSeconds`), invoke the function with Lambda-shaped SQS records and then delete:
every record on success; with `ReportBatchItemFailures`, all but those listed in `batchItemFailures` (an invalid
list fails the whole batch, as in Lambda); none when the invocation fails. Records not deleted come back after the
queue's visibility timeout; moto's server itself moves a message to the dead-letter queue once it has been received
`maxReceiveCount` times (checked against moto 5.2.5), so the poller does not.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.lambda_runtime import InvocationError, LocalFunction

log = logging.getLogger(__name__)

POLL_WAIT_SECONDS = 1  # Lambda long-polls for 20 s; 1 s keeps shutdown and pause quick
# A FIFO queue is short-polled, one receive at a time: moto's long poll decides which message groups are in flight when
# it starts and not again while it waits, so two pollers could each be handed a message of the same group (SQS never
# does that). Polling again after this pause when nothing came costs a little latency and keeps the order.
FIFO_POLL_PAUSE_SECONDS = 0.1
DEFAULT_POLLERS = 5  # Lambda starts five pollers when no maximum concurrency is set
RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
)


@dataclass(frozen=True)
class SqsEventSourceConfig:
    queue_url: str
    queue_arn: str
    region: str
    batch_size: int
    report_batch_item_failures: bool
    maximum_concurrency: int
    batching_window_seconds: float = 0.0


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message (ReceiveMessage shape) as a record of Lambda's SQS event."""
    attributes = message.get("Attributes") or {}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {name: attributes[name] for name in RECORD_ATTRIBUTES if name in attributes},
        "messageAttributes": {
            name: _record_message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _record_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return converted


def records_to_delete(
    records: list[dict[str, Any]], result: Any, *, report_batch_item_failures: bool
) -> list[dict[str, Any]]:
    """Which records a successful invocation settles (Lambda's rules for partial batch responses)."""
    if not report_batch_item_failures or result is None:
        return list(records)
    if not isinstance(result, dict):
        log.warning("the batch response is not an object: the whole batch counts as failed")
        return []
    failures = result.get("batchItemFailures")
    if not failures:
        return list(records)
    known_ids = {record["messageId"] for record in records}
    failed_ids = set()
    for failure in failures if isinstance(failures, list) else [None]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in known_ids:
            log.warning("invalid batchItemFailures entry %r: the whole batch counts as failed", failure)
            return []
        failed_ids.add(identifier)
    return [record for record in records if record["messageId"] not in failed_ids]


class Pausable:
    """Pollers that take nothing new while paused: `pause` waits until none holds work (tests use it to look at a
    queue or a stream), `resume` lets them go on. Subclasses count their work in flight in `_busy` under `_state`."""

    def __init__(self, function: LocalFunction):
        self.function = function
        self._state = threading.Condition()
        self._paused = False
        self._busy = 0

    def pause(self, timeout: float = 60) -> None:
        with self._state:
            self._paused = True
            if not self._state.wait_for(lambda: self._busy == 0, timeout):
                raise TimeoutError(f"pollers of {self.function.logical_id} still busy after {timeout} s")

    def resume(self) -> None:
        with self._state:
            self._paused = False
            self._state.notify_all()


class SqsEventSource(Pausable):
    """Pollers feeding one SQS queue to one local function."""

    def __init__(self, function: LocalFunction, config: SqsEventSourceConfig, make_sqs_client: Callable[[], Any]):
        super().__init__(function)
        self.config = config
        self._make_sqs_client = make_sqs_client
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._fifo = config.queue_url.endswith(".fifo")
        self._receiving = threading.Lock()  # a FIFO queue's pollers receive one at a time

    def start(self) -> None:
        for index in range(self.config.maximum_concurrency):
            thread = threading.Thread(target=self._poll, name=f"esm-{self.function.logical_id}-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def request_stop(self) -> None:
        """Ask the pollers to stop after their current receive or batch (`stop()` waits for them)."""
        self._stopping.set()
        with self._state:
            self._state.notify_all()

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling; in-flight invocations finish (up to the function's timeout) and settle their batch."""
        self.request_stop()
        deadline = time.monotonic() + (timeout or self.function.timeout_seconds + POLL_WAIT_SECONDS + 5)
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        if alive:
            log.warning("pollers still running after stop: %s", ", ".join(alive))
        self._threads = []

    def _poll(self) -> None:
        sqs = self._make_sqs_client()
        while not self._stopping.is_set():
            with self._state:
                self._state.wait_for(lambda: not self._paused or self._stopping.is_set())
                if self._stopping.is_set():
                    return
                self._busy += 1
            try:
                messages = self._receive_batch(sqs)
                if messages:
                    self._process(sqs, messages)
            except Exception as exc:  # the emulator went away or hiccuped: keep polling unless stopping
                if not self._stopping.is_set():
                    log.warning("poller of %s: %s", self.function.logical_id, exc)
                    self._stopping.wait(1)
            finally:
                with self._state:
                    self._busy -= 1
                    self._state.notify_all()

    def _receive_batch(self, sqs: Any) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        window_ends = time.monotonic() + self.config.batching_window_seconds
        while len(messages) < self.config.batch_size and not self._stopping.is_set():
            received = self._receive(sqs, min(self.config.batch_size - len(messages), 10))
            messages.extend(received)
            if not messages or time.monotonic() >= window_ends or self._paused:
                break
        return messages

    def _receive(self, sqs: Any, count: int) -> list[dict[str, Any]]:
        request = {
            "QueueUrl": self.config.queue_url,
            "MaxNumberOfMessages": count,
            "AttributeNames": ["All"],
            "MessageSystemAttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
        }
        if not self._fifo:
            return sqs.receive_message(WaitTimeSeconds=POLL_WAIT_SECONDS, **request).get("Messages", [])
        with self._receiving:
            received = sqs.receive_message(WaitTimeSeconds=0, **request).get("Messages", [])
        if not received:
            self._stopping.wait(FIFO_POLL_PAUSE_SECONDS)
        return received

    def _process(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        records = [sqs_record(message, self.config.queue_arn, self.config.region) for message in messages]
        try:
            result = self.function.invoke({"Records": records})
        except InvocationError:
            return  # nothing deleted: every record comes back after the visibility timeout
        settled = records_to_delete(records, result, report_batch_item_failures=self.config.report_batch_item_failures)
        for start in range(0, len(settled), 10):
            chunk = settled[start : start + 10]
            answer = sqs.delete_message_batch(
                QueueUrl=self.config.queue_url,
                Entries=[{"Id": str(index), "ReceiptHandle": r["receiptHandle"]} for index, r in enumerate(chunk)],
            )
            for failure in answer.get("Failed", []):
                log.warning("could not delete a message of %s: %s", self.config.queue_url, failure.get("Message"))
