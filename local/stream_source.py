"""The DynamoDB stream → Lambda event source mapping, run locally the way Lambda's pollers run it.

Each shard of the stream has a poller of its own, which reads it in order (GetShardIterator at the mapping's
`StartingPosition`, then GetRecords, four times a second while nothing is new, as Lambda polls a shard). It keeps the
records the mapping's `FilterCriteria` let through (the others are passed over for good, as Lambda does), gathers up to
`BatchSize` of them for up to `MaximumBatchingWindowInSeconds`, and invokes the function with Lambda's DynamoDB event,
one batch at a time (`ParallelizationFactor` 1). Then it checkpoints as Lambda does: past the batch on success; with
`ReportBatchItemFailures`, at the lowest sequence number reported, retrying from that record (the ones before it are
not sent again); an invalid report, or an invocation that fails, retries the whole batch. Retries back off (0.2 s
doubling to 2 s). `MaximumRetryAttempts` -1 retries until the function succeeds: there is no 24-hour retention here.
Once a finite `MaximumRetryAttempts` is spent, or records are older than a finite `MaximumRecordAgeInSeconds`, they are
described (shard, first and last sequence numbers: Lambda's on-failure record) to the `OnFailure` destination and the
poller moves on. The stream is described again every 30 s for new shards (moto never splits one); a shard found then
is read from its start, after its parent.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from local.aws import AwsService
from local.event_source import Pausable
from local.lambda_runtime import InvocationError, LocalFunction

log = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 0.25  # Lambda reads each shard four times a second
ERROR_PAUSE_SECONDS = 1.0  # after the emulator hiccuped
SHARD_DISCOVERY_SECONDS = 30.0
RETRY_BACKOFF_SECONDS = (0.2, 2.0)  # the first retry's pause, doubled up to the second
MAX_RECORDS_PER_READ = 1000  # GetRecords' limit
FILTER_OPERATORS = ("prefix", "suffix", "equals-ignore-case", "anything-but", "exists")


class FilterPatternError(ValueError):
    """A FilterCriteria pattern that is not valid, or uses what the local filter does not implement."""


@dataclass(frozen=True)
class StreamEventSourceConfig:
    stream_arn: str
    region: str
    batch_size: int = 100
    batching_window_seconds: float = 0.0
    starting_position: str = "LATEST"  # or TRIM_HORIZON
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1  # -1: until the function succeeds
    maximum_record_age_seconds: int = -1  # -1: any age
    filters: tuple[Mapping[str, Any], ...] = ()  # parsed patterns (`parse_filter_patterns`); none lets all through
    on_failure_arn: str | None = None  # an SQS queue's or SNS topic's ARN


# ---------------------------------------------------------------------------------------------------------------
# Filtering: the part of EventBridge's pattern syntax that Lambda's event filtering uses
# ---------------------------------------------------------------------------------------------------------------


def parse_filter_patterns(patterns: Iterable[str | Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    """FilterCriteria patterns (JSON text, as the template has them), checked against what `matches` implements."""
    parsed = []
    for pattern in patterns:
        try:
            document = json.loads(pattern) if isinstance(pattern, str) else pattern
        except ValueError as exc:
            raise FilterPatternError(f"filter pattern {pattern!r} is not JSON: {exc}") from None
        _check_pattern(document, pattern)
        parsed.append(document)
    return tuple(parsed)


def _check_pattern(pattern: Any, whole: Any) -> None:
    if not isinstance(pattern, Mapping) or not pattern:
        raise FilterPatternError(f"filter pattern {whole!r}: each level must be a non-empty object")
    for rule in pattern.values():
        if isinstance(rule, Mapping):
            _check_pattern(rule, whole)
        elif not isinstance(rule, list) or not rule:
            raise FilterPatternError(f"filter pattern {whole!r}: each value must be an object or a non-empty list")
        else:
            for item in rule:
                if isinstance(item, Mapping) and (len(item) != 1 or next(iter(item)) not in FILTER_OPERATORS):
                    raise FilterPatternError(
                        f"filter pattern {whole!r}: {item} is not one of the rules emulated locally "
                        f"(values, {', '.join(FILTER_OPERATORS)})"
                    )


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether an event (here a stream record, Lambda-shaped) matches one filter pattern: every field the pattern
    names must match (nested objects field by field); a list matches when any of its values or rules does, and a
    field holding a list when any of its elements does."""
    for key, rule in pattern.items():
        present = key in event
        value = event.get(key)
        if isinstance(rule, Mapping):
            if not (isinstance(value, Mapping) and matches(rule, value)):
                return False
        elif not any(_matches_rule(item, present, value) for item in rule):
            return False
    return True


def _matches_rule(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, Mapping):
        ((operator, argument),) = rule.items()
        if operator == "exists":
            return present == bool(argument) and not isinstance(value, Mapping)
    if not present:
        return False
    values = value if isinstance(value, list) else [value]
    return any(_matches_value(rule, one) for one in values)


def _matches_value(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return _same(rule, value)
    ((operator, argument),) = rule.items()
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(argument)
    if operator == "suffix":
        return isinstance(value, str) and value.endswith(argument)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(argument).casefold()
    # anything-but: a value, a list of values, or one rule (`{"prefix": …}`) the value must not match
    if isinstance(argument, Mapping):
        return isinstance(value, str) and not _matches_value(argument, value)
    excluded = argument if isinstance(argument, list) else [argument]
    return not any(_same(item, value) for item in excluded)


def _same(rule: Any, value: Any) -> bool:
    """Exact matching: strings to strings, numbers to numbers (by value), booleans and null to themselves."""
    if isinstance(rule, bool) or isinstance(value, bool) or rule is None or value is None:
        return rule is value
    if isinstance(rule, (int, float)) and isinstance(value, (int, float)):
        return float(rule) == float(value)
    return type(rule) is type(value) and rule == value


# ---------------------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------------------


def lambda_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A stream record (GetRecords shape, as boto3 returns it) as a record of Lambda's DynamoDB event: the write's
    time in whole epoch seconds, binary values in base64, the stream's ARN and region added."""
    change = record.get("dynamodb") or {}
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        created = float(int(created.timestamp()))
    body: dict[str, Any] = {} if created is None else {"ApproximateCreationDateTime": created}
    for key in ("Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes", "StreamViewType"):
        if key in change:
            body[key] = _json_ready(change[key])
    converted = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # a TTL deletion's
        converted["userIdentity"] = _json_ready(record["userIdentity"])
    return converted


def _json_ready(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_ready(item) for item in value]
    return value


def _sequence_number(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def retry_from(records: list[dict[str, Any]], result: Any, *, report_batch_item_failures: bool) -> int | None:
    """Where a batch must be retried from after an invocation returned `result` (Lambda's rules for partial batch
    responses on streams): None when it all succeeded, else the index of the first record to send again."""
    if not report_batch_item_failures or result is None:
        return None
    if not isinstance(result, dict):
        log.warning("the batch response is not an object: the whole batch is retried")
        return 0
    failures = result.get("batchItemFailures")
    if not failures:
        return None
    numbers = [_sequence_number(record) for record in records]
    retry_at = len(records)
    for failure in failures if isinstance(failures, list) else [None]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or str(identifier) not in numbers:
            log.warning("invalid batchItemFailures entry %r: the whole batch is retried", failure)
            return 0
        retry_at = min(retry_at, numbers.index(str(identifier)))
    return retry_at


def _iso(epoch_seconds: Any) -> str:
    return datetime.fromtimestamp(float(epoch_seconds or 0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------------------------
# Pollers
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class _Shard:
    shard_id: str
    # The checkpoint: where reading starts again (after an error, a pause, a stop): an iterator type and its number.
    position: tuple[str, str | None]
    iterator: str | None = None
    last_read: str | None = None  # the sequence number of the last record read, let through or not
    closed: bool = False  # read to its end (a split shard); moto's never is
    thread: threading.Thread | None = None


class DynamoDBStreamEventSource(Pausable):
    """Pollers feeding one DynamoDB stream to one local function. `make_client(service)` makes a boto3 client for
    moto ("dynamodbstreams"; "sqs" or "sns" for the on-failure destination)."""

    def __init__(
        self, function: LocalFunction, config: StreamEventSourceConfig, make_client: Callable[[AwsService], Any]
    ):
        super().__init__(function)
        self.config = config
        self._make_client = make_client
        self._stopping = threading.Event()
        self._shards: dict[str, _Shard] = {}
        self._watcher: threading.Thread | None = None

    # -- lifecycle (as SqsEventSource's) -------------------------------------------------------------------------

    def start(self) -> None:
        """Find the stream's shards and take their iterators now (so LATEST means "from the start of the stack"),
        then poll each on a thread of its own."""
        self._discover(self._make_client("dynamodbstreams"), self.config.starting_position)
        self._watcher = threading.Thread(target=self._watch, name=f"esm-{self.function.logical_id}-shards", daemon=True)
        self._watcher.start()

    def request_stop(self) -> None:
        """Ask the pollers to stop after their current read or invocation (`stop()` waits for them)."""
        self._stopping.set()
        with self._state:
            self._state.notify_all()

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling; an invocation in flight finishes (up to the function's timeout), its batch is not retried."""
        self.request_stop()
        deadline = time.monotonic() + (timeout or self.function.timeout_seconds + 5)
        threads = [shard.thread for shard in list(self._shards.values()) if shard.thread] + [self._watcher]
        for thread in threads:
            if thread is not None:
                thread.join(max(deadline - time.monotonic(), 0))
        alive = [thread.name for thread in threads if thread is not None and thread.is_alive()]
        if alive:
            log.warning("pollers still running after stop: %s", ", ".join(alive))
        self._shards = {}
        self._watcher = None

    # -- shards ----------------------------------------------------------------------------------------------------

    def _watch(self) -> None:
        streams = self._make_client("dynamodbstreams")
        while not self._stopping.wait(SHARD_DISCOVERY_SECONDS):
            try:
                self._discover(streams, "TRIM_HORIZON")  # a shard found later is read from its start
            except Exception as exc:  # the emulator went away or hiccuped: look again later
                if not self._stopping.is_set():
                    log.warning("describing the stream of %s: %s", self.function.logical_id, exc)

    def _discover(self, streams: Any, starting_position: str) -> None:
        description = streams.describe_stream(StreamArn=self.config.stream_arn)["StreamDescription"]
        for found in description.get("Shards") or []:
            shard_id = found["ShardId"]
            parent = self._shards.get(found.get("ParentShardId") or "")
            if shard_id in self._shards or (parent is not None and not parent.closed):
                continue  # known, or its parent is still being read: a shard's records follow its parent's
            shard = _Shard(shard_id, (starting_position, None))
            shard.iterator = self._iterator(streams, shard)
            shard.thread = threading.Thread(
                target=self._poll, args=(shard,), name=f"esm-{self.function.logical_id}-{shard_id[-8:]}", daemon=True
            )
            self._shards[shard_id] = shard
            shard.thread.start()

    def _iterator(self, streams: Any, shard: _Shard) -> str:
        """A shard iterator at the shard's checkpoint."""
        kind, number = shard.position
        request = {"StreamArn": self.config.stream_arn, "ShardId": shard.shard_id, "ShardIteratorType": kind}
        if number is not None:
            request["SequenceNumber"] = number
        return str(streams.get_shard_iterator(**request)["ShardIterator"])

    # -- polling ---------------------------------------------------------------------------------------------------

    def _poll(self, shard: _Shard) -> None:
        streams = self._make_client("dynamodbstreams")
        while not self._stopping.is_set() and not shard.closed:
            with self._state:
                self._state.wait_for(lambda: not self._paused or self._stopping.is_set())
                if self._stopping.is_set():
                    return
                self._busy += 1
            pause = 0.0
            try:
                batch = self._gather(streams, shard)
                if batch:
                    self._process(batch, shard)
                else:
                    pause = POLL_INTERVAL_SECONDS
            except Exception as exc:  # the emulator went away or hiccuped: read again from the checkpoint
                if not self._stopping.is_set():
                    log.warning("stream poller of %s: %s", self.function.logical_id, exc)
                shard.iterator = None
                pause = ERROR_PAUSE_SECONDS
            finally:
                with self._state:
                    self._busy -= 1
                    self._state.notify_all()
            if pause:
                self._stopping.wait(pause)

    def _read(self, streams: Any, shard: _Shard, limit: int) -> list[dict[str, Any]]:
        """The next records of the shard (the iterator moves on; an expired one is taken again at the checkpoint)."""
        if shard.iterator is None:
            shard.iterator = self._iterator(streams, shard)
        try:
            answer = streams.get_records(ShardIterator=shard.iterator, Limit=limit)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                raise
            shard.iterator = self._iterator(streams, shard)
            answer = streams.get_records(ShardIterator=shard.iterator, Limit=limit)
        shard.iterator = answer.get("NextShardIterator")
        shard.closed = shard.iterator is None
        return list(answer.get("Records") or [])

    def _gather(self, streams: Any, shard: _Shard) -> list[dict[str, Any]]:
        """Up to BatchSize records the filters let through, gathered for up to the batching window after the first.
        Records filtered out are passed over: with none let through, the checkpoint moves past them."""
        batch: list[dict[str, Any]] = []
        window_ends: float | None = None
        while len(batch) < self.config.batch_size and not self._stopping.is_set():
            read = self._read(streams, shard, min(self.config.batch_size - len(batch), MAX_RECORDS_PER_READ))
            for record in read:
                shard.last_read = _sequence_number(record)
                converted = lambda_record(record, self.config.stream_arn, self.config.region)
                if self._wanted(converted):
                    batch.append(converted)
            if not batch:
                if shard.last_read is not None:
                    shard.position = ("AFTER_SEQUENCE_NUMBER", shard.last_read)
                if read and not shard.closed:
                    continue  # all filtered out: there may be more behind them
                return batch
            now = time.monotonic()
            if window_ends is None:
                window_ends = now + self.config.batching_window_seconds
            if shard.closed or now >= window_ends or self._paused:
                break
            if not read:
                self._stopping.wait(min(POLL_INTERVAL_SECONDS, window_ends - now))
        return batch

    def _wanted(self, record: Mapping[str, Any]) -> bool:
        return not self.config.filters or any(matches(pattern, record) for pattern in self.config.filters)

    def _process(self, batch: list[dict[str, Any]], shard: _Shard) -> None:
        """Invoke until the batch is through (or given up on); then checkpoint past everything read."""
        pending = batch
        attempts = 0
        backoff, longest = RETRY_BACKOFF_SECONDS
        while pending:
            pending = self._drop_too_old(pending, shard, attempts)
            if not pending:
                break
            attempts += 1
            function_error = False
            try:
                result = self.function.invoke({"Records": pending})
                start = retry_from(pending, result, report_batch_item_failures=self.config.report_batch_item_failures)
            except InvocationError:
                function_error, start = True, 0
            if start is None:
                break
            pending = pending[start:]
            shard.position = ("AT_SEQUENCE_NUMBER", _sequence_number(pending[0]))
            retries = self.config.maximum_retry_attempts
            if 0 <= retries < attempts:
                self._discard(pending, shard, "RetryAttemptsExhausted", attempts, function_error)
                break
            if self._stopping.wait(backoff) or self._paused:
                shard.iterator = None  # left unsent: read again from the checkpoint on resume
                return
            backoff = min(backoff * 2, longest)
        if shard.last_read is not None:
            shard.position = ("AFTER_SEQUENCE_NUMBER", shard.last_read)

    def _drop_too_old(self, records: list[dict[str, Any]], shard: _Shard, attempts: int) -> list[dict[str, Any]]:
        """With a finite MaximumRecordAgeInSeconds, the records older than it are discarded (the oldest come first)."""
        limit = self.config.maximum_record_age_seconds
        if limit < 0:
            return records
        oldest_allowed = time.time() - limit
        expired = 0
        while expired < len(records) and float(records[expired]["dynamodb"]["ApproximateCreationDateTime"] or 0) < (
            oldest_allowed
        ):
            expired += 1
        if expired:
            self._discard(records[:expired], shard, "RecordAgeExceeded", attempts, False)
        return records[expired:]

    def _discard(
        self, records: list[dict[str, Any]], shard: _Shard, condition: str, attempts: int, function_error: bool
    ) -> None:
        """Describe records given up on to the OnFailure destination, as Lambda's on-failure record does."""
        document: dict[str, Any] = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function.arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": _sequence_number(records[0]),
                "endSequenceNumber": _sequence_number(records[-1]),
                "approximateArrivalOfFirstRecord": _iso(records[0]["dynamodb"].get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso(records[-1]["dynamodb"].get("ApproximateCreationDateTime")),
                "batchSize": len(records),
                "streamArn": self.config.stream_arn,
            },
        }
        if attempts:
            document["responseContext"] = {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                **({"functionError": "Unhandled"} if function_error else {}),
            }
        destination = self.config.on_failure_arn
        log.warning(
            "%s: %d stream records given up on (%s), described to %s",
            self.function.logical_id,
            len(records),
            condition,
            destination or "no destination",
        )
        if not destination:
            return
        body = json.dumps(document)
        try:
            if destination.startswith("arn:aws:sqs:"):
                sqs = self._make_client("sqs")
                queue_url = sqs.get_queue_url(QueueName=destination.rsplit(":", 1)[1])["QueueUrl"]
                sqs.send_message(QueueUrl=queue_url, MessageBody=body)
            elif destination.startswith("arn:aws:sns:"):
                self._make_client("sns").publish(TopicArn=destination, Message=body)
            else:
                log.warning("the on-failure destination %s is not emulated locally (SQS and SNS are)", destination)
        except Exception as exc:  # the records are passed over all the same, as the poller cannot do better
            log.warning("could not describe the discarded records to %s: %s", destination, exc)
