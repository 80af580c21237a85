"""Opt-outs: contacts who stopped marketing messages. Marketing never reaches them; utility and authentication do.

One item per contact that ever opted out or back in, keyed by the contact's hash (`OPTOUT#<sha256>`), not its number:
erasure removes what the gateway holds about a contact, but an opt-out must outlive it (messaging someone who said
STOP because their data was erased would be the worst outcome), and a hash names nobody. The item has no expiry.
"""

from typing import Any

from botocore.exceptions import ClientError

from wab import aws
from wab.models.types import contact_hash

BATCH_GET_LIMIT = 100


def _key(contact: str) -> dict[str, Any]:
    return {"pk": {"S": f"OPTOUT#{contact_hash(contact)}"}}


class OptOuts:
    def __init__(self, table_name: str):
        self.table_name = table_name

    def opted_out(self, contacts: list[str]) -> set[str]:
        """Which of these contacts opted out of marketing."""
        if not contacts:
            return set()
        if len(contacts) == 1:
            with aws.dependency("DynamoDB GetItem"):
                item = (
                    aws.client("dynamodb")
                    .get_item(TableName=self.table_name, Key=_key(contacts[0]), ConsistentRead=True)
                    .get("Item")
                )
            return set(contacts) if item and item.get("opted_out", {}).get("BOOL") else set()
        by_hash = {f"OPTOUT#{contact_hash(contact)}": contact for contact in contacts}
        found: set[str] = set()
        keys = [{"pk": {"S": pk}} for pk in by_hash]
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request: Any = {"Keys": keys[start : start + BATCH_GET_LIMIT], "ConsistentRead": True}
            while request:
                with aws.dependency("DynamoDB BatchGetItem"):
                    answer = aws.client("dynamodb").batch_get_item(RequestItems={self.table_name: request})
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    if item.get("opted_out", {}).get("BOOL"):
                        found.add(by_hash[item["pk"]["S"]])
                request = (answer.get("UnprocessedKeys") or {}).get(self.table_name)
        return found

    def record(self, contact: str, *, opted_out: bool, reason: str, at: str, by: str | None = None) -> bool:
        """Set the contact's choice made `at`; True when it changed (so its event is published once). Opting in is a
        change only for a contact who had opted out, and a choice made before the one stored changes nothing (the
        provider delivers messages out of order: the customer's latest word stands). `by` names what asked (an inbound
        message's id): asked again by the same (a retry), it is still the change it made."""
        differs = "attribute_not_exists(opted_out) OR opted_out = :other" if opted_out else "opted_out = :other"
        condition = f"({differs}) AND (attribute_not_exists(changed_at) OR changed_at <= :at)"
        if by:
            condition += " OR changed_by = :by"
        try:
            with aws.dependency("DynamoDB UpdateItem", expected=("ConditionalCheckFailedException",)):
                aws.client("dynamodb").update_item(
                    TableName=self.table_name,
                    Key=_key(contact),
                    UpdateExpression="SET opted_out = :choice, reason = :reason, changed_at = :at, changed_by = :by",
                    ConditionExpression=condition,
                    ExpressionAttributeValues={
                        ":choice": {"BOOL": opted_out},
                        ":other": {"BOOL": not opted_out},
                        ":reason": {"S": reason},
                        ":at": {"S": at},
                        ":by": {"S": by or reason},
                    },
                )
        except ClientError:
            return False
        return True
