"""The sender: commands from the send queue to the provider, each done once, retried when that can help, reported when
it fails for good.

Per SQS record:
1. Parse the command (`wab.models.commands`). An invalid one is reported as `WhatsApp Message Failed` and dropped: it
   is not a batch item failure, so it neither repeats nor reaches the dead-letter queue.
2. Do it once (`_execute`, under Powertools idempotency on the messages table, keyed by the command's idempotency key
   and checked against its fingerprint). A redelivered or replayed command gets the stored outcome instead of a
   second provider call. Whatever can be reported without a provider acceptance (window refusals, permanent
   rejections, uploaded media) is published inside this step, so a replay publishes nothing again; a failure inside
   it forgets the attempt (Powertools deletes the record), so the retry starts afresh.
3. Complete the outcome (`_complete`): the MT records and `WhatsApp Message Accepted` events, through the outbox, so
   each event goes out once however often completion runs. A failure here is retried too, and the retry completes
   the stored outcome without calling the provider again.

An erasure (`erase_contact`) takes the same path: step 2 deletes the contact's records and stores how many went;
step 3 publishes `WhatsApp Contact Erased` with that count, so a retry after a failed publish still reports what
the erasure deleted. A repeat of the same request publishes the same audit event again and deletes nothing.

A failure that may pass (throttling, pair rate, 5xx, timeouts, AWS errors, credentials still refused after a refresh)
pushes the record's visibility timeout out with jittered exponential backoff and makes it a batch item failure; SQS
moves it to the dead-letter queue (which alarms) after the queue's maxReceiveCount receipts.

The one gap left: an invocation that dies after the provider accepted a message but before Powertools stored the
outcome leaves the command "in progress" until that invocation's deadline; the retry after it sends again. A read
timeout on a send has the same ambiguity. The provider offers no idempotency key of its own to close it.
"""

import math
import mimetypes
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Callable, NamedTuple, Protocol

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field

from wab import aws, clock, jsoncodec
from wab.errors import DependencyFailed, GatewayError, InvalidCommand, ProviderRejected
from wab.models.commands import (
    AnyCommand,
    BroadcastCommand,
    Delivery,
    EraseContactCommand,
    MediaKind,
    MediaUploadCommand,
    MessageCommand,
    SendCommand,
    fingerprint,
    idempotency_key,
    key_basis,
    parse_delivery,
)
from wab.models.events import (
    ContactErased,
    EventDetail,
    FailureReason,
    MediaUploaded,
    MessageAccepted,
    MessageFailed,
)
from wab.models.records import MessageRecord, PendingEvent, StatusEntry
from wab.models.types import Model, contact_hash, contact_key
from wab.observability import count, logger
from wab.outbox import Change, Evolve, Pending, commit, deliver
from wab.provider import BroadcastAnswer, OpenFile, ProviderClient, SendAnswer
from wab.publisher import EventPublisher
from wab.settings import SenderSettings
from wab.status import moves_forward
from wab.store import MessageStore, contact_item_key, message_key

IDEMPOTENCY_PREFIX = "IDEMPOTENCY#sender"
ACCEPTED_KEY = "accepted"
WINDOW = timedelta(hours=24)
MAX_BACKOFF_SECONDS = 15 * 60
DEFAULT_REMAINING_MS = 30_000
LEASE_MARGIN_MS = 1000
SETTLE_WORKERS = 16
MIN_REMAINING_MS = 5000  # a record started later might be cut off by the function timeout; it waits for the next run
SQS_BATCH_ENTRIES = 10
SQS_BATCH_BYTES = 256 * 1024
RECORD_LOG_KEYS = ("sqs_message_id", "correlation_id", "command", "reference", "idempotency_key")
GENERIC_CONTENT_TYPES = {"", "binary/octet-stream", "application/octet-stream"}
MEDIA_SIZE_LIMITS: dict[str, int] = {  # WhatsApp's limits per media kind
    "image": 5 * 1024 * 1024,
    "video": 16 * 1024 * 1024,
    "audio": 16 * 1024 * 1024,
    "document": 100 * 1024 * 1024,
    "sticker": 500 * 1024,
}


class Provider(Protocol):
    def send(self, body: dict[str, Any]) -> SendAnswer: ...
    def broadcast(self, body: dict[str, Any]) -> list[BroadcastAnswer]: ...
    def upload_media(self, *, source: str, filename: str, content_type: str, open_file: OpenFile) -> str: ...


class CommandKey(Model):
    """What a command is done once under (`key`), and what it must match (`fingerprint`): a key reused for a
    different command is refused rather than silently taken for the first one."""

    key: str
    fingerprint: str


class Accepted(Model):
    message_id: str
    destination: str


class Failure(Model):
    destination: str | None = None
    code: str
    message: str


class Outcome(Model):
    """What doing a command produced; stored by Powertools and handed back when the command comes again."""

    at: str  # when the provider answered
    accepted: list[Accepted] = Field(default_factory=list)
    unreported: list[Failure] = Field(default_factory=list)  # failures to publish at completion
    media_id: str | None = None
    chunks: int = 0
    records_erased: int | None = None  # set by an erasure


# --- adapters ------------------------------------------------------------------------------------------------------

class SendQueue:
    """The send queue: broadcast chunks go back on it; a record to retry gets a longer visibility timeout."""

    def __init__(self, url: str):
        self.url = url

    def put(self, bodies: list[str]) -> None:
        for batch in pack_batches(bodies, SQS_BATCH_ENTRIES, SQS_BATCH_BYTES):
            entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(batch)]
            for _ in range(2):
                failed = {item["Id"] for item in self._call("send_message_batch", Entries=entries).get("Failed", [])}
                entries = [entry for entry in entries if entry["Id"] in failed]
                if not entries:
                    break
            else:
                raise DependencyFailed(f"SQS did not take {len(entries)} broadcast chunks")

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        self._call("change_message_visibility", ReceiptHandle=receipt_handle, VisibilityTimeout=seconds)

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            return getattr(aws.client("sqs"), method)(QueueUrl=self.url, **params)
        except (ClientError, BotoCoreError) as exc:
            raise DependencyFailed(f"SQS {method} failed: {type(exc).__name__}") from exc


def pack_batches(bodies: list[str], max_entries: int, max_bytes: int) -> list[list[str]]:
    """Group bodies in order into batches within SQS's entry and size limits per SendMessageBatch."""
    batches: list[list[str]] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if not batches or len(batches[-1]) == max_entries or size + length > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(body)
        size += length
    return batches


class StoredObject(NamedTuple):
    content_type: str
    length: int


class MediaBucket:
    """Reads the object to upload: its type and size first, then the bytes as a stream."""

    def head(self, bucket: str, key: str) -> StoredObject | None:
        """The object's type and size, or None when there is no such object."""
        try:
            head = aws.client("s3").head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
                return None
            raise DependencyFailed(f"S3 HeadObject failed: {exc.response['Error']['Code']}") from exc
        except BotoCoreError as exc:
            raise DependencyFailed(f"S3 HeadObject failed: {type(exc).__name__}") from exc
        return StoredObject(head.get("ContentType") or "", int(head["ContentLength"]))

    def opener(self, bucket: str, key: str) -> OpenFile:
        def open_file() -> tuple[Any, int]:
            try:
                answer = aws.client("s3").get_object(Bucket=bucket, Key=key)
            except (ClientError, BotoCoreError) as exc:
                raise DependencyFailed(f"S3 GetObject failed: {type(exc).__name__}") from exc
            return answer["Body"], int(answer["ContentLength"])

        return open_file


# --- the sender ----------------------------------------------------------------------------------------------------

class Sender:
    def __init__(
        self,
        settings: SenderSettings,
        *,
        store: MessageStore,
        publisher: EventPublisher,
        provider: Provider,
        queue: SendQueue,
        media: MediaBucket,
    ):
        self.settings = settings
        self.store = store
        self.publisher = publisher
        self.provider = provider
        self.queue = queue
        self.media = media
        self.idempotency = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="fingerprint",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=settings.idempotency_days * 86400,
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=settings.table_name,
            key_attr="pk",
            expiry_attr="expires_at",  # the table's TTL attribute: DynamoDB removes expired idempotency records
            boto3_client=aws.client("dynamodb"),
        )
        self._execute_once = idempotent_function(
            self._execute,
            data_keyword_argument="command_key",
            persistence_store=persistence,
            config=self.idempotency,
            output_serializer=PydanticSerializer(Outcome),
            key_prefix=IDEMPOTENCY_PREFIX,
        )

    @classmethod
    def from_settings(cls, settings: SenderSettings) -> "Sender":
        return cls(
            settings,
            store=MessageStore(settings.table_name),
            publisher=EventPublisher(settings.event_bus_name),
            provider=ProviderClient(settings.provider_secret_arn, secret_max_age=settings.secret_max_age_seconds),
            queue=SendQueue(settings.send_queue_url),
            media=MediaBucket(),
        )

    def handle_record(self, record: SQSRecord, lambda_context: Any = None) -> None:
        """The batch processor's record handler: raising makes the record a batch item failure.

        Every log line about the record, its retry included, carries `sqs_message_id` and `correlation_id` and, once
        the command is read, `command`, `reference` and `idempotency_key`; they are removed when the record is done.
        """
        if lambda_context is not None:
            self.idempotency.register_lambda_context(lambda_context)  # "in progress" lasts until this deadline
        # The records of a batch run in threads side by side (wab.batch): their log keys belong to their thread.
        logger.thread_safe_append_keys(sqs_message_id=record.message_id, correlation_id=record.message_id)
        try:
            _check_time_left(lambda_context)
            lease_until_ms = _lease_until_ms(lambda_context)
            self.handle_body(record.body, lease_until_ms=lease_until_ms, sqs_message_id=record.message_id)
        except Exception as exc:
            self._postpone(record, exc)
            raise
        finally:
            logger.thread_safe_remove_keys(list(RECORD_LOG_KEYS))

    def handle_body(self, body: str, *, lease_until_ms: int, sqs_message_id: str | None = None) -> None:
        try:
            delivery = parse_delivery(body)
        except InvalidCommand as invalid:
            logger.warning("invalid command dropped", extra={"reason": invalid.message})
            self._publish([_invalid_command_event(invalid)])
            return
        command = delivery.command
        # A bus event's id is what its requester got back from PutEvents, as the SQS message id is from SendMessage.
        delivery_id = delivery.event_id or sqs_message_id
        key = CommandKey(key=idempotency_key(command, delivery_id=delivery_id), fingerprint=fingerprint(command))
        logger.thread_safe_append_keys(
            command=command.command, reference=command.reference, idempotency_key=key.key, correlation_id=delivery_id
        )
        try:
            outcome = self._execute_once(command_key=key, command=command)
        except IdempotencyValidationError:
            reused = Failure(
                destination=_single_destination(command),
                code="idempotency_key_reused",
                message="an earlier, different command used the same idempotency key (or reference)",
            )
            self._publish([_failed_event(command, reused)])
            return
        self._complete(delivery, outcome, lease_until_ms)

    # --- step 2: once per command --------------------------------------------------------------------------------

    def _execute(self, *, command_key: CommandKey, command: AnyCommand) -> Outcome:
        logger.debug("doing command")
        if isinstance(command, EraseContactCommand):
            erased = erase_contact(self.store, command.contact)
            count("ContactsErased")
            return Outcome(at=_now(), records_erased=erased)
        if isinstance(command, MediaUploadCommand):
            return self._upload(command)
        outcome = self._send(command) if isinstance(command, SendCommand) else self._broadcast(command)
        if outcome.accepted:
            count("SendsAccepted", len(outcome.accepted))
            _log_accepted(outcome.accepted)
        return outcome

    def _send(self, command: SendCommand) -> Outcome:
        destination = command.destination
        if self._outside_window(command, [destination]):
            self._report(command, [_window_failure(destination)], after_acceptance=False)
            return Outcome(at=_now())
        try:
            answer = self.provider.send(command.provider_body(destination, self._source(command)))
        except ProviderRejected as rejected:
            self._report(command, [_rejection(rejected, destination)], after_acceptance=False)
            return Outcome(at=_now())
        return Outcome(at=_now(), accepted=[Accepted(message_id=answer.id, destination=destination)])

    def _broadcast(self, command: BroadcastCommand) -> Outcome:
        if len(command.destination) > self.settings.broadcast_chunk_size:
            chunks = split_broadcast(command, self.settings.broadcast_chunk_size)
            self.queue.put([jsoncodec.encode(chunk.wire()) for chunk in chunks])
            logger.info("broadcast split into chunks", extra={"chunks": len(chunks), "recipients": len(command.destination)})
            count("BroadcastChunks", len(chunks))
            return Outcome(at=_now(), chunks=len(chunks))
        outside = self._outside_window(command, command.destination)
        failures = [_window_failure(destination) for destination in command.destination if destination in outside]
        recipients = [destination for destination in command.destination if destination not in outside]
        if not recipients:
            self._report(command, failures, after_acceptance=False)
            return Outcome(at=_now())
        try:
            answers = self.provider.broadcast(command.provider_body(recipients, self._source(command)))
        except ProviderRejected as rejected:
            self._report(command, failures + [_rejection(rejected, each) for each in recipients], after_acceptance=False)
            return Outcome(at=_now())
        accepted, unaccepted = match_broadcast_answers(recipients, answers)
        unreported = self._report(command, failures + unaccepted, after_acceptance=True)
        return Outcome(at=_now(), accepted=accepted, unreported=unreported)

    def _upload(self, command: MediaUploadCommand) -> Outcome:
        stored = self.media.head(command.bucket, command.key)
        if stored is None:
            failure = Failure(code="media_not_found", message=f"no object s3://{command.bucket}/{command.key}")
            self._report(command, [failure], after_acceptance=False)
            return Outcome(at=_now())
        content_type = media_content_type(stored.content_type, command.key)
        kind = command.kind or media_kind(content_type)
        if stored.length > MEDIA_SIZE_LIMITS[kind]:
            message = f"the {kind} is {stored.length} bytes; WhatsApp takes up to {MEDIA_SIZE_LIMITS[kind]} bytes for a {kind}"
            self._report(command, [Failure(code="media_too_large", message=message)], after_acceptance=False)
            return Outcome(at=_now())
        try:
            media_id = self.provider.upload_media(
                source=self._source(command),
                filename=command.key.rsplit("/", 1)[-1],
                content_type=content_type,
                open_file=self.media.opener(command.bucket, command.key),
            )
        except ProviderRejected as rejected:
            self._report(command, [_rejection(rejected, None)], after_acceptance=False)
            return Outcome(at=_now())
        uploaded = MediaUploaded(
            media_id=media_id, source=self._source(command), bucket=command.bucket, key=command.key,
            reference=command.reference,
        )
        # Published here, not at completion: a retry after a failed publish uploads again (harmless), while an
        # event published twice could make a consumer send the media twice.
        self._publish([uploaded])
        count("MediaUploaded")
        return Outcome(at=_now(), media_id=media_id)

    def _outside_window(self, command: MessageCommand, destinations: list[str]) -> set[str]:
        """Recipients a free-form message may not reach now (the policy decides what that means)."""
        policy = self.settings.window_policy
        if policy == "off" or not command.message.free_form:
            return set()
        if len(destinations) == 1:
            last_inbound = {destinations[0]: self.store.last_inbound_at(destinations[0])}
        else:
            last_inbound = self.store.last_inbound_times(destinations)
        cutoff = clock.iso(clock.now() - WINDOW)
        outside = {each for each in destinations if (last_inbound.get(each) or "") <= cutoff}
        if outside and policy == "warn":
            logger.warning("free-form message outside the 24-hour window; sending anyway", extra={"recipients": len(outside)})
            count("SentOutsideWindow", len(outside))
            return set()
        if outside:
            count("WindowRejections", len(outside))
        return outside

    def _report(self, command: AnyCommand, failures: list[Failure], *, after_acceptance: bool) -> list[Failure]:
        """Publish failures now. Before anything was accepted a publishing failure raises (the retry starts afresh);
        after, raising would send again, so what did not go out is returned for completion to publish."""
        if not failures:
            return []
        events = {str(index): _failed_event(command, failure) for index, failure in enumerate(failures)}
        failed = set(self.publisher.publish({key: (event.detail_type, event.as_dict()) for key, event in events.items()}))
        _count_failures([event for key, event in events.items() if key not in failed])
        if failed and not after_acceptance:
            raise DependencyFailed(f"EventBridge did not take {len(failed)} failure events")
        return [failure for index, failure in enumerate(failures) if str(index) in failed]

    # --- step 3: completion, repeatable ------------------------------------------------------------------------

    def _complete(self, delivery: Delivery, outcome: Outcome, lease_until_ms: int) -> None:
        command = delivery.command
        if outcome.accepted and isinstance(command, MessageCommand):
            self._record_accepted(command, outcome, lease_until_ms)
        if outcome.unreported:
            self._publish([_failed_event(command, failure) for failure in outcome.unreported])
        if isinstance(command, EraseContactCommand) and outcome.records_erased is not None:
            erased = contact_erased(command, outcome, requested_by=delivery.requested_by)
            self._publish([erased])
            logger.info("contact erased", extra=erased.model_dump(include={"contact_hash", "records_erased"}))

    def _record_accepted(self, command: MessageCommand, outcome: Outcome, lease_until_ms: int) -> None:
        now = clock.now()
        expires_at = int(now.timestamp()) + self.settings.retention_days * 86400
        source = self._source(command)

        def acceptance(accepted: Accepted) -> Evolve:
            return lambda current: accept(
                current, accepted=accepted, command=command, source=source, at=outcome.at, expires_at=expires_at
            )

        if len(outcome.accepted) == 1:
            [only] = outcome.accepted
            pending = commit(
                self.store, only.message_id, acceptance(only), own_key=ACCEPTED_KEY,
                now_ms=clock.epoch_ms(now), lease_until_ms=lease_until_ms, expect_new=True,
            )
            if pending:
                deliver(self.store, self.publisher, pending)
            return
        existing = self.store.existing_ids([accepted.message_id for accepted in outcome.accepted])
        fresh = [
            _leased_new_record(acceptance(accepted)(None), lease_until_ms)
            for accepted in outcome.accepted
            if accepted.message_id not in existing
        ]
        self.store.put_new([pending.record for pending in fresh])
        merged = [  # records a DLR created first: merged under the versioned write, like a single send
            commit(
                self.store, accepted.message_id, acceptance(accepted), own_key=ACCEPTED_KEY,
                now_ms=clock.epoch_ms(now), lease_until_ms=lease_until_ms,
            )
            for accepted in outcome.accepted
            if accepted.message_id in existing
        ]
        deliver_all(self.store, self.publisher, fresh + [pending for pending in merged if pending])

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _source(self, command: MessageCommand | MediaUploadCommand) -> str:
        return command.source or self.settings.business_number

    def _publish(self, events: list[EventDetail]) -> None:
        failed = self.publisher.publish({str(index): (event.detail_type, event.as_dict()) for index, event in enumerate(events)})
        if failed:
            raise DependencyFailed(f"EventBridge did not take {len(failed)} of {len(events)} events")
        _count_failures(events)

    def _postpone(self, record: SQSRecord, error: Exception) -> None:
        receive_count = int(record.attributes.approximate_receive_count or 1)
        delay = retry_delay(receive_count, getattr(error, "retry_after", None))
        details = {"receive_count": receive_count, "retry_in_seconds": delay}
        if isinstance(error, GatewayError):
            logger.warning("command will be retried", extra={**details, "error": error.code, "reason": error.message})
            reason = error.code
        elif isinstance(error, IdempotencyAlreadyInProgressError):
            logger.warning("the same command is being done by another invocation; retrying later", extra=details)
            reason = "in_progress"
        else:
            logger.exception("command failed unexpectedly; it will be retried", extra=details)
            reason = "unexpected"
        count("SendRetries", reason=reason)
        try:
            self.queue.postpone(record.receipt_handle, delay)
        except DependencyFailed:
            logger.warning("could not delay the retry; the queue's visibility timeout applies")


# --- pure steps, tested on their own -------------------------------------------------------------------------------

def erase_contact(store: MessageStore, contact: str) -> int:
    """Delete every message record of the contact (MO and MT) and its window item; the number of items deleted.

    Run again, it finds nothing and returns 0.
    """
    keys = [message_key(message_id) for message_id in store.contact_message_ids(contact)]
    if store.last_inbound_at(contact) is not None:
        keys.append(contact_item_key(contact))
    store.delete(keys)
    return len(keys)


def contact_erased(command: EraseContactCommand, outcome: Outcome, *, requested_by: str) -> ContactErased:
    """The audit event of an erasure: the contact named by its hash only, never by its number."""
    return ContactErased(
        contact_hash=contact_hash(command.contact),
        records_erased=outcome.records_erased or 0,
        reference=command.reference,
        requested_by=requested_by,
        erased_at=outcome.at,
    )


def accept(
    current: MessageRecord | None,
    *,
    accepted: Accepted,
    command: MessageCommand,
    source: str,
    at: str,
    expires_at: int,
) -> Change | None:
    """The MT record with the provider's acceptance added, and the `Accepted` event; None when already recorded.

    A DLR may have created the record first: its statuses stay (a later status is never moved back to accepted),
    the acceptance goes first in the history, and the send's own fields fill in the rest.
    """
    record = current or MessageRecord(
        id=accepted.message_id, direction="MT", created_at=at, updated_at=at, expires_at=expires_at
    )
    if any(entry.status == "accepted" for entry in record.status_history):
        return None
    record.direction = "MT"
    record.status_history.insert(0, StatusEntry(status="accepted", at=at))
    if moves_forward(record.status, "accepted"):
        record.status = "accepted"
    record.source = source
    record.destination = accepted.destination
    record.contact = accepted.destination
    record.type = command.message.type
    record.content = command.stored_content()
    record.reference = command.reference or record.reference
    record.created_at = min(record.created_at, at)
    record.updated_at = max(record.updated_at, at)
    record.expires_at = record.expires_at or expires_at
    event = MessageAccepted(
        message_id=accepted.message_id, reference=record.reference, destination=accepted.destination, source=source,
        type=command.message.type,
    )
    return Change(record=record, events={ACCEPTED_KEY: event})


def _leased_new_record(change: Change | None, lease_until_ms: int) -> Pending:
    """A new record with its `Accepted` event leased in the outbox, as `outbox.commit` would write it."""
    assert change is not None  # a new record has no acceptance yet
    record = change.record
    for key, event in change.events.items():
        record.outbox[key] = PendingEvent(detail_type=event.detail_type, detail=event.as_dict(), lease_until=lease_until_ms)
    record.version = 1
    return Pending(record=record, keys=list(change.events))


def deliver_all(store: MessageStore, publisher: EventPublisher, pendings: list[Pending]) -> None:
    """`outbox.deliver` for many records at once: their events go out ten per PutEvents call."""
    events = {
        f"{pending.record.id}|{key}": (pending.record.outbox[key].detail_type, pending.record.outbox[key].detail)
        for pending in pendings
        for key in pending.keys
    }
    failed = set(publisher.publish(events))
    settlements = [
        (pending.record.id, keys, published)
        for pending in pendings
        for published in (True, False)
        if (keys := [key for key in pending.keys if (f"{pending.record.id}|{key}" in failed) != published])
    ]
    # One UpdateItem per record: run side by side so a chunk of hundreds settles in a few round trips' time.
    with ThreadPoolExecutor(max_workers=SETTLE_WORKERS) as pool:
        list(pool.map(lambda settlement: _settle(store, *settlement[:2], published=settlement[2]), settlements))
    if failed:
        raise DependencyFailed(f"EventBridge did not take {len(failed)} of {len(events)} events")


def _settle(store: MessageStore, message_id: str, keys: list[str], *, published: bool) -> None:
    try:
        store.settle_outbox(message_id, keys, published=published)
    except DependencyFailed:
        # Published events left in the outbox are published again only if their record is touched after the lease.
        logger.warning("could not settle the outbox", extra={"message_id": message_id, "published": published})


def split_broadcast(command: BroadcastCommand, chunk_size: int) -> list[BroadcastCommand]:
    """Chunk commands of at most `chunk_size` recipients, each with a key derived from the parent's and its place,
    so a re-split parent (redelivered, replayed) yields the same chunks and each chunk still sends once."""
    basis = key_basis(command)
    groups = [command.destination[start : start + chunk_size] for start in range(0, len(command.destination), chunk_size)]
    return [
        command.model_copy(update={"destination": group, "idempotency_key": f"{basis}#chunk-{number}-of-{len(groups)}"})
        for number, group in enumerate(groups, start=1)
    ]


def match_broadcast_answers(recipients: list[str], answers: list[BroadcastAnswer]) -> tuple[list[Accepted], list[Failure]]:
    """Pair the provider's per-recipient answers with the recipients; one it did not accept is a failure."""
    by_destination = {contact_key(answer.destination): answer for answer in answers}
    accepted, failures = [], []
    for destination in recipients:
        answer = by_destination.get(destination)
        if answer and answer.id and (answer.status or "accepted") == "accepted":
            accepted.append(Accepted(message_id=answer.id, destination=destination))
        else:
            status = answer.status if answer else "missing from the answer"
            failures.append(Failure(destination=destination, code="not_accepted", message=f"provider status: {status}"))
    return accepted, failures


def retry_delay(receive_count: int, retry_after: float | None = None, *, jitter: Callable[[], float] = random.random) -> int:
    """Seconds before the next attempt: up to 2^receive_count (capped at 15 minutes), half of it fixed and half
    random so a throttled batch does not come back all at once; never sooner than the provider asked."""
    ceiling = min(MAX_BACKOFF_SECONDS, 2 ** min(max(receive_count, 1), 10))
    delay = ceiling / 2 + jitter() * ceiling / 2
    if retry_after:
        delay = max(delay, retry_after)
    return max(1, min(MAX_BACKOFF_SECONDS, math.ceil(delay)))


def media_content_type(stored: str, key: str) -> str:
    """The object's own ContentType, unless it is a generic one: then the type its name suggests."""
    if stored.split(";")[0].strip().lower() not in GENERIC_CONTENT_TYPES:
        return stored
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def media_kind(content_type: str) -> MediaKind:
    """WhatsApp's media kind for a MIME type (its stickers are WebP images)."""
    main = content_type.split(";")[0].strip().lower()
    if main == "image/webp":
        return "sticker"
    for kind in ("image", "video", "audio"):
        if main.startswith(f"{kind}/"):
            return kind  # type: ignore[return-value]
    return "document"


def _window_failure(destination: str) -> Failure:
    return Failure(
        destination=destination,
        code="outside_24h_window",
        message="the customer has not written in the last 24 hours; only a template can be sent (WhatsApp 131047)",
    )


def _rejection(rejected: ProviderRejected, destination: str | None) -> Failure:
    return Failure(destination=destination, code=rejected.code, message=rejected.message)


def _failed_event(command: AnyCommand, failure: Failure) -> MessageFailed:
    return MessageFailed(
        reference=command.reference,
        destination=failure.destination,
        error=FailureReason(code=failure.code, message=failure.message),
        command=command.command,
        bucket=getattr(command, "bucket", None),
        key=getattr(command, "key", None),
    )


def _invalid_command_event(invalid: InvalidCommand) -> MessageFailed:
    return MessageFailed(
        reference=invalid.reference,
        destination=invalid.destination,
        error=FailureReason(code=invalid.code, message=invalid.message),
        command=invalid.command,
    )


def _count_failures(events: list[EventDetail]) -> None:
    """`SendsFailed` by error code, for the `WhatsApp Message Failed` events among those published."""
    codes = Counter(event.error.code for event in events if isinstance(event, MessageFailed))
    for code, failures in codes.items():
        count("SendsFailed", failures, code=code)


def _log_accepted(accepted: list[Accepted]) -> None:
    """One line per accepted command; a single send's provider id as `message_id`, as the callbacks log it."""
    if len(accepted) == 1:
        logger.info("message accepted", extra={"message_id": accepted[0].message_id})
    else:
        logger.info("broadcast accepted", extra={"accepted": len(accepted)})


def ordering_keys(record: SQSRecord) -> list[str]:
    """What a record must not run beside an earlier record of its batch for: the same recipient (or erased contact),
    so a contact's messages go out in the order they were asked for, and the same idempotency key, so a duplicate
    waits for its original's outcome. An invalid command shares nothing."""
    try:
        delivery = parse_delivery(record.body)
    except InvalidCommand:
        return []
    command = delivery.command
    keys = [f"key:{idempotency_key(command, delivery_id=delivery.event_id or record.message_id)}"]
    contact = command.contact if isinstance(command, EraseContactCommand) else _single_destination(command)
    if contact:
        keys.append(f"contact:{contact_key(contact)}")
    return keys


def _single_destination(command: AnyCommand) -> str | None:
    return command.destination if isinstance(command, SendCommand) else None


def _now() -> str:
    return clock.iso(clock.now())


def _check_time_left(lambda_context: Any) -> None:
    if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < MIN_REMAINING_MS:
        raise DependencyFailed("too little time left in this invocation to start the command", code="deferred")


def _lease_until_ms(lambda_context: Any) -> int:
    remaining = lambda_context.get_remaining_time_in_millis() if lambda_context is not None else DEFAULT_REMAINING_MS
    return clock.epoch_ms(clock.now()) + remaining + LEASE_MARGIN_MS
