"""The send lanes' consumer: send, broadcast, media upload and erasure commands, each done once, paced to its number's
rate, with partial batch failures (a record that fails is retried alone, with the records behind it in its message
group). A batch's records run side by side, one group's in the order they came (wab.batch)."""

import gc

# Nothing the imports below create is garbage: collecting while they run only lengthens the cold start.
gc.disable()

from functools import cache
from typing import TYPE_CHECKING

from wab import snapstart
from wab.batch import SideBySide
from wab.observability import logger, metrics, tracer
from wab.sender import Sender
from wab.settings import load
from wab.settings.sender import SenderSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

batch_processor = SideBySide(threads=10)  # a batch holds at most 10 records (SenderBatchSize)


@cache
def sender() -> Sender:
    return Sender.from_settings(load(SenderSettings))


snapstart.on_restore(sender.cache_clear)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)  # answers and errors can hold customer data
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> "PartialItemFailureResponse":
    with sender().batch(event, context):
        return batch_processor.process(event, context, sender().handle_record, sender().release)


# What the imports built lives as long as the container: keep it out of every garbage collection, which would
# otherwise walk it again and again while botocore creates the first clients (bench/report.md, cold start).
gc.freeze()
gc.enable()
