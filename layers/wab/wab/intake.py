"""The intake: requests from the send queue, checked and routed onto the send lanes, in the order they came.

The send queue is a FIFO queue. The bus rules put every request in one message group, so requests are taken in the
order the bus delivered them; a service sending straight to the queue chooses its own group (its contact, say). Per
request, in order:
1. An invalid command, or one naming a business number that is not configured, is reported as `WhatsApp Message
   Failed` (`invalid_command`) at once and goes no further.
2. A valid one goes to its lane (`wab.lanes`): transactional or bulk, in its contact's message group. A broadcast is
   split here into chunks no larger than its number's rate allows in one go (`wab.pacing`), each a lane message of
   its own.
3. A batch's lane messages are sent ten per SendMessageBatch, in order. When one does not go, it and every request
   after it are put back and retried (the lanes drop the copies of what did go), so nothing overtakes anything.

A request that ends here (invalid, dead-lettered, given up) tells the Step Functions task waiting on it, if it names
one (`task_token`), the failure's code before its report goes out (`wab.waits`). A broadcast waited on begins its
wait here, before any chunk is on a lane (`wab.broadcastwaits`); its chunks do not carry the token.

The intake calls no provider: it fails only when AWS does, and retries like the sender, within the retry window.
Powertools' FIFO batch processor handles one record at a time; sending a whole batch's lane messages in one call is
what keeps a single message group fast, so the batch is handled here as a whole.
"""

from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from wab import clock
from wab.broadcasts import split_broadcast
from wab.broadcastwaits import BroadcastWaitStarter
from wab.catalogue import Catalogue
from wab.errors import DependencyFailed, GatewayError, InvalidCommand
from wab.lanes import Entry, LaneQueues, Request, entry, lane_for
from wab.models.commands import (
    BroadcastCommand,
    CatalogueUpdateCommand,
    MediaUploadCommand,
    MessageCommand,
    SendCommand,
    parse_delivery,
)
from wab.models.events import EventDetail
from wab.models.events.catalogue import TemplateCatalogueApplied
from wab.models.events.sending import FailureReason, MessageFailed
from wab.observability import count, crash_details, logger
from wab.outcomes import Failure, count_failures, crashed, failed_event, invalid_command_event, window_exceeded
from wab.publisher import EventPublisher
from wab.queues import DeadLetterQueue
from wab.retry import CRASH_LIMIT, Attempts
from wab.screening import template_problem
from wab.settings.intake import IntakeSettings
from wab.tasks import TaskAnswerer
from wab.waits import failure_answer, tell

QUEUE = "intake"


class Intake:
    def __init__(
        self,
        settings: IntakeSettings,
        *,
        publisher: EventPublisher,
        lanes: LaneQueues,
        attempts: Attempts,
        dead_letters: DeadLetterQueue,
        postpone: Any,
        catalogue: Catalogue,
        answering: TaskAnswerer | None = None,
        broadcast_waits: BroadcastWaitStarter | None = None,
    ):
        self.settings = settings
        self.broadcast_waits = broadcast_waits
        self.answering = answering  # None: the container's (`wab.tasks.answerer`)
        self.catalogue = catalogue
        self.publisher = publisher
        self.lanes = lanes
        self.attempts = attempts
        self.dead_letters = dead_letters
        self.postpone = postpone  # (receipt handle, seconds) -> None: the send queue's visibility change
        self.retry = settings.retry_policy()

    def handle(self, records: list[SQSRecord]) -> list[str]:
        """Route the batch; the message ids of the records to retry (the first failure and everything after it)."""
        routed: list[tuple[SQSRecord, list[Entry]]] = []
        reports: list[EventDetail] = []
        failed_from: int | None = None
        error: Exception | None = None
        crashed: str | None = None
        for index, record in enumerate(records):
            try:
                entries, report = self._route(record)
            except GatewayError as exc:
                failed_from, error = index, exc
                break
            except Exception as exc:  # a bug met on this request: the ones before it still go, it is retried
                failed_from, error, crashed = index, exc, record.message_id
                logger.error("request crashed the intake", extra=crash_details(exc))
                break
            routed.append((record, entries))
            reports.extend(report)
        try:
            if reports:
                self.publisher.publish_all(reports)
                count_failures(reports)
            owners = [record for record, entries in routed for _ in entries]
            undelivered = self.lanes.put([item for _, entries in routed for item in entries])
        except DependencyFailed as exc:
            failed_from, error, undelivered, owners = 0, exc, None, []
        if undelivered is not None:
            failed_from = min(
                records.index(owners[undelivered]), failed_from if failed_from is not None else len(records)
            )
            error = DependencyFailed("SQS did not take a lane message")
        if failed_from is None:
            return []
        return self._retry_later(records[failed_from:], error, crashed=crashed)

    def _route(self, record: SQSRecord) -> tuple[list[Entry], list[EventDetail]]:
        """The lane messages of one request, or the failure report that ends it."""
        receive_count = int(record.attributes.approximate_receive_count or 1)
        if receive_count > 1 and self.attempts.start(QUEUE, record.message_id) >= CRASH_LIMIT:
            return [], [self._dead_letter(record)]
        try:
            delivery = parse_delivery(record.body)
            command = delivery.command
            source = command.source if isinstance(command, (MessageCommand, MediaUploadCommand)) else None
            if source and not self.settings.knows(source):
                raise InvalidCommand(
                    "source: not one of the business numbers this gateway sends from",
                    reference=command.reference,
                    destination=command.destination if isinstance(command, SendCommand) else None,
                    recipients=len(command.destination) if isinstance(command, BroadcastCommand) else None,
                    command=command.command,
                    task_token=getattr(command, "task_token", None),
                    idempotency_key=command.idempotency_key,
                )
        except InvalidCommand as invalid:
            logger.warning("invalid command dropped", extra={"reason": invalid.message})
            self._tell(invalid.task_token, invalid.code, invalid.message)
            return [], [invalid_command_event(invalid)]
        if isinstance(command, CatalogueUpdateCommand):
            self.catalogue.put(command.templates)
            logger.info("template catalogue updated", extra={"templates": len(command.templates)})
            return [], [catalogue_applied(command, delivery.requested_by)]
        requested_at = int(record.attributes.sent_timestamp or clock.epoch_ms(clock.now()))
        request = Request(command, delivery.event_id or record.message_id, delivery.requested_by, requested_at)
        lane = lane_for(command)
        if not isinstance(command, BroadcastCommand):
            return [entry(request, lane)], []
        # A broadcast with a template that cannot work fails once, before any chunk (and any recipient) is sent.
        if problem := template_problem(self.catalogue, self.settings.template_policy, command):
            self._tell(command.task_token, problem.code, problem.message)
            return [], [failed_event(command, problem)]
        if self.broadcast_waits is not None:
            self.broadcast_waits.begin(command)
        number = command.source or self.settings.business_number
        size = min(self.settings.broadcast_chunk_size, self.settings.rate_policy(number).largest_bulk_take())
        chunks = split_broadcast(command.without_wait(), size)
        if len(chunks) > 1:
            logger.info(
                "broadcast split into chunks", extra={"chunks": len(chunks), "recipients": len(command.destination)}
            )
            count("BroadcastChunks", len(chunks))
        return [
            entry(request._replace(command=chunk), lane, part=f"chunk-{n}") for n, chunk in enumerate(chunks, 1)
        ], []

    def _tell(self, task_token: str | None, code: str, message: str) -> None:
        """Tell a task waiting on a request that ends here; DependencyFailed (retry the request) if it did not go."""
        if task_token:
            tell(failure_answer(task_token, code, message), self.answering)

    def _dead_letter(self, record: SQSRecord) -> MessageFailed:
        """A request that crashed the intake `CRASH_LIMIT` times goes to the dead-letter queue, reported first."""
        self.dead_letters.put(record.body, queue=QUEUE, message_id=record.message_id, reason="unprocessable")
        logger.error("request moved to the dead-letter queue after repeated crashes", extra={"queue": QUEUE})
        event, token = self._report(record, crashed())
        self._tell(token, event.error.code, event.error.message)
        return event

    @staticmethod
    def _report(record: SQSRecord, failure: Failure) -> tuple[MessageFailed, str | None]:
        """The `Failed` event that ends a request with `failure`, and the token of the task waiting on it. What cannot
        be read is reported as invalid, and what crashes on reading (it may be what crashed) naming nothing."""
        try:
            command = parse_delivery(record.body).command
        except InvalidCommand as invalid:
            return invalid_command_event(invalid), invalid.task_token
        except Exception:
            return MessageFailed(error=FailureReason(code=failure.code, message=failure.message)), None
        return failed_event(command, failure), getattr(command, "task_token", None)

    def _retry_later(
        self, records: list[SQSRecord], error: Exception | None, *, crashed: str | None = None
    ) -> list[str]:
        """Put these records back with backoff; give up on those whose retry window has passed (reported). The record
        that `crashed` keeps its receive counted as a crash, so that one which always does reaches the dead-letter
        queue after `CRASH_LIMIT` receives instead of holding up its message group for the whole retry window."""
        receive_count = int(records[0].attributes.approximate_receive_count or 1)
        delay = self.retry.delay(receive_count, getattr(error, "retry_after", None))
        reason = error.code if isinstance(error, GatewayError) else "unexpected"
        now_ms = clock.epoch_ms(clock.now())
        retried = []
        for record in records:
            requested_at = int(record.attributes.sent_timestamp or now_ms)
            if self.retry.exhausted(requested_at, now_ms, delay) and self._give_up(record, reason, error):
                continue
            retried.append(record)
            try:
                if int(record.attributes.approximate_receive_count or 1) > 1 and record.message_id != crashed:
                    self.attempts.conclude(QUEUE, record.message_id)
                self.postpone(record.receipt_handle, delay)
            except DependencyFailed:
                logger.warning("could not delay the retry; the queue's visibility timeout applies")
        if retried:
            logger.warning(
                "requests will be retried", extra={"requests": len(retried), "retry_in_seconds": delay, "error": reason}
            )
            count("SendRetries", len(retried), reason=reason)
        return [record.message_id for record in retried]

    def _give_up(self, record: SQSRecord, reason: str, error: Exception | None) -> bool:
        """Report a request whose retry window has passed; False when even that cannot be published now."""
        event, token = self._report(record, window_exceeded(reason, error))
        try:
            self._tell(token, event.error.code, event.error.message)
            self.publisher.publish_all([event])
        except DependencyFailed:
            return False
        count_failures([event])
        return True


def catalogue_applied(command: CatalogueUpdateCommand, requested_by: str) -> TemplateCatalogueApplied:
    return TemplateCatalogueApplied(
        templates=[{"name": spec.name, "language": spec.language} for spec in command.templates],
        reference=command.reference,
        idempotency_key=command.idempotency_key,
        requested_by=requested_by,
        applied_at=clock.iso(clock.now()),
    )
