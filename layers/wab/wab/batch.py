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
from concurrent.futures import Executor
from contextlib import AsyncExitStack
from typing import Any, Callable

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


class OrderedBatch:
    """One invocation's batch: `handle` is the AsyncBatchProcessor's record handler."""

    def __init__(
        self,
        handle_record: Callable[[SQSRecord, Any], None],
        ordering_keys: Callable[[SQSRecord], list[str]],
        executor: Executor,
    ):
        self._handle_record = handle_record
        self._ordering_keys = ordering_keys
        self._executor = executor
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def handle(self, record: SQSRecord, lambda_context: Any = None) -> None:
        async with AsyncExitStack() as held:
            # Every record takes its locks in the same (sorted) order, so two records never wait on each other; the
            # processor starts the coroutines in the batch's order and asyncio's locks are first come, first served.
            for key in sorted(set(self._ordering_keys(record))):
                await held.enter_async_context(self._locks[key])
            # The thread runs in a copy of this context (as asyncio.to_thread does): what the record sets there (its
            # log keys) stays with it, and what the invocation set (where its output goes) reaches it.
            work = functools.partial(contextvars.copy_context().run, self._handle_record, record, lambda_context)
            await asyncio.get_running_loop().run_in_executor(self._executor, work)
