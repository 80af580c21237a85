"""moto's DynamoDB made to apply each request at one instant, and to write the table's stream as DynamoDB does.

moto changes a stored item in place: an UpdateItem on one thread edits the attributes that a PutItem or GetItem on
another thread is turning into its answer, and that one fails with "dictionary changed size during iteration" (a 500,
seen in the integration tests, whose callbacks run on several threads, and possible in the local stack's threaded
server). DynamoDB applies every item operation atomically, so the gateway is entitled to that.

moto 5.2.5 writes a stream record for every PutItem, UpdateItem and DeleteItem that succeeds (BatchWriteItem and
TransactWriteItems write through those; a write whose condition fails writes none), with both images for
NEW_AND_OLD_IMAGES and the old image on MODIFY. Where it departs from DynamoDB Streams, checked against its source:
- An UpdateItem that creates its item writes two INSERTs: one with the key attributes only (moto puts an empty item
  first), then the real one. DynamoDB writes one.
- A PutItem or UpdateItem that changes nothing writes a MODIFY whose images are equal. DynamoDB writes none.
- A cancelled TransactWriteItems restores a copy of the table taken before it, stream included: the records of its
  undone writes disappear, but so does the shard every existing shard iterator reads, so a reader that kept its
  iterator (a Lambda poller does) never sees another record.
- A stream read is not guarded by the lock writes hold, so it could see the records of a transaction being undone.
- GetRecords hands out a new shard iterator each call and keeps every one forever (a poller reading four times a
  second leaves some 14,000 an hour), and answers an unknown iterator with a 500.

`install()` makes every DynamoDB and DynamoDB Streams request hold one lock for the whole of its handling, fixes the
four points above, and lets a shard iterator expire 15 minutes after it was handed out (ExpiredIteratorException,
as DynamoDB Streams), which bounds what moto keeps. Still not emulated: a stream record's 24-hour retention (moto
keeps every record while it runs), TTL deletions, and shards splitting (moto has one shard per stream, never closed).
The local stack runs moto's server with it (`python -m local.moto_sqs`); the integration tests install it in-process.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import StreamShard, Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

LOCK = threading.RLock()
ITERATOR_LIFETIME_SECONDS = 15 * 60  # as DynamoDB Streams: a shard iterator expires 15 minutes after it is returned
_installed: list[bool] = []
_writing = threading.local()  # `creating`: an UpdateItem is putting moto's empty item for the item it creates


def _locked(call_action: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call_action)
    def atomic(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return call_action(*args, **kwargs)

    return atomic


def _add(original: Callable[[StreamShard, Item | None, Item | None], None]) -> Callable[..., None]:
    @functools.wraps(original)
    def add(self: StreamShard, old: Item | None, new: Item | None) -> None:
        if getattr(_writing, "creating", False):
            return  # moto's empty item, put before the update that creates the item fills it: not a write
        if old is not None and new is not None and old.to_json() == new.to_json():
            return  # a write that changes nothing leaves no stream record
        original(self, old, new)

    return add


def _update_item(original: Callable[..., Item]) -> Callable[..., Item]:
    @functools.wraps(original)
    def update_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Item:
        _writing.updating = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _writing.updating = False

    return update_item


def _table_put_item(original: Callable[..., Item]) -> Callable[..., Item]:
    @functools.wraps(original)
    def put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
        if not getattr(_writing, "updating", False):
            return original(self, *args, **kwargs)
        _writing.creating = True  # the only put an UpdateItem makes: the empty item it then updates
        try:
            return original(self, *args, **kwargs)
        finally:
            _writing.creating = False

    return put_item


def _transact_write_items(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def transact_write_items(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> None:
        before = {
            name: (table, table.stream_shard, len(table.stream_shard.items))
            for name, table in self.tables.items()
            if table.stream_shard is not None
        }
        try:
            original(self, *args, **kwargs)
        finally:
            for name, (table, shard, length) in before.items():
                restored = self.tables.get(name)
                if restored is not None and restored is not table and shard is not None and len(shard.items) >= length:
                    # Undone: the table is moto's copy from before. Its stream stays the shard readers hold,
                    # without the records of the undone writes.
                    del shard.items[length:]
                    shard.table = restored
                    restored.stream_shard = shard

    return transact_write_items


def _shard_iterator_init(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def __init__(self: ShardIterator, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.handed_out = time.monotonic()  # type: ignore[attr-defined]

    return __init__


def _sweep(backend: DynamoDBStreamsBackend) -> None:
    """Forget the expired shard iterators (at most once a minute: a poller makes four a second)."""
    now = time.monotonic()
    if now < getattr(backend, "next_sweep", 0):
        return
    backend.next_sweep = now + 60  # type: ignore[attr-defined]
    for arn, iterator in list(backend.shard_iterators.items()):
        if not _live(iterator, now):
            del backend.shard_iterators[arn]


def _live(iterator: ShardIterator | None, now: float) -> bool:
    return iterator is not None and now - getattr(iterator, "handed_out", now) < ITERATOR_LIFETIME_SECONDS


def _get_shard_iterator(original: Callable[..., ShardIterator]) -> Callable[..., ShardIterator]:
    @functools.wraps(original)
    def get_shard_iterator(self: DynamoDBStreamsBackend, *args: Any, **kwargs: Any) -> ShardIterator:
        _sweep(self)
        return original(self, *args, **kwargs)

    return get_shard_iterator


def _get_records(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    @functools.wraps(original)
    def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
        _sweep(self)
        if not _live(self.shard_iterators.get(iterator_arn), time.monotonic()):
            self.shard_iterators.pop(iterator_arn, None)
            raise JsonRESTError("ExpiredIteratorException", "Iterator expired or unknown: get a new one")
        return original(self, iterator_arn, limit)

    return get_records


def install() -> None:
    """Patch moto's DynamoDB and DynamoDB Streams in this process; installing twice changes nothing."""
    if _installed:
        return
    _installed.append(True)
    DynamoHandler.call_action = _locked(DynamoHandler.call_action)  # type: ignore[method-assign]
    DynamoDBStreamsHandler.call_action = _locked(DynamoDBStreamsHandler.call_action)  # type: ignore[method-assign]
    StreamShard.add = _add(StreamShard.add)  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _update_item(DynamoDBBackend.update_item)  # type: ignore[method-assign]
    Table.put_item = _table_put_item(Table.put_item)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = _transact_write_items(  # type: ignore[method-assign]
        DynamoDBBackend.transact_write_items
    )
    ShardIterator.__init__ = _shard_iterator_init(ShardIterator.__init__)  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_shard_iterator = _get_shard_iterator(  # type: ignore[method-assign]
        DynamoDBStreamsBackend.get_shard_iterator
    )
    DynamoDBStreamsBackend.get_records = _get_records(DynamoDBStreamsBackend.get_records)  # type: ignore[method-assign]
