"""The records of one batch from a FIFO send lane, side by side where their message groups allow.

Each record is handled in a thread of its own (the work is waiting on the provider and AWS), so a batch of ten sends
takes about as long as its slowest send rather than the sum of them. Records of the same message group (one contact's
messages) run one after the other, in the order they came; when one of them fails, the ones behind it in its group
are not started but put back (`release`), so SQS hands them out again only after the failed one: a contact's messages
keep their order across retries. Powertools' AsyncBatchProcessor drives the coroutines and reports the failures.
"""

import asyncio
import contextvars
import functools
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
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
Release = Callable[[SQSRecord], None]


def message_group(record: SQSRecord) -> str:
    """The group a record keeps its order in: its message group, or a group of its own when it has none."""
    return record.attributes.message_group_id or record.message_id


class HeldBack(Exception):
    """The record was not started: an earlier record of its message group failed in this batch."""


class SideBySide:
    """Powertools' partial batch response for an SQS event, a batch of one handled on the spot (no thread to hand it
    to, nothing to order), a larger one side by side (`OrderedBatch`)."""

    def __init__(self, threads: int):
        # An all-failed batch answers with every record listed rather than raising, so each keeps its own backoff.
        self._one = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._many = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="record")

    def process(
        self, event: dict[str, Any], context: Any, handle_record: RecordHandler, release: Release
    ) -> PartialItemFailureResponse:
        if len(event.get("Records") or []) <= 1:
            return process_partial_response(
                event=event, record_handler=handle_record, processor=self._one, context=context
            )
        batch = OrderedBatch(handle_record, release, self._threads)
        return async_process_partial_response(
            event=event, record_handler=batch.handle, processor=self._many, context=context
        )


class OrderedBatch:
    """One invocation's batch: `handle` is the AsyncBatchProcessor's record handler."""

    def __init__(self, handle_record: RecordHandler, release: Release, executor: Executor):
        self._handle_record = handle_record
        self._release = release
        self._executor = executor
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._failed_groups: set[str] = set()

    async def handle(self, record: SQSRecord, lambda_context: Any = None) -> None:
        # The processor starts the coroutines in the batch's order and asyncio's locks are first come, first served,
        # so the records of a group run in the order they came. A record without a group shares none.
        group = message_group(record)
        async with self._locks[group]:
            loop = asyncio.get_running_loop()
            if group in self._failed_groups:
                await loop.run_in_executor(self._executor, self._release, record)
                raise HeldBack("an earlier record of its message group failed")
            # The thread runs in a copy of this context (as asyncio.to_thread does): what the record sets there (its
            # log keys) stays with it, and what the invocation set (where its output goes) reaches it.
            work = functools.partial(contextvars.copy_context().run, self._handle_record, record, lambda_context)
            try:
                await loop.run_in_executor(self._executor, work)
            except Exception:
                self._failed_groups.add(group)
                raise
