"""The sender: commands from the send queue to the provider, each done once, retried when that can help, reported when
it fails for good.

Per SQS record (`Sender.handle_record`):
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
pushes the record's visibility timeout out (`wab.retry`) and makes it a batch item failure; SQS moves it to the
dead-letter queue (which alarms) after the queue's maxReceiveCount receipts.

The one gap left: an invocation that dies after the provider accepted a message but before Powertools stored the
outcome leaves the command "in progress" until that invocation's deadline; the retry after it sends again. A read
timeout on a send has the same ambiguity. The provider offers no idempotency key of its own to close it.
"""

from typing import Any, Protocol

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer

from wab import aws, clock, jsoncodec, media
from wab.acceptance import record_accepted
from wab.broadcasts import match_broadcast_answers, split_broadcast
from wab.erasure import contact_erased
from wab.errors import DependencyFailed, GatewayError, InvalidCommand, ProviderRejected
from wab.media import MediaBucket
from wab.models.commands import (
    AnyCommand,
    BroadcastCommand,
    Delivery,
    EraseContactCommand,
    MediaUploadCommand,
    MessageCommand,
    SendCommand,
    fingerprint,
    idempotency_key,
    parse_delivery,
)
from wab.models.events import EventDetail, MediaUploaded, MessageFailed
from wab.observability import count, logger
from wab.outbox import lease_until_ms
from wab.outcomes import (
    Accepted,
    CommandKey,
    Failure,
    Outcome,
    failed_event,
    invalid_command_event,
    rejection,
    window_failure,
)
from wab.provider import BroadcastAnswer, OpenFile, ProviderClient, SendAnswer
from wab.publisher import EventPublisher
from wab.queues import SendQueue
from wab.retry import retry_delay, retry_reason
from wab.settings import SenderSettings
from wab.store import MessageStore
from wab.window import outside_window

IDEMPOTENCY_PREFIX = "IDEMPOTENCY#sender"
DEFAULT_REMAINING_MS = 30_000
MIN_REMAINING_MS = 5000  # a record started later might be cut off by the function timeout; it waits for the next run
RECORD_LOG_KEYS = ("sqs_message_id", "correlation_id", "command", "reference", "idempotency_key")


class Provider(Protocol):
    def send(self, body: dict[str, Any]) -> SendAnswer: ...
    def broadcast(self, body: dict[str, Any]) -> list[BroadcastAnswer]: ...
    def upload_media(self, *, source: str, filename: str, content_type: str, open_file: OpenFile) -> str: ...


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
            remaining_ms = lambda_context.get_remaining_time_in_millis() if lambda_context else DEFAULT_REMAINING_MS
            if remaining_ms < MIN_REMAINING_MS:
                raise DependencyFailed("too little time left in this invocation to start the command", code="deferred")
            self.handle_body(record.body, lease_until=lease_until_ms(remaining_ms), sqs_message_id=record.message_id)
        except Exception as exc:
            self._postpone(record, exc)
            raise
        finally:
            logger.thread_safe_remove_keys(list(RECORD_LOG_KEYS))

    def handle_body(self, body: str, *, lease_until: int, sqs_message_id: str | None = None) -> None:
        try:
            delivery = parse_delivery(body)
        except InvalidCommand as invalid:
            logger.warning("invalid command dropped", extra={"reason": invalid.message})
            self._publish_all([invalid_command_event(invalid)])
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
                destination=command.destination if isinstance(command, SendCommand) else None,
                code="idempotency_key_reused",
                message="an earlier, different command used the same idempotency key (or reference)",
            )
            self._publish_all([failed_event(command, reused)])
            return
        self._complete(delivery, outcome, lease_until)

    # --- step 2: once per command --------------------------------------------------------------------------------

    def _execute(self, *, command_key: CommandKey, command: AnyCommand) -> Outcome:
        logger.debug("doing command")
        if isinstance(command, EraseContactCommand):
            erased = self.store.erase_contact(command.contact)
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
        if outside_window(self.store, self.settings.window_policy, command, [destination]):
            self._report(command, [window_failure(destination)], after_acceptance=False)
            return Outcome(at=_now())
        try:
            answer = self.provider.send(command.provider_body(destination, self._source(command)))
        except ProviderRejected as rejected:
            self._report(command, [rejection(rejected, destination)], after_acceptance=False)
            return Outcome(at=_now())
        return Outcome(at=_now(), accepted=[Accepted(message_id=answer.id, destination=destination)])

    def _broadcast(self, command: BroadcastCommand) -> Outcome:
        if len(command.destination) > self.settings.broadcast_chunk_size:
            chunks = split_broadcast(command, self.settings.broadcast_chunk_size)
            self.queue.put([jsoncodec.encode(chunk.wire()) for chunk in chunks])
            logger.info(
                "broadcast split into chunks", extra={"chunks": len(chunks), "recipients": len(command.destination)}
            )
            count("BroadcastChunks", len(chunks))
            return Outcome(at=_now(), chunks=len(chunks))
        outside = outside_window(self.store, self.settings.window_policy, command, command.destination)
        failures = [window_failure(destination) for destination in command.destination if destination in outside]
        recipients = [destination for destination in command.destination if destination not in outside]
        if not recipients:
            self._report(command, failures, after_acceptance=False)
            return Outcome(at=_now())
        try:
            answers = self.provider.broadcast(command.provider_body(recipients, self._source(command)))
        except ProviderRejected as rejected:
            self._report(command, failures + [rejection(rejected, each) for each in recipients], after_acceptance=False)
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
        content_type = media.content_type(stored.content_type, command.key)
        kind = command.kind or media.kind_of(content_type)
        if problem := media.too_large(kind, stored.length):
            self._report(command, [Failure(code="media_too_large", message=problem)], after_acceptance=False)
            return Outcome(at=_now())
        try:
            media_id = self.provider.upload_media(
                source=self._source(command),
                filename=command.key.rsplit("/", 1)[-1],
                content_type=content_type,
                open_file=self.media.opener(command.bucket, command.key),
            )
        except ProviderRejected as rejected:
            self._report(command, [rejection(rejected, None)], after_acceptance=False)
            return Outcome(at=_now())
        uploaded = MediaUploaded(
            media_id=media_id,
            source=self._source(command),
            bucket=command.bucket,
            key=command.key,
            reference=command.reference,
        )
        # Published here, not at completion: a retry after a failed publish uploads again (harmless), while an
        # event published twice could make a consumer send the media twice.
        self._publish_all([uploaded])
        count("MediaUploaded")
        return Outcome(at=_now(), media_id=media_id)

    def _report(self, command: AnyCommand, failures: list[Failure], *, after_acceptance: bool) -> list[Failure]:
        """Publish failures now. Before anything was accepted a publishing failure raises (the retry starts afresh);
        after, raising would send again, so what did not go out is returned for completion to publish."""
        if not failures:
            return []
        if not after_acceptance:
            self._publish_all([failed_event(command, failure) for failure in failures])
            return []
        events = dict(enumerate(failed_event(command, failure) for failure in failures))
        unpublished = self.publisher.publish(events)
        _count_failures([event for index, event in events.items() if index not in unpublished])
        return [failure for index, failure in enumerate(failures) if index in unpublished]

    # --- step 3: completion, repeatable ------------------------------------------------------------------------

    def _complete(self, delivery: Delivery, outcome: Outcome, lease_until: int) -> None:
        command = delivery.command
        if outcome.accepted and isinstance(command, MessageCommand):
            record_accepted(
                self.store,
                self.publisher,
                command,
                outcome.accepted,
                source=self._source(command),
                at=outcome.at,
                retention_days=self.settings.retention_days,
                lease_until=lease_until,
            )
        if outcome.unreported:
            self._publish_all([failed_event(command, failure) for failure in outcome.unreported])
        if isinstance(command, EraseContactCommand) and outcome.records_erased is not None:
            erased = contact_erased(
                command, records_erased=outcome.records_erased, at=outcome.at, requested_by=delivery.requested_by
            )
            self._publish_all([erased])
            logger.info("contact erased", extra=erased.model_dump(include={"contact_hash", "records_erased"}))

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _source(self, command: MessageCommand | MediaUploadCommand) -> str:
        return command.source or self.settings.business_number

    def _publish_all(self, events: list[EventDetail]) -> None:
        self.publisher.publish_all(events)
        _count_failures(events)

    def _postpone(self, record: SQSRecord, error: Exception) -> None:
        receive_count = int(record.attributes.approximate_receive_count or 1)
        delay = retry_delay(receive_count, getattr(error, "retry_after", None))
        reason = retry_reason(error)
        details = {"receive_count": receive_count, "retry_in_seconds": delay, "error": reason}
        if isinstance(error, GatewayError):
            logger.warning("command will be retried", extra={**details, "reason": error.message})
        elif reason == "in_progress":
            logger.warning("the same command is being done by another invocation; retrying later", extra=details)
        else:
            logger.exception("command failed unexpectedly; it will be retried", extra=details)
        count("SendRetries", reason=reason)
        try:
            self.queue.postpone(record.receipt_handle, delay)
        except DependencyFailed:
            logger.warning("could not delay the retry; the queue's visibility timeout applies")


def _count_failures(events: list[EventDetail]) -> None:
    """`SendsFailed` by error code, for the `WhatsApp Message Failed` events among those published."""
    codes: dict[str, int] = {}
    for event in events:
        if isinstance(event, MessageFailed):
            codes[event.error.code] = codes.get(event.error.code, 0) + 1
    for code, failures in codes.items():
        count("SendsFailed", failures, code=code)


def _log_accepted(accepted: list[Accepted]) -> None:
    """One line per accepted command; a single send's provider id as `message_id`, as the callbacks log it."""
    if len(accepted) == 1:
        logger.info("message accepted", extra={"message_id": accepted[0].message_id})
    else:
        logger.info("broadcast accepted", extra={"accepted": len(accepted)})


def _now() -> str:
    return clock.iso(clock.now())
