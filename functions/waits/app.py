"""The waits' timer queue: the ends of Step Functions tasks' waits on messages, and the retries of answers Step
Functions did not take (wab.waits). Each message looks at one wait; a record that fails is retried by SQS."""

import gc

# Nothing the imports below create is garbage: collecting while they run only lengthens the cold start.
gc.disable()

from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from wab import snapstart
from wab.observability import logger, metrics, tracer
from wab.outbox import lease_until_ms
from wab.publisher import EventPublisher
from wab.queues import WaitQueue
from wab.settings import load
from wab.settings.waits import WaitSettings
from wab.store import MessageStore
from wab.waiting import Waits

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

processor = BatchProcessor(event_type=EventType.SQS)
DEFAULT_REMAINING_MS = 30_000


@cache
def waits() -> Waits:
    settings = load(WaitSettings)
    return Waits(
        MessageStore(settings.table_name),
        EventPublisher(settings.event_bus_name),
        queue=WaitQueue(settings.wait_queue_url),
        retention_days=settings.retention_days,
        retry_window_seconds=settings.send_retry_window_minutes * 60,
    )


snapstart.on_restore(waits.cache_clear)


def handle(record: SQSRecord, lambda_context: Any = None) -> None:
    remaining_ms = lambda_context.get_remaining_time_in_millis() if lambda_context else DEFAULT_REMAINING_MS
    waits().handle_timer(record.body, lease_until=lease_until_ms(remaining_ms))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)  # answers and errors can hold customer data
@metrics.log_metrics
def lambda_handler(event: dict, context: "LambdaContext") -> "PartialItemFailureResponse":
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)


# What the imports built lives as long as the container: keep it out of every garbage collection, which would
# otherwise walk it again and again while botocore creates the first clients (bench/report.md, cold start).
gc.freeze()
gc.enable()
