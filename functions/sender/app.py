"""The send queue's consumer: send, broadcast and media upload commands, each done once, with partial batch failures
(a record that fails is retried alone; the others are settled). A batch's records run side by side, one contact's in
the order they came (wab.batch)."""

import gc

# Nothing the imports below create is garbage: collecting while they run only lengthens the cold start.
gc.disable()

from concurrent.futures import ThreadPoolExecutor
from functools import cache

from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response

from wab.batch import OrderedBatch
from wab.observability import logger, metrics, tracer
from wab.sender import Sender, ordering_keys
from wab.settings import SenderSettings, load

# An all-failed batch answers with every record listed rather than raising, so each keeps its own backoff.
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
record_threads = ThreadPoolExecutor(max_workers=10, thread_name_prefix="record")  # a batch holds at most 10 records


@cache
def sender() -> Sender:
    return Sender.from_settings(load(SenderSettings))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    batch = OrderedBatch(sender().handle_record, ordering_keys, record_threads)
    return async_process_partial_response(event=event, record_handler=batch.handle, processor=processor, context=context)


# What the imports built lives as long as the container: keep it out of every garbage collection, which would
# otherwise walk it again and again while botocore creates the first clients (bench/report.md, cold start).
gc.freeze()
gc.enable()
