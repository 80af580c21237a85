"""The send queue's consumer: send, broadcast and media upload commands, each done once, with partial batch failures
(a record that fails is retried alone; the others are settled)."""

import gc

# Nothing the imports below create is garbage: collecting while they run only lengthens the cold start.
gc.disable()

from functools import cache

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from wab.observability import logger, metrics, tracer
from wab.sender import Sender
from wab.settings import SenderSettings, load

# An all-failed batch answers with every record listed rather than raising, so each keeps its own backoff.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def sender() -> Sender:
    return Sender.from_settings(load(SenderSettings))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    return process_partial_response(
        event=event, record_handler=sender().handle_record, processor=processor, context=context
    )


# What the imports built lives as long as the container: keep it out of every garbage collection, which would
# otherwise walk it again and again while botocore creates the first clients (bench/report.md, cold start).
gc.freeze()
gc.enable()
