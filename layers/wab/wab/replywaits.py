"""The replies awaited from a contact, kept on the contact's window item (`CONTACT#<number>`), one attribute each:
`reply:<message id>` → `ReplyWait` (since when, from which business number, the answer's outbox key).

Every inbound message already updates that item (its last inbound time, `MessageStore.record_inbound`), and the update
returns the item, so looking for an awaited reply costs an inbound message nothing. Only an awaited reply adds
writes: one here when its wait begins, one when it is answered (`wab.waits`). An entry left behind by a wait decided
otherwise (a timeout, a failed delivery) is dropped by the next inbound message from the contact.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from wab import aws
from wab.models.waits import ReplyWait
from wab.observability import logger
from wab.store import contact_item_key, update_contact_item

PREFIX = "reply:"


def awaited(item: Mapping[str, Any]) -> dict[str, ReplyWait]:
    """The replies awaited in a contact's window item (DynamoDB's typed form, as `record_inbound` returns it), by
    awaited message id."""
    found: dict[str, ReplyWait] = {}
    for name, value in item.items():
        if name.startswith(PREFIX) and isinstance(value, Mapping) and isinstance(value.get("M"), Mapping):
            try:
                fields = {key: field.get("S") for key, field in value["M"].items() if isinstance(field, Mapping)}
                found[name.removeprefix(PREFIX)] = ReplyWait.model_validate(fields)
            except ValidationError:
                logger.warning("an awaited reply's entry is not readable; it is ignored")
    return found


class ReplyWaits:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def add(self, contact: str, message_id: str, wait: ReplyWait, *, expires_at: int) -> None:
        """Await a reply from the contact to the message. `expires_at` (the wait's end plus the retention) is never
        earlier than what the item had: a wait outlives the contact's last message plus the retention."""
        with aws.dependency("DynamoDB UpdateItem"):
            aws.client("dynamodb").update_item(
                TableName=self.table_name,
                Key=contact_item_key(contact),
                UpdateExpression="SET #wait = :wait, expires_at = :expires",
                ExpressionAttributeNames={"#wait": PREFIX + message_id},
                ExpressionAttributeValues={
                    ":wait": {"M": {name: {"S": value} for name, value in wait.model_dump().items()}},
                    ":expires": {"N": str(expires_at)},
                },
            )

    def remove(self, contact: str, message_ids: Iterable[str]) -> None:
        """Stop awaiting replies to these messages; an item already gone (erased) is not written again."""
        names = {f"#w{index}": PREFIX + message_id for index, message_id in enumerate(dict.fromkeys(message_ids))}
        if not names:
            return
        update_contact_item(  # None when the contact's item is gone: nothing is awaited from it any more
            self.table_name,
            contact,
            UpdateExpression="REMOVE " + ", ".join(names),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames=names,
        )
