"""The send queue's consumer: each request checked and routed onto a send lane, in the order it came (wab.intake)."""

import gc

# Nothing the imports below create is garbage: collecting while they run only lengthens the cold start.
gc.disable()

import time
from functools import cache

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from wab import snapstart
from wab.broadcastwaits import BroadcastWaitStarter
from wab.catalogue import Catalogue
from wab.intake import Intake
from wab.lanes import LaneQueues
from wab.observability import logger, metrics, tracer
from wab.publisher import EventPublisher
from wab.queues import DeadLetterQueue, Queue, WaitQueue
from wab.retry import Attempts
from wab.settings import load
from wab.settings.intake import IntakeSettings


@cache
def intake() -> Intake:
    settings = load(IntakeSettings)
    counters = settings.counters()
    return Intake(
        settings,
        publisher=EventPublisher(settings.event_bus_name, counters),
        lanes=LaneQueues({"priority": settings.priority_lane_url, "bulk": settings.bulk_lane_url}),
        attempts=Attempts(settings.table_name, now=time.time),
        dead_letters=DeadLetterQueue(settings.dead_letter_queue_url),
        postpone=Queue(settings.send_queue_url).postpone,
        catalogue=Catalogue(settings.table_name),
        broadcast_waits=BroadcastWaitStarter(counters, WaitQueue(settings.wait_queue_url)),
    )


snapstart.on_restore(intake.cache_clear)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)  # answers and errors can hold customer data
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    failed = intake().handle([SQSRecord(record) for record in event.get("Records") or []])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


# What the imports built lives as long as the container: keep it out of every garbage collection, which would
# otherwise walk it again and again while botocore creates the first clients (bench/report.md, cold start).
gc.freeze()
gc.enable()
