"""The records of one SQS batch side by side, in the order that matters.

Each record is handled in a thread of its own (the work is waiting on the provider and AWS), so a batch of ten sends
takes about as long as its slowest send rather than the sum of them. Records that share an ordering key (the same
recipient, the same idempotency key) still run one after the other, in the order they came: a contact's messages go
out in the order they were asked for, and a duplicate finds its original's outcome instead of racing it.
Powertools' AsyncBatchProcessor drives the coroutines and reports the failures, one per record, as before.
"""

import asyncio
import contextvars
import functools
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import AsyncExitStack
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    BatchProcessor,
    EventType,
    async_process_partial_response,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

RecordHandler = Callable[[SQSRecord, Any], None]


class SideBySide:
    """Powertools' partial batch response for an SQS event, a batch of one handled on the spot (no thread to hand it
    to, nothing to order), a larger one side by side (`OrderedBatch`)."""

    def __init__(self, ordering_keys: Callable[[SQSRecord], list[str]], threads: int):
        # An all-failed batch answers with every record listed rather than raising, so each keeps its own backoff.
        self._one = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._many = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="record")
        self._ordering_keys = ordering_keys

    def process(self, event: dict[str, Any], context: Any, handle_record: RecordHandler) -> PartialItemFailureResponse:
        if len(event.get("Records") or []) <= 1:
            return process_partial_response(
                event=event, record_handler=handle_record, processor=self._one, context=context
            )
        batch = OrderedBatch(handle_record, self._ordering_keys, self._threads)
        return async_process_partial_response(
            event=event, record_handler=batch.handle, processor=self._many, context=context
        )


class OrderedBatch:
    """One invocation's batch: `handle` is the AsyncBatchProcessor's record handler."""

    def __init__(
        self,
        handle_record: RecordHandler,
        ordering_keys: Callable[[SQSRecord], list[str]],
        executor: Executor,
    ):
        self._handle_record = handle_record
        self._ordering_keys = ordering_keys
        self._executor = executor
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def handle(self, record: SQSRecord, lambda_context: Any = None) -> None:
        async with AsyncExitStack() as held:
            # Every record takes its locks in the same (sorted) order, so no two can each hold a lock the other waits
            # for; the processor starts the coroutines in the batch's order and asyncio's locks are first come, first
            # served, so records sharing a key run in the order they came.
            for key in sorted(set(self._ordering_keys(record))):
                await held.enter_async_context(self._locks[key])
            # The thread runs in a copy of this context (as asyncio.to_thread does): what the record sets there (its
            # log keys) stays with it, and what the invocation set (where its output goes) reaches it.
            work = functools.partial(contextvars.copy_context().run, self._handle_record, record, lambda_context)
            await asyncio.get_running_loop().run_in_executor(self._executor, work)
