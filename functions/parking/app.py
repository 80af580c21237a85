"""The parking timers' consumer: a parked message still waiting at its `parked_until` fails as `parked_expired`
(wab.parking); before then, its timer is started again (SQS delays are 15 minutes at most)."""

import gc

# Nothing the imports below create is garbage: collecting while they run only lengthens the cold start.
gc.disable()

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError
from wab import snapstart
from wab.observability import logger, metrics, tracer
from wab.outcomes import count_failures
from wab.parking import Parking, ParkingTimer
from wab.publisher import EventPublisher
from wab.settings import load
from wab.settings.parking import ParkingSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

processor = BatchProcessor(event_type=EventType.SQS)


@cache
def dependencies() -> tuple[Parking, EventPublisher]:
    settings = load(ParkingSettings)
    counters = settings.counters()
    return (
        Parking(settings.table_name, timer_queue_url=settings.parking_queue_url),
        EventPublisher(settings.event_bus_name, counters),
    )


snapstart.on_restore(dependencies.cache_clear)


def handle_timer(record: SQSRecord) -> None:
    parking, publisher = dependencies()
    try:
        timer = ParkingTimer.model_validate_json(record.body)
    except ValidationError:
        logger.warning("not a parking timer: dropped")  # retried, it would only fail again
        return
    expired = parking.expire_or_wait(timer)
    if expired is not None:
        publisher.publish_all([expired])  # a failure raises: the timer comes back and publishes it then
        parking.forget_expired(timer.contact, timer.park_id)
        count_failures([expired])


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: "LambdaContext") -> "PartialItemFailureResponse":
    return process_partial_response(event=event, record_handler=handle_timer, processor=processor, context=context)


gc.freeze()
gc.enable()
