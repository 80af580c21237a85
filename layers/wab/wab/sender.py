"""The sender: commands from the send lanes to the provider, each done once, paced to its number's rate, retried
within its window when that can help, reported when it fails for good.

Per lane message (`Sender.handle_record`; a batch's messages run side by side, one message group's in order,
`wab.batch`):
1. A message that crashed the sender `CRASH_LIMIT` times goes to the dead-letter queue, reported first (`wab.retry`).
2. Do the command once (`_execute`, under Powertools idempotency on the messages table, keyed by the command's
   idempotency key, or its request's delivery, and checked against its fingerprint). Before calling the provider it
   waits for its departure from the number's rate budget (`wab.pacing`). Whatever can be reported without a provider
   acceptance (window refusals, permanent rejections, uploaded media) is published inside this step, so a replay
   publishes nothing again; a failure inside it forgets the attempt (Powertools deletes the record), so the retry
   starts afresh.
3. Complete the outcome (`_complete`): the MT records and `WhatsApp Message Accepted` events, through the outbox, so
   each event goes out once however often completion runs. Another request with the same idempotency key gets the
   stored outcome published again, marked `repeat` (`_repeat`): a suppressed duplicate is never silent.

An erasure (`erase_contact`) takes the same path: step 2 deletes the contact's records and stores how many went;
step 3 publishes `WhatsApp Contact Erased` with that count.

A Step Functions task waiting on a send (`task_token`, `wab.waits`) begins its wait with the record in step 3; when
the command fails instead (reported in step 2, refused, given up, dead-lettered) its task is told the failure's code,
at every completion: Step Functions refuses all but the first answer.

A failure that may pass puts the message back with backoff (`wab.retry`) as a batch item failure; the messages behind
it in its group are put back too, unstarted, so they keep their order. Once the retry window has passed, the command
is reported as `retry_window_exceeded` with its last error. When the budget has no room soon enough, the message
is put back for as long as the budget needs (`Deferred`): that is pacing, not a failure.

The one gap left: an invocation that dies after the provider accepted a message but before Powertools stored the
outcome leaves the command "in progress" until that invocation's deadline; the retry after it sends again. A read
timeout on a send has the same ambiguity. The provider offers no idempotency key of its own to close it.
"""

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Protocol

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemNotFoundError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from wab import aws, clock, lanes, media
from wab.acceptance import PARKED_KEY, record_accepted
from wab.batch import message_group
from wab.broadcasts import match_broadcast_answers
from wab.catalogue import REJECTION_CODES, Catalogue
from wab.erasure import contact_erased
from wab.errors import DependencyFailed, GatewayError, InvalidCommand, ProviderRejected, ProviderUnavailable
from wab.lanes import Request, lane_for
from wab.media import MediaBucket, MediaForbidden
from wab.models.commands import (
    AnyCommand,
    BroadcastCommand,
    EraseContactCommand,
    MediaUploadCommand,
    MessageCommand,
    SendCommand,
    fingerprint,
    idempotency_key,
    part_of,
)
from wab.models.events import EventDetail
from wab.models.events.contacts import ContactOptedOut
from wab.models.events.sending import MediaUploaded, MessageAccepted, MessageParked, TemplateRejected
from wab.models.outbound.template import TemplateContent
from wab.models.types import contact_hash
from wab.observability import count, crash_details, logger
from wab.optouts import OptOuts
from wab.outbox import lease_until_ms
from wab.outcomes import (
    WINDOW_CLOSED,
    Accepted,
    CommandKey,
    ErasedParked,
    Failure,
    Outcome,
    Parked,
    count_failures,
    crashed,
    erased_parked_event,
    failed_event,
    invalid_command_event,
    rejection,
    window_exceeded,
)
from wab.pacing import Deferred, RateBudget
from wab.parking import Parking, ParkingFull, park_id_for
from wab.provider import BroadcastAnswer, OpenFile, ProviderClient, SendAnswer
from wab.publisher import EventPublisher
from wab.queues import DeadLetterQueue, Queue, WaitQueue
from wab.retry import CRASH_LIMIT, Attempts
from wab.screening import Screen
from wab.settings.sender import SenderSettings
from wab.store import MessageStore
from wab.waiting import Waits, message_gone
from wab.waits import failure_answer, tell

IDEMPOTENCY_PREFIX = "IDEMPOTENCY#sender"
DEFAULT_REMAINING_MS = 30_000
MIN_REMAINING_MS = 5000  # a record started later might be cut off by the function timeout; it waits for the next run
STOPPED_MARKETING = "131050"  # WhatsApp: the user has stopped marketing messages
# WhatsApp's refusals that concern one recipient (undeliverable, window closed, stopped marketing, the sender itself,
# not an allowed test number): a broadcast call refused with one of them is split until the recipient is found.
RECIPIENT_CODES = frozenset({"131026", "131047", "131050", "131021", "131030"})
THROTTLED = "throttled"  # the provider's 429 or 130429 (`wab.provider`): the number's throughput, not a pair's
MAX_PACING_WAIT_MS = 10_000  # longer than this, a message goes back to its lane rather than wait in the invocation
RECORD_LOG_KEYS = ("sqs_message_id", "correlation_id", "command", "reference", "idempotency_key")


class Provider(Protocol):
    def send(self, body: dict[str, Any], *, deadline: float | None = None) -> SendAnswer: ...
    def broadcast(self, body: dict[str, Any], *, deadline: float | None = None) -> list[BroadcastAnswer]: ...
    def upload_media(
        self, *, source: str, filename: str, content_type: str, open_file: OpenFile, deadline: float | None = None
    ) -> str: ...


class Sender:
    def __init__(
        self,
        settings: SenderSettings,
        *,
        store: MessageStore,
        publisher: EventPublisher,
        provider: Provider,
        media: MediaBucket,
        budget: RateBudget,
        attempts: Attempts,
        dead_letters: DeadLetterQueue,
        screen: Screen,
        parking: Parking,
        waits: Waits,
    ):
        self.settings = settings
        self.waits = waits
        self.screen = screen
        self.parking = parking
        self.store = store
        self.publisher = publisher
        self.provider = provider
        self.media = media
        self.budget = budget
        self.attempts = attempts
        self.dead_letters = dead_letters
        self.retry = settings.retry_policy()
        self.lanes = {"priority": Queue(settings.priority_lane_url), "bulk": Queue(settings.bulk_lane_url)}
        self._remaining = threading.local()  # this record's invocation deadline, for the pacing wait
        self.idempotency = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="fingerprint",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=settings.idempotency_days * 86400,
        )
        self._persistence = persistence = DynamoDBPersistenceLayer(
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
            publisher=EventPublisher(settings.event_bus_name, settings.counters()),
            provider=ProviderClient(settings.provider_secret_arn, secret_max_age=settings.secret_max_age_seconds),
            media=MediaBucket(frozenset(filter(None, settings.media_buckets.split(",")))),
            budget=RateBudget(settings.table_name, settings.rate_policy),
            attempts=Attempts(settings.table_name, now=time.time),
            dead_letters=DeadLetterQueue(settings.dead_letter_queue_url),
            screen=Screen(
                MessageStore(settings.table_name),
                Catalogue(settings.table_name),
                OptOuts(settings.table_name),
                template_policy=settings.template_policy,
                window_policy=settings.window_policy,
            ),
            parking=Parking(settings.table_name, timer_queue_url=settings.parking_queue_url),
            waits=Waits(
                MessageStore(settings.table_name),
                EventPublisher(settings.event_bus_name),
                queue=WaitQueue(settings.wait_queue_url),
                retention_days=settings.retention_days,
                retry_window_seconds=settings.send_retry_window_minutes * 60,
            ),
        )

    # --- one lane batch ----------------------------------------------------------------------------------------

    @contextmanager
    def batch(self, event: dict[str, Any], lambda_context: Any = None) -> Iterator[None]:
        """Around one lane batch: the rate units of its single sends taken in one write per number before its
        records run (`RateBudget.prefetch`), and the units they did not use let go after."""
        try:
            try:
                self._prefetch(event.get("Records") or [], lambda_context)
            except Exception as exc:  # a saving only: whatever goes wrong, each send takes its own unit as it goes
                logger.warning("could not take a batch's rate units at once", extra={"error": type(exc).__name__})
            yield
        finally:
            self.budget.forget_prefetched()

    def _prefetch(self, records: list[dict[str, Any]], lambda_context: Any) -> None:
        """One unit for the first single send of each message group: those run side by side at once (`wab.batch`);
        a later one of a group runs after the sends before it, and takes its unit when it goes."""
        if len(records) <= 1:
            return
        groups: set[str] = set()
        wanted: Counter[str] = Counter()
        for record in map(SQSRecord, records):
            group = message_group(record)
            request = _readable(record.body or "")
            if group in groups or request is None:
                continue
            groups.add(group)
            if isinstance(request.command, SendCommand) and lane_for(request.command) == "priority":
                wanted[self._source(request.command)] += 1
        remaining_ms = lambda_context.get_remaining_time_in_millis() if lambda_context else DEFAULT_REMAINING_MS
        max_wait = max(0, min(MAX_PACING_WAIT_MS, remaining_ms - MIN_REMAINING_MS))
        for number, units in wanted.items():
            if units < 2:
                continue  # nothing to save: the send takes its own unit
            self.budget.prefetch(number, units, "priority", max_wait_ms=max_wait)

    # --- one lane message --------------------------------------------------------------------------------------

    def handle_record(self, record: SQSRecord, lambda_context: Any = None) -> None:
        """The batch processor's record handler: raising makes the record a batch item failure.

        Every log line about the record, its retry included, carries `sqs_message_id` and `correlation_id` and, once
        the command is read, `command`, `reference` and `idempotency_key`; they are removed when the record is done.
        """
        if lambda_context is not None:
            self.idempotency.register_lambda_context(lambda_context)  # "in progress" lasts until this deadline
        # The records of a batch run in threads side by side (wab.batch): their log keys belong to their thread.
        logger.thread_safe_append_keys(sqs_message_id=record.message_id, correlation_id=record.message_id)
        lane = self._lane_of(record)
        receive_count = int(record.attributes.approximate_receive_count or 1)
        try:
            if receive_count > 1 and self.attempts.start(lane, record.message_id) >= CRASH_LIMIT:
                self._dead_letter(record, lane)
                return
            remaining_ms = lambda_context.get_remaining_time_in_millis() if lambda_context else DEFAULT_REMAINING_MS
            if remaining_ms < MIN_REMAINING_MS:
                raise Deferred(1000)
            self._remaining.deadline_ms = clock.epoch_ms(clock.now()) + remaining_ms - MIN_REMAINING_MS
            self._remaining.provider_deadline = time.monotonic() + (remaining_ms - MIN_REMAINING_MS) / 1000
            self.handle_body(record.body, lease_until=lease_until_ms(remaining_ms))
        except Exception as exc:
            self._retry_or_give_up(record, lane, exc)
        finally:
            logger.thread_safe_remove_keys(list(RECORD_LOG_KEYS))

    def release(self, record: SQSRecord) -> None:
        """Put back, unstarted and at once, a record behind a failed one of its group: SQS hands it out again only
        after the failed one, so the group keeps its order."""
        lane = self._lane_of(record)
        try:
            if int(record.attributes.approximate_receive_count or 1) > 1:
                self.attempts.conclude(lane, record.message_id)
            self.lanes[lane].postpone(record.receipt_handle, 0)
        except DependencyFailed:
            logger.warning("could not put a record back; the lane's visibility timeout applies")

    def handle_body(self, body: str, *, lease_until: int) -> None:
        try:
            request = lanes.read(body)
        except InvalidCommand as invalid:
            logger.warning("invalid command dropped", extra={"reason": invalid.message})
            if invalid.task_token:
                tell(failure_answer(invalid.task_token, invalid.code, invalid.message), self.waits.answering)
            self._publish_all([invalid_command_event(invalid)])
            return
        command = request.command
        key = _command_key(request)
        logger.thread_safe_append_keys(
            command=command.command,
            reference=command.reference,
            idempotency_key=key.key,
            correlation_id=request.delivery_id,
        )
        try:
            outcome = self._execute_once(command_key=key, request=request)
        except IdempotencyValidationError:
            reused = Failure(
                destination=command.destination if isinstance(command, SendCommand) else None,
                code="idempotency_key_reused",
                message="an earlier, different command used the same idempotency key",
            )
            self._tell(command, [reused])
            self._publish_all([failed_event(command, reused)])
            return
        if outcome.delivery_id not in (None, request.delivery_id):
            self._repeat(request, outcome, lease_until)
        else:
            self._complete(request, outcome, lease_until)

    # --- step 2: once per command --------------------------------------------------------------------------------

    def _execute(self, *, command_key: CommandKey, request: Request) -> Outcome:
        logger.debug("doing command")
        command = request.command
        if isinstance(command, EraseContactCommand):
            parked = self.parking.parked(command.contact)  # erased with the contact's item: their requesters are told
            erased = self.store.erase_contact(command.contact, now=int(clock.now().timestamp()))
            count("ContactsErased")
            for wait in erased.waiting:  # told now, not at the wait's next look
                with contextlib.suppress(DependencyFailed):  # that look tells it then
                    tell(message_gone(wait.task_token, wait.wait_for), self.waits.answering)
            outcome = Outcome(
                at=_now(),
                records_erased=erased.records,
                parked_erased=[
                    ErasedParked(reference=entry.command.get("reference"), idempotency_key=entry.requested_key)
                    for entry in parked
                ],
            )
        elif isinstance(command, MediaUploadCommand):
            outcome = self._upload(command)
        elif isinstance(command, SendCommand | BroadcastCommand):
            outcome = (
                self._send(command, command_key.key)
                if isinstance(command, SendCommand)
                else self._broadcast(command, request)
            )
            if outcome.accepted:
                count("SendsAccepted", len(outcome.accepted))
                _log_accepted(outcome.accepted)
        else:  # the intake carries out catalogue updates itself; nothing else reaches a lane
            raise InvalidCommand(f"{command.command} is not a command the sender carries out")
        return outcome.model_copy(update={"delivery_id": request.delivery_id})

    def _send(self, command: SendCommand, key: str) -> Outcome:
        destination = command.destination
        recipients, failures = self.screen.admit(command, [destination])
        if not recipients and command.fallback_template and [f.code for f in failures] == [WINDOW_CLOSED]:
            return self._fall_back(command, key)
        if not recipients:
            return self._report(command, failures)
        self._wait_for_departure(command, 1)
        try:
            answer = self.provider.send(
                command.provider_body(destination, self._source(command)), deadline=self._provider_deadline()
            )
        except ProviderRejected as rejected:
            self._learn_from(rejected, command, [destination])
            return self._report(command, [rejection(rejected, destination)])
        return Outcome(at=_now(), accepted=[Accepted(message_id=answer.id, destination=destination)])

    def _fall_back(self, command: SendCommand, key: str) -> Outcome:
        """The window is closed: park the message (first, so that a retry never sends the template twice), then send
        its fallback template. A template that is refused takes the message off the parking again."""
        destination, fallback = command.destination, command.fallback()
        recipients, failures = self.screen.admit(fallback, [destination])
        if not recipients:
            return self._report(command, failures)
        park_id = park_id_for(key)
        until = clock.now() + timedelta(hours=self.settings.parked_message_hours)
        expires_at = int(clock.now().timestamp()) + self.settings.retention_days * 86400
        try:
            self.parking.park(destination, command, park_id=park_id, until=until, expires_at=expires_at)
        except ParkingFull as full:
            return self._report(command, [Failure(destination=destination, code="parking_full", message=str(full))])
        self._wait_for_departure(fallback, 1)
        try:
            answer = self.provider.send(
                fallback.provider_body(destination, self._source(command)), deadline=self._provider_deadline()
            )
        except ProviderRejected as rejected:
            self._learn_from(rejected, fallback, [destination])
            self.parking.unpark(destination, park_id)
            return self._report(command, [rejection(rejected, destination)])
        count("MessagesParked")
        parked = Parked(park_id=park_id, parked_until=clock.iso(until))
        return Outcome(at=_now(), accepted=[Accepted(message_id=answer.id, destination=destination)], parked=parked)

    def _broadcast(self, command: BroadcastCommand, request: Request) -> Outcome:
        recipients, failures = self.screen.admit(command, command.destination)
        if not recipients:
            return self._report(command, failures)
        self._wait_for_departure(command, len(recipients))
        try:
            answers = self.provider.broadcast(
                command.provider_body(recipients, self._source(command)), deadline=self._provider_deadline()
            )
        except ProviderRejected as rejected:
            if rejected.code in RECIPIENT_CODES and len(recipients) > 1:
                return self._split(
                    command, request, recipients, failures, f"refused for one recipient ({rejected.code})"
                )
            self._learn_from(rejected, command, recipients)
            return self._report(command, failures + [rejection(rejected, each) for each in recipients])
        except ProviderUnavailable as throttled:
            # A provider that counts a call's recipients against a rate below this number's configured one refuses
            # the whole chunk every time: retried whole it would never pass. Smaller calls can.
            if throttled.code != THROTTLED or len(recipients) < 2:
                raise
            return self._split(command, request, recipients, failures, f"throttled as a whole ({throttled.code})")
        accepted, unaccepted = match_broadcast_answers(recipients, answers)
        outcome = Outcome(at=_now(), accepted=accepted)
        if failures + unaccepted:
            # After an acceptance a publishing failure must not raise (the retry would send again): what did not go
            # out is kept for completion to publish.
            events = dict(enumerate(failed_event(command, failure) for failure in failures + unaccepted))
            unpublished = self.publisher.publish(events)
            count_failures([event for index, event in events.items() if index not in unpublished])
            outcome.reported = [f for index, f in enumerate(failures + unaccepted) if index not in unpublished]
            outcome.unreported = [f for index, f in enumerate(failures + unaccepted) if index in unpublished]
        return outcome

    def _split(
        self, command: BroadcastCommand, request: Request, recipients: list[str], failures: list[Failure], why: str
    ) -> Outcome:
        """The provider refused a call to many as a whole: for one recipient's sake without saying whose, or because
        the call was more than its rate takes at once. The recipients go back to the bulk lane in two halves, each a
        `part` of this command (so a retry puts the same halves), until the call that is refused is to that recipient
        alone, or small enough to pass. Nothing was sent: if the halves cannot be queued, this command is retried
        whole. The outcome keeps the halves, so a repeat of this command has them tell theirs again."""
        middle = len(recipients) // 2
        halves = [recipients[:middle], recipients[middle:]]
        self._put_halves(command, request, halves)
        logger.info(f"broadcast call {why}; split in two")
        outcome = self._report(command, failures) if failures else Outcome(at=_now())
        outcome.halves = halves
        return outcome

    def _put_halves(self, command: BroadcastCommand, request: Request, halves: list[list[str]]) -> None:
        parts = [
            command.model_copy(update={"destination": half, **part_of(command, f"#split-{number}")})
            for number, half in enumerate(halves, start=1)
        ]
        entries = [lanes.entry(request._replace(command=part), "bulk", part=part.part or "") for part in parts]
        if lanes.LaneQueues({"bulk": self.settings.bulk_lane_url}).put(entries) is not None:
            raise DependencyFailed("SQS did not take a broadcast's halves")

    def _upload(self, command: MediaUploadCommand) -> Outcome:
        try:
            stored = self.media.head(command.bucket, command.key)
        except MediaForbidden as forbidden:
            return self._report(command, [Failure(code="media_forbidden", message=str(forbidden))])
        if stored is None:
            failure = Failure(code="media_not_found", message=f"no object s3://{command.bucket}/{command.key}")
            return self._report(command, [failure])
        content_type = media.content_type(stored.content_type, command.key)
        kind = command.kind or media.kind_of(content_type)
        if refused := media.refusal(kind, content_type, stored.length):
            code, reason = refused
            return self._report(command, [Failure(code=code, message=reason)])
        try:
            media_id = self.provider.upload_media(
                source=self._source(command),
                filename=command.key.rsplit("/", 1)[-1],
                content_type=content_type,
                open_file=self.media.opener(command.bucket, command.key),
                deadline=self._provider_deadline(),
            )
        except ProviderRejected as rejected:
            return self._report(command, [rejection(rejected, None)])
        # Published here, not at completion: a retry after a failed publish uploads again (harmless), while an
        # event published twice could make a consumer send the media twice.
        self._publish_all([self._uploaded(command, media_id)])
        count("MediaUploaded")
        return Outcome(at=_now(), media_id=media_id)

    def _provider_deadline(self) -> float | None:
        """When this record's provider call must be over (`time.monotonic()`): before its invocation ends."""
        return getattr(self._remaining, "provider_deadline", None)

    def _wait_for_departure(self, command: MessageCommand, units: int) -> None:
        """Take the units from the number's budget and wait until they may leave (`wab.pacing`)."""
        deadline = getattr(self._remaining, "deadline_ms", None) or clock.epoch_ms(clock.now()) + MAX_PACING_WAIT_MS
        max_wait = max(0, min(MAX_PACING_WAIT_MS, deadline - clock.epoch_ms(clock.now())))
        departures = self.budget.take(self._source(command), units, lane_for(command), max_wait_ms=max_wait)
        pause = departures[-1] / 1000 - time.time()
        if pause > 0:
            time.sleep(pause)

    def _learn_from(self, rejected: ProviderRejected, command: MessageCommand, recipients: list[str]) -> None:
        """What the provider's refusal teaches: a template WhatsApp does not have or approve is marked rejected in the
        catalogue; a contact who stopped marketing (131050) is recorded as opted out, when the call was to that contact
        alone. Each published once."""
        at = _now()
        events: list[EventDetail] = []
        if rejected.code in REJECTION_CODES and isinstance(command.message, TemplateContent):
            template = command.message.template
            if self.screen.catalogue.mark_rejected(template.name, template.language.code, command.category):
                events.append(
                    TemplateRejected(
                        name=template.name,
                        language=template.language.code,
                        code=rejected.code,
                        message=rejected.message,
                        rejected_at=at,
                    )
                )
        if rejected.code == STOPPED_MARKETING and len(recipients) == 1:  # of a call to many, which one cannot be known
            for each in recipients:
                if self.screen.optouts.record(each, opted_out=True, reason=rejected.code, at=at):
                    events.append(
                        ContactOptedOut(contact_hash=contact_hash(each), destination=each, reason=rejected.code, at=at)
                    )
        if events:
            self.publisher.publish_all(events)

    def _report(self, command: AnyCommand, failures: list[Failure]) -> Outcome:
        """Publish failures found before anything was accepted; a publishing failure raises, so the retry starts
        afresh."""
        self._publish_all([failed_event(command, failure) for failure in failures])
        return Outcome(at=_now(), reported=failures)

    # --- step 3: completion, repeatable ------------------------------------------------------------------------

    def _complete(self, request: Request, outcome: Outcome, lease_until: int) -> None:
        command = request.command
        if outcome.accepted and isinstance(command, MessageCommand):
            sent, parked = command, None
            if outcome.parked and isinstance(command, SendCommand):  # what went is the fallback template
                sent, parked = command.fallback(), self._parked_event(command, outcome)
            record_accepted(
                self.store,
                self.publisher,
                sent,
                outcome.accepted,
                source=self._source(command),
                at=outcome.at,
                retention_days=self.settings.retention_days,
                lease_until=lease_until,
                also={PARKED_KEY: parked} if parked else None,
                waits=self.waits,
            )
        if outcome.unreported:
            self._publish_all([failed_event(command, failure) for failure in outcome.unreported])
        if not outcome.accepted:
            self._tell(command, outcome.reported + outcome.unreported)
        if isinstance(command, EraseContactCommand) and outcome.records_erased is not None:
            erased = contact_erased(
                command, records_erased=outcome.records_erased, at=outcome.at, requested_by=request.requested_by
            )
            self._publish_all([erased, *map(erased_parked_event, outcome.parked_erased)])
            logger.info("contact erased", extra=erased.model_dump(include={"contact_hash", "records_erased"}))

    def _parked_event(self, command: SendCommand, outcome: Outcome) -> MessageParked:
        assert outcome.parked is not None and outcome.accepted
        return MessageParked(
            park_id=outcome.parked.park_id,
            reference=command.reference,
            destination=command.destination,
            fallback_message_id=outcome.accepted[0].message_id,
            parked_at=outcome.at,
            parked_until=outcome.parked.parked_until,
            idempotency_key=command.idempotency_key,
        )

    def _repeat(self, request: Request, outcome: Outcome, lease_until: int) -> None:
        """Another request with an idempotency key already used: its command's outcome, published again as a repeat.

        Its task, if one waits on it, is told the failure again, or takes over the wait on the message sent."""
        command = request.command
        if isinstance(command, SendCommand) and (wait := command.wait) is not None and outcome.accepted:
            self.waits.rewait(outcome.accepted[0].message_id, wait, lease_until=lease_until)
        elif not outcome.accepted:
            self._tell(command, outcome.reported + outcome.unreported)
        events: list[EventDetail] = [
            failed_event(command, failure, repeat=True) for failure in outcome.reported + outcome.unreported
        ]
        if isinstance(command, MessageCommand):
            source = self._source(command)
            events += [
                MessageAccepted(
                    message_id=one.message_id,
                    reference=command.reference,
                    destination=one.destination,
                    source=source,
                    type="template" if outcome.parked else command.message.type,
                    idempotency_key=command.idempotency_key,
                    repeat=True,
                )
                for one in outcome.accepted
            ]
            if outcome.parked and isinstance(command, SendCommand):
                events.append(self._parked_event(command, outcome).model_copy(update={"repeat": True}))
        if isinstance(command, MediaUploadCommand) and outcome.media_id:
            events.append(self._uploaded(command, outcome.media_id, repeat=True))
        if isinstance(command, EraseContactCommand) and outcome.records_erased is not None:
            events.append(
                contact_erased(
                    command, records_erased=outcome.records_erased, at=outcome.at, requested_by=request.requested_by
                ).model_copy(update={"repeat": True})
            )
        if isinstance(command, BroadcastCommand) and outcome.halves:
            self._put_halves(command, request, outcome.halves)  # each half is a repeat too, and tells its outcome
        logger.info("repeated command: its outcome published again", extra={"events": len(events)})
        self.publisher.publish_all(events)

    # --- retries -------------------------------------------------------------------------------------------------

    def _retry_or_give_up(self, record: SQSRecord, lane: str, error: Exception) -> None:
        """Put the record back for a later attempt (raising, so it is a batch item failure), or, when its retry
        window has passed, report it as failed and let it go."""
        receive_count = int(record.attributes.approximate_receive_count or 1)
        reason = _retry_reason(error)
        if isinstance(error, Deferred):
            delay = max(1, round(error.retry_after or 1))
        else:
            delay = self.retry.delay(receive_count, getattr(error, "retry_after", None))
            request = _readable(record.body)
            now_ms = clock.epoch_ms(clock.now())
            if (
                request
                and self.retry.exhausted(request.requested_at_ms, now_ms, delay)
                and self._give_up(request, reason, error)
            ):
                return
        details = {"receive_count": receive_count, "retry_in_seconds": delay, "error": reason}
        if isinstance(error, ProviderUnavailable):  # its text is the provider's, which may echo customer data
            logger.warning("command will be retried", extra=details)
        elif isinstance(error, GatewayError):
            logger.warning("command will be retried", extra={**details, "reason": error.message})
        elif reason == "in_progress":
            logger.warning("the same command is being done by another invocation; retrying later", extra=details)
        else:  # a bug: counted as a crash (the attempt is not concluded), so one that always happens is dead-lettered
            logger.error("command crashed the sender; it will be retried", extra={**details, **crash_details(error)})
        count("SendRetries", reason=reason)
        try:
            if receive_count > 1 and reason != "unexpected":
                self.attempts.conclude(lane, record.message_id)
            self.lanes[lane].postpone(record.receipt_handle, delay)
        except DependencyFailed:
            logger.warning("could not delay the retry; the lane's visibility timeout applies")
        raise error

    def _give_up(self, request: Request, reason: str, error: Exception) -> bool:
        """Report a command still failing when its retry window ended; False when even that cannot be published."""
        command = request.command
        events = [failed_event(command, window_exceeded(reason, error, each)) for each in _destinations(command)]
        try:
            if isinstance(command, SendCommand) and command.fallback_template:  # it may have been parked: not now
                key = idempotency_key(command, delivery_id=request.delivery_id)
                self.parking.unpark(command.destination, park_id_for(key))
            self._tell(command, [window_exceeded(reason, error)])
            self._publish_all(list(events))
        except DependencyFailed:
            return False
        logger.warning("command given up: its retry window has passed", extra={"error": reason})
        return True

    def _dead_letter(self, record: SQSRecord, lane: str) -> None:
        """A message that crashed the sender `CRASH_LIMIT` times: reported, then moved to the dead-letter queue. A
        message the provider took before the crash (its record could not be written) is reported as accepted, by its
        id, not as never sent."""
        if (request := _readable(record.body)) is not None:
            accepted = self._accepted_before(request)
            self._tell(request.command, [crashed(accepted_as=next(iter(accepted.values()), None))])
            self._publish_all(
                [
                    failed_event(request.command, crashed(each, accepted.get(each)))
                    for each in _destinations(request.command)
                ]
            )
        self.dead_letters.put(record.body, queue=lane, message_id=record.message_id, reason="unprocessable")
        logger.error("command moved to the dead-letter queue after repeated crashes", extra={"lane": lane})

    def _accepted_before(self, request: Request) -> dict[str | None, str]:
        """The provider's message ids by destination for what it accepted of this command, as its completed
        idempotency record keeps them; none when the command did not get that far (or cannot be looked up)."""
        self._persistence.configure(self.idempotency, key_prefix=IDEMPOTENCY_PREFIX)
        try:
            stored = self._persistence.get_record(_command_key(request).model_dump())
            if stored is None or stored.status != "COMPLETED" or not stored.response_data:
                return {}
            outcome = Outcome.model_validate_json(stored.response_data)
        except (IdempotencyItemNotFoundError, IdempotencyValidationError, ValidationError, BotoCoreError, ClientError):
            return {}
        return {one.destination: one.message_id for one in outcome.accepted}

    # --- plumbing ----------------------------------------------------------------------------------------------

    def _lane_of(self, record: SQSRecord) -> str:
        queue_name = (record.event_source_arn or "").rsplit(":", 1)[-1]
        for lane, queue in self.lanes.items():
            if queue.url.rstrip("/").rsplit("/", 1)[-1] == queue_name:
                return lane
        return "priority"

    def _source(self, command: MessageCommand | MediaUploadCommand) -> str:
        return command.source or self.settings.business_number

    def _uploaded(self, command: MediaUploadCommand, media_id: str, *, repeat: bool = False) -> MediaUploaded:
        return MediaUploaded(
            media_id=media_id,
            source=self._source(command),
            bucket=command.bucket,
            key=command.key,
            reference=command.reference,
            repeat=repeat or None,
        )

    def _tell(self, command: AnyCommand, failures: list[Failure]) -> None:
        """A task waiting on a command that failed is told the first failure's code (a single send has one)."""
        request = command.wait if isinstance(command, SendCommand) else None
        if request is None or not failures:
            return
        [failure, *_] = failures
        cause = failure.task_cause or failure.message
        answer = failure_answer(request.task_token, failure.code, cause, wait_for=request.wait_for)
        tell(answer, self.waits.answering)

    def _publish_all(self, events: list[EventDetail]) -> None:
        self.publisher.publish_all(events)
        count_failures(events)


def _command_key(request: Request) -> CommandKey:
    command, delivery_id = request.command, request.delivery_id
    return CommandKey(
        key=idempotency_key(command, delivery_id=delivery_id),
        fingerprint=fingerprint(command, delivery_id=delivery_id),
    )


def _destinations(command: AnyCommand) -> list[str | None]:
    """Whom a command's failure is reported for: each recipient of a broadcast, the one of a send, else nobody."""
    if isinstance(command, BroadcastCommand):
        return list(command.destination)
    return [command.destination if isinstance(command, SendCommand) else None]


def _readable(body: str) -> Request | None:
    try:
        return lanes.read(body)
    except InvalidCommand:
        return None


def _retry_reason(error: Exception) -> str:
    """What a retry is counted and logged as: the domain error's code, `in_progress`, or `unexpected`."""
    if isinstance(error, GatewayError):
        return error.code
    if isinstance(error, IdempotencyAlreadyInProgressError):
        return "in_progress"
    return "unexpected"


def _log_accepted(accepted: list[Accepted]) -> None:
    """One line per accepted command; a single send's provider id as `message_id`, as the callbacks log it."""
    if len(accepted) == 1:
        logger.info("message accepted", extra={"message_id": accepted[0].message_id})
    else:
        logger.info("broadcast accepted", extra={"accepted": len(accepted)})


def _now() -> str:
    return clock.iso(clock.now())
