"""DynamoDB adapter for the messages table.

Items: `MSG#<id>` (a message record, with `reference_key`/`contact_key` set only when non-empty so the sparse
indexes `by-reference` and `by-contact` list it; see `reference_key` for the shards of the first),
`CONTACT#<+number>` (the contact's last inbound time, for the 24-hour window) and `WAMID#<WhatsApp id>` (which
record holds an inbound message WhatsApp knows by that id, and the edits and deletions that arrived before it; in no
index; kept `wab.edits.POINTER_DAYS`). Every record and pointer write is conditional on the version read, so
concurrent callbacks never lose updates. An erased contact's records and pointers become tombstones (`erased_at`,
nothing else) for `ERASED_KEPT_DAYS`: reading one raises `MessageErased`, and nothing is written over it. The
sender's idempotency records (`IDEMPOTENCY#sender#…`) share the table; Powertools writes them.
"""

import time
import zlib
from typing import Any, NamedTuple

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from wab import aws
from wab.errors import DependencyFailed, MessageErased
from wab.models.records import MessageRecord, WhatsAppPointer
from wab.models.waits import Wait

BATCH_WRITE_LIMIT = 25  # BatchWriteItem's limit
BATCH_GET_LIMIT = 100  # BatchGetItem's limit
BATCH_ATTEMPTS = 5
POINTER_ATTEMPTS = 6  # a pointer rewritten under its version: read again this often when others change it
CONDITION_FAILED = "ConditionalCheckFailedException"
INDEX_BY_KEY = {"reference": ("by-reference", "reference_key"), "contact": ("by-contact", "contact_key")}
# Every recipient of a broadcast shares its reference, so `by-reference` would put a whole broadcast under one
# partition key, and one partition takes at most 1,000 writes/s. Each record's key is one of REFERENCE_SHARDS keys,
# chosen by its id: a broadcast at 1,000 messages/s writes about 100/s to each (docs/data-model.md has the arithmetic).
REFERENCE_SHARDS = 10
# How long an erased message's record and pointer stay tombstones: as long as a callback for it can still come (a
# provider retries one for a week at most; a customer deletes a message for about 2 days: `wab.edits.POINTER_DAYS`).
ERASED_KEPT_DAYS = 14


def reference_key(reference: str, message_id: str) -> str:
    """The record's `by-reference` key: `<reference>#<shard>`, the shard a stable hash of its id (never changes, so
    rewriting a record never moves it in the index)."""
    return f"{reference}#{zlib.crc32(message_id.encode()) % REFERENCE_SHARDS}"


def reference_keys(reference: str) -> list[str]:
    """Every `by-reference` key a record with this reference may be under: its shards, in order, then the plain
    reference (records written before the shards; they expire with the retention period)."""
    return [f"{reference}#{shard}" for shard in range(REFERENCE_SHARDS)] + [reference]


class VersionConflict(Exception):
    """The record changed since it was read; `current` is what is stored now (None if it was deleted)."""

    def __init__(self, current: MessageRecord | None):
        super().__init__("record changed concurrently")
        self.current = current


class _ConditionFailed(Exception):
    """A versioned put found another version (or an item where none was expected); `old` is the stored item."""

    def __init__(self, old: dict[str, Any] | None):
        super().__init__("condition failed")
        self.old = old


class PointerConflict(Exception):
    """The pointer changed since it was read (or exists already); `current` is what is stored now."""

    def __init__(self, current: WhatsAppPointer | None):
        super().__init__("pointer changed concurrently")
        self.current = current


class Erased(NamedTuple):
    records: int  # records erased, the window item included
    waiting: list[Wait]  # undecided waits of Step Functions tasks on the erased records


def _message_key(message_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"MSG#{message_id}"}}


def _pointer_key(whatsapp_message_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"WAMID#{whatsapp_message_id}"}}


def _tombstone(key: dict[str, Any], now: int) -> dict[str, Any]:
    """What is left of an erased item until `ERASED_KEPT_DAYS` after `now` (epoch seconds): its key, when."""
    return {**key, "erased_at": {"N": str(now)}, "expires_at": {"N": str(now + ERASED_KEPT_DAYS * 86400)}}


def contact_item_key(contact: str) -> dict[str, Any]:
    """The contact's item: its last inbound time (the 24-hour window), and what `wab.parking` and `wab.replywaits`
    keep on it."""
    return {"pk": {"S": f"CONTACT#{contact}"}}


def update_contact_item(table_name: str, contact: str, **update: Any) -> dict[str, Any] | None:
    """UpdateItem on the contact's item under the update's condition; its answer, or None when the condition does not
    hold."""
    try:
        with aws.dependency("DynamoDB UpdateItem", expected=(CONDITION_FAILED,)):
            return aws.client("dynamodb").update_item(TableName=table_name, Key=contact_item_key(contact), **update)
    except ClientError:
        return None


class MessageStore:
    def __init__(self, table_name: str):
        self.table_name = table_name
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    @property
    def _dynamodb(self) -> Any:
        return aws.client("dynamodb")

    def get(self, message_id: str) -> MessageRecord | None:
        with aws.dependency("DynamoDB GetItem"):
            item = self._dynamodb.get_item(
                TableName=self.table_name, Key=_message_key(message_id), ConsistentRead=True
            ).get("Item")
        return self._record(item) if item else None

    def save(self, record: MessageRecord, expected_version: int | None) -> None:
        """Write the whole record if it is still at `expected_version` (None: if it does not exist yet)."""
        try:
            self._put_versioned(self._item(record), expected_version)
        except _ConditionFailed as failed:
            raise VersionConflict(self._record(failed.old) if failed.old else None) from None

    def _put_versioned(self, item: dict[str, Any], expected_version: int | None) -> None:
        """Put the item if the stored one is still at `expected_version` (None: if there is none yet)."""
        condition = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if expected_version is None
            else {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
            }
        )
        try:
            with aws.dependency("DynamoDB PutItem", expected=(CONDITION_FAILED,)):
                self._dynamodb.put_item(
                    TableName=self.table_name, Item=item, ReturnValuesOnConditionCheckFailure="ALL_OLD", **condition
                )
        except ClientError as exc:
            old = exc.response.get("Item")
            raise _ConditionFailed(old if isinstance(old, dict) and old else None) from None

    def forget(self, message_id: str) -> None:
        """Delete a record stored in vain: the provider had sent its message before, under another callback id."""
        with aws.dependency("DynamoDB DeleteItem"):
            self._dynamodb.delete_item(TableName=self.table_name, Key=_message_key(message_id))

    def get_pointer(self, whatsapp_message_id: str) -> WhatsAppPointer | None:
        with aws.dependency("DynamoDB GetItem"):
            item = self._dynamodb.get_item(
                TableName=self.table_name, Key=_pointer_key(whatsapp_message_id), ConsistentRead=True
            ).get("Item")
        return self._pointer(item) if item else None

    def save_pointer(self, pointer: WhatsAppPointer, expected_version: int | None) -> None:
        """Write the pointer (its version one more) if it is still at `expected_version` (None: if there is none)."""
        pointer.version = (expected_version or 0) + 1
        data = pointer.model_dump(exclude_none=True)
        data["pk"] = f"WAMID#{pointer.whatsapp_message_id}"
        try:
            self._put_versioned(
                {key: self._serializer.serialize(value) for key, value in data.items()}, expected_version
            )
        except _ConditionFailed as failed:
            raise PointerConflict(self._pointer(failed.old) if failed.old else None) from None

    def _pointer(self, item: dict[str, Any]) -> WhatsAppPointer:
        if "erased_at" in item:
            raise MessageErased("the message this WhatsApp id names was erased with its contact")
        data = {key: self._deserializer.deserialize(value) for key, value in item.items()}
        data.pop("pk", None)
        return WhatsAppPointer.model_validate(data)

    def settle_outbox(self, message_id: str, keys: list[str], *, published: bool) -> None:
        """Remove published events from the record's outbox, or release their lease so a retry can publish them.

        Bumping the version makes any writer that read the old outbox re-read it instead of restoring it.
        """
        names = {"#outbox": "outbox", "#version": "version"}
        values: dict[str, Any] = {":one": {"N": "1"}}
        entries = []
        for index, key in enumerate(keys):
            names[f"#k{index}"] = key
            entries.append(f"#outbox.#k{index}")
        if published:
            expression = f"REMOVE {', '.join(entries)} SET #version = #version + :one"
        else:
            names["#lease"] = "lease_until"
            values[":zero"] = {"N": "0"}
            leases = ", ".join(f"{entry}.#lease = :zero" for entry in entries)
            expression = f"SET {leases}, #version = #version + :one"
        with aws.dependency("DynamoDB UpdateItem"):
            self._dynamodb.update_item(
                TableName=self.table_name,
                Key=_message_key(message_id),
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(#version)",  # a record, not gone nor a tombstone
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    def record_inbound(self, contact: str, at: str, expires_at: int) -> dict[str, Any]:
        """Remember the contact's latest inbound time; an older, late callback never moves it back.

        Returns the contact's window item as the write left it (DynamoDB's typed form), so what else it keeps comes
        back at no extra cost: the messages parked for the contact (`wab.parking.entries_of`), now that the window is
        open, and the replies tasks await from it (`wab.replywaits.awaited`). Empty when a newer inbound time was
        already stored: that callback had them. The same time again (a retry of a callback that failed after this
        write, or another message of the same second) gets the item too: what the first left undone is still there.
        """
        try:
            with aws.dependency("DynamoDB UpdateItem", expected=(CONDITION_FAILED,)):
                answer = self._dynamodb.update_item(
                    TableName=self.table_name,
                    Key=contact_item_key(contact),
                    UpdateExpression="SET last_inbound_at = :at, expires_at = :expires",
                    ConditionExpression="attribute_not_exists(last_inbound_at) OR last_inbound_at <= :at",
                    ExpressionAttributeValues={":at": {"S": at}, ":expires": {"N": str(expires_at)}},
                    ReturnValues="ALL_NEW",
                )
        except ClientError:
            return {}
        return answer.get("Attributes") or {}

    def last_inbound_at(self, contact: str) -> str | None:
        with aws.dependency("DynamoDB GetItem"):
            item = self._dynamodb.get_item(
                TableName=self.table_name, Key=contact_item_key(contact), ConsistentRead=True
            ).get("Item")
        return item["last_inbound_at"]["S"] if item and "last_inbound_at" in item else None

    def last_inbound_times(self, contacts: list[str]) -> dict[str, str]:
        """`last_inbound_at` of many contacts at once (those never heard from are absent)."""
        items = self._batch_get([contact_item_key(contact) for contact in contacts], "pk, last_inbound_at")
        return {
            item["pk"]["S"].removeprefix("CONTACT#"): item["last_inbound_at"]["S"]
            for item in items
            if "last_inbound_at" in item
        }

    def existing_ids(self, message_ids: list[str]) -> set[str]:
        """Which of these message records are stored already."""
        items = self._batch_get([_message_key(message_id) for message_id in message_ids], "pk")
        return {item["pk"]["S"].removeprefix("MSG#") for item in items}

    def erased_among(self, message_ids: list[str]) -> set[str]:
        """Which of these messages were erased with their contact (their records are tombstones)."""
        items = self._batch_get([_message_key(message_id) for message_id in message_ids], "pk, erased_at")
        return {item["pk"]["S"].removeprefix("MSG#") for item in items if "erased_at" in item}

    def put_new(self, records: list[MessageRecord]) -> None:
        """Write records known to be new, 25 per BatchWriteItem, retrying what DynamoDB leaves unprocessed.

        BatchWriteItem takes no conditions: callers check with `existing_ids` first and send records that already
        exist through the versioned `save` instead.
        """
        self._batch_write([{"PutRequest": {"Item": self._item(record)}} for record in records])

    def erase_contact(self, contact: str, *, now: int) -> Erased:
        """Erase every message record of the contact (MO and MT) and delete its window item: how many items, and the
        waits of Step Functions tasks still undecided on those records (their tasks are to be told).

        A record becomes a tombstone until `ERASED_KEPT_DAYS` after `now` (epoch seconds): only its key and when it
        was erased, in no index, so the provider retrying the message's callback, or a late status report, stores
        nothing again. The `WAMID#` pointers of its inbound records become tombstones with them, uncounted: they are
        part of the records they point to. A message its edits and deletions name keeps its pointer, without the
        contact's changes kept on it: it may be another contact's, whose own later deletion must still find it; a
        pointer left with nothing goes. Run again, it finds nothing and returns 0. The `by-contact` index is eventually
        consistent: a record written a moment ago may not be listed yet.
        """
        message_ids, own, named, waiting = self._contact_message_ids(contact)
        with aws.dependency("DynamoDB GetItem"):  # its window time, or only messages parked or replies awaited on it
            found = self._dynamodb.get_item(
                TableName=self.table_name, Key=contact_item_key(contact), ConsistentRead=True, ProjectionExpression="pk"
            ).get("Item")
        window = [contact_item_key(contact)] if found else []
        erased = [_message_key(message_id) for message_id in message_ids]
        erased += [_pointer_key(whatsapp_id) for whatsapp_id in sorted(own)]
        emptied = [
            key for whatsapp_id in sorted(named - own) if (key := self._without_changes_of(contact, whatsapp_id))
        ]
        self._batch_write(
            [{"PutRequest": {"Item": _tombstone(key, now)}} for key in erased]
            + [{"DeleteRequest": {"Key": key}} for key in emptied + window]
        )
        return Erased(records=len(message_ids) + len(window), waiting=waiting)

    def erase_record(self, message_id: str, *, now: int) -> None:
        """Make this record a tombstone (`erase_contact`), whatever it holds."""
        with aws.dependency("DynamoDB PutItem"):
            self._dynamodb.put_item(TableName=self.table_name, Item=_tombstone(_message_key(message_id), now))

    def _without_changes_of(self, contact: str, whatsapp_id: str) -> dict[str, Any] | None:
        """Take the contact's kept changes off a pointer; its key, to delete, when nothing else is left on it."""
        try:
            pointer = self.get_pointer(whatsapp_id)
        except MessageErased:  # erased with its own contact: nothing of this one's is on it
            return None
        for _ in range(POINTER_ATTEMPTS):
            if pointer is None:
                return None
            kept = [change for change in pointer.pending if change.contact != contact]
            if pointer.record_id is None and not kept:
                return _pointer_key(whatsapp_id)
            if len(kept) == len(pointer.pending):
                return None
            pointer.pending = kept
            try:
                self.save_pointer(pointer, expected_version=pointer.version)
                return None
            except PointerConflict as conflict:
                pointer = conflict.current
        raise DependencyFailed("a message's pointer kept changing while the contact was erased; retry")

    def _contact_message_ids(self, contact: str) -> tuple[list[str], set[str], set[str], list[Wait]]:
        """The ids of every message record of the contact (MO and MT), all pages of the `by-contact` index, the
        WhatsApp ids of its own inbound messages and those its edits and deletions name, and the undecided waits on
        its records (read from the records, so the index need hold nothing but keys)."""
        index, key_attribute = INDEX_BY_KEY["contact"]
        message_ids: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            items, start = self.query_keys(index, key_attribute, contact, start=start)
            message_ids += [item["pk"]["S"].removeprefix("MSG#") for item in items]
            if start is None:
                break
        records = self._batch_get(
            [_message_key(message_id) for message_id in message_ids],
            "pk, whatsapp_message_id, original_whatsapp_message_id, #wait",
            {"#wait": "wait"},  # a word DynamoDB reserves
        )
        own = {item["whatsapp_message_id"]["S"] for item in records if "whatsapp_message_id" in item}
        named = {
            item["original_whatsapp_message_id"]["S"] for item in records if "original_whatsapp_message_id" in item
        }
        found = (self._deserializer.deserialize(item["wait"]) for item in records if "wait" in item)
        waits = [wait for wait in map(Wait.model_validate, found) if wait.decided is None]
        return message_ids, own, named, waits

    def delete(self, keys: list[dict[str, Any]]) -> None:
        """Delete items by key (`message_key`, `contact_item_key`), 25 per BatchWriteItem; a missing one is no error."""
        self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem in calls of 25 requests, retrying with backoff what DynamoDB leaves unprocessed."""
        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            pending = {self.table_name: requests[start : start + BATCH_WRITE_LIMIT]}
            for attempt in range(BATCH_ATTEMPTS):
                if attempt:
                    time.sleep(min(0.05 * 2**attempt, 1.0))
                with aws.dependency("DynamoDB BatchWriteItem"):
                    pending = self._dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise DependencyFailed("DynamoDB left items unwritten after retries (throttled)")

    def _batch_get(
        self, keys: list[dict[str, Any]], projection: str | None, names: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Consistent BatchGetItem in pages of 100 keys (whole items when `projection` is None; `names` for the
        attribute names DynamoDB reserves), retrying unprocessed keys a bounded number of times."""
        found: list[dict[str, Any]] = []
        unique = list({key["pk"]["S"]: key for key in keys}.values())  # BatchGetItem refuses duplicate keys
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] | None = {
                "Keys": unique[start : start + BATCH_GET_LIMIT],
                "ConsistentRead": True,
                **({"ProjectionExpression": projection} if projection else {}),
                **({"ExpressionAttributeNames": names} if names else {}),
            }
            for attempt in range(BATCH_ATTEMPTS):
                if attempt:
                    time.sleep(min(0.05 * 2**attempt, 1.0))
                with aws.dependency("DynamoDB BatchGetItem"):
                    answer = self._dynamodb.batch_get_item(RequestItems={self.table_name: request})
                found.extend(answer.get("Responses", {}).get(self.table_name, []))
                request = (answer.get("UnprocessedKeys") or {}).get(self.table_name)
                if not request:
                    break
            else:
                raise DependencyFailed("DynamoDB left keys unread after retries (throttled)")
        return found

    def query_keys(
        self,
        index: str,
        key_attribute: str,
        value: str,
        *,
        limit: int | None = None,
        start: dict[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of an index under `value`, newest first: its items (callers read `pk`, the index key and
        `created_at`, which is all the index holds) and the LastEvaluatedKey (None at the end)."""
        query: dict[str, Any] = {
            "IndexName": index,
            "KeyConditionExpression": "#key = :value",
            "ExpressionAttributeNames": {"#key": key_attribute},
            "ExpressionAttributeValues": {":value": {"S": value}},
            "ScanIndexForward": False,
        }
        if limit is not None:
            query["Limit"] = limit
        if start is not None:
            query["ExclusiveStartKey"] = start
        with aws.dependency("DynamoDB Query"):
            page = self._dynamodb.query(TableName=self.table_name, **query)
        return page.get("Items", []), page.get("LastEvaluatedKey")

    def get_many(self, message_ids: list[str]) -> dict[str, MessageRecord]:
        """The stored records of these ids (consistent reads, BatchGetItem), by id; ids not stored are absent."""
        items = self._batch_get([_message_key(message_id) for message_id in message_ids], None)
        records = (self._record(item) for item in items if "erased_at" not in item)
        return {record.id: record for record in records}

    def _item(self, record: MessageRecord) -> dict[str, Any]:
        return {key: self._serializer.serialize(value) for key, value in item_values(record).items()}

    def _record(self, item: dict[str, Any]) -> MessageRecord:
        if "erased_at" in item:
            raise MessageErased(f"message {item['pk']['S'].removeprefix('MSG#')} was erased with its contact")
        data = {key: self._deserializer.deserialize(value) for key, value in item.items()}
        for bookkeeping in ("pk", "reference_key", "contact_key", "relay_version"):
            data.pop(bookkeeping, None)
        return MessageRecord.model_validate(data)


def item_values(record: MessageRecord) -> dict[str, Any]:
    """The record's item as plain Python values (what `put_item` writes, before serialisation).

    A record's index keys (`reference_key`, `contact_key`, `created_at`) come out the same on every rewrite. Both
    indexes project keys only, and DynamoDB writes an index only when a write changes an attribute the index holds
    (GSI.html#GSI.ThroughputConsiderations), whether the write is an UpdateItem or a PutItem replacing the item: so a
    DLR's put and an outbox settle leave the indexes alone, and a record costs one index write per index, when it
    first gets its keys.
    """
    data = record.model_dump(exclude_none=True)
    for optional in ("content_history", "changes_applied", "relay"):  # kept only when a record has them
        if not data[optional]:
            del data[optional]
    data["pk"] = f"MSG#{record.id}"
    if record.relay:  # the relay's mapping takes only writes that left events (its filter cannot test a map)
        data["relay_version"] = record.version
    if record.reference:
        data["reference_key"] = reference_key(record.reference, record.id)
    if record.contact:
        data["contact_key"] = record.contact
    return data
