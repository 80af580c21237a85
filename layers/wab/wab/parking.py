"""Re-engagement: a free-form message that meets a closed 24-hour window, and carries a `fallback_template`, waits.

The sender sends the template instead and parks the message on the contact's item (`CONTACT#<number>`, the one that
holds the window), one attribute per parked message, at most MAX_PARKED. When the customer writes, the callbacks'
window update returns the item as it now is: the parked messages go onto the send queue in the order they were parked,
each under its `park_id` as idempotency key (so a repeated release never sends twice), and `WhatsApp Message Released`
is published. A timer on the parking queue (SQS delays, chained: 15 minutes at most each) expires a message still
parked at its `parked_until`: `WhatsApp Message Failed` with `parked_expired`. Each parked message leaves its item
exactly once, by a conditional REMOVE: released or expired, never both. Erasing the contact erases what is parked.
"""

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from wab import aws, clock
from wab.models.events.sending import FailureReason, MessageFailed, MessageReleased
from wab.models.types import Model
from wab.store import CONDITION_FAILED, contact_item_key, update_contact_item

if TYPE_CHECKING:
    from wab.models.commands import SendCommand

MAX_PARKED = 10  # per contact: the item stays far under DynamoDB's 400 KB, whatever the messages hold
PARKED_PREFIX = "parked_"
EXPIRING_PREFIX = "expiring_"  # a parked message whose expiry is being reported
MAX_TIMER_DELAY_SECONDS = 900  # SQS's longest delay
SEND_QUEUE_GROUP = "requests"  # the group the bus rules use: released messages queue behind commands already there


class ParkedMessage(Model):
    park_id: str
    command: dict[str, Any]  # the message as a send command (`SendCommand.parked`), in its wire form
    requested_key: str | None = None  # the idempotency key the parked command was asked for with
    parked_at: str
    parked_until: str


class ParkingTimer(Model):
    """A parked message's timer on the parking queue."""

    contact: str
    park_id: str
    parked_until: datetime


class ParkingFull(Exception):
    """The contact already has MAX_PARKED messages waiting."""


def park_id_for(idempotency_key: str) -> str:
    """The parked message's own idempotency key, derived from its command's: parking again parks the same message."""
    return "parked:" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def entries_of(item: dict[str, Any]) -> list[ParkedMessage]:
    """The messages parked on a contact item (DynamoDB's typed form), oldest first."""
    found = [
        ParkedMessage.model_validate_json(value["S"])
        for name, value in item.items()
        if name.startswith(PARKED_PREFIX) and "S" in value
    ]
    return sorted(found, key=lambda entry: (entry.parked_at, entry.park_id))


class Parking:
    def __init__(self, table_name: str, *, timer_queue_url: str | None = None, send_queue_url: str | None = None):
        self.table_name = table_name
        self.timer_queue_url = timer_queue_url
        self.send_queue_url = send_queue_url

    # --- the sender ------------------------------------------------------------------------------------------------

    def park(self, contact: str, command: "SendCommand", *, park_id: str, until: datetime, expires_at: int) -> None:
        """Park the message (again: no change) and start its timer. ParkingFull when the contact has no room."""
        entry = ParkedMessage(
            park_id=park_id,
            command=command.parked(park_id).wire(),
            requested_key=command.idempotency_key,
            parked_at=clock.iso(clock.now()),
            parked_until=clock.iso(until),
        )
        try:
            with aws.dependency("DynamoDB UpdateItem", expected=(CONDITION_FAILED,)):
                aws.client("dynamodb").update_item(
                    TableName=self.table_name,
                    Key=contact_item_key(contact),
                    UpdateExpression="SET #entry = :entry, expires_at = if_not_exists(expires_at, :expires) "
                    "ADD parked_count :one",
                    ConditionExpression="attribute_not_exists(#entry) AND "
                    "(attribute_not_exists(parked_count) OR parked_count < :max)",
                    ExpressionAttributeNames={"#entry": _attribute(park_id)},
                    ExpressionAttributeValues={
                        ":entry": {"S": entry.model_dump_json()},
                        ":expires": {"N": str(expires_at)},
                        ":one": {"N": "1"},
                        ":max": {"N": str(MAX_PARKED)},
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except aws.Refused as refused:
            if "size" not in str(refused.__cause__):
                raise
            # DynamoDB's 400 KB item: large messages fill a contact's room before MAX_PARKED do
            raise ParkingFull("the messages parked for the contact already fill its room") from None
        except ClientError as exc:
            old: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            if _attribute(park_id) in old:
                return  # parked by an earlier attempt, whose timer runs
            raise ParkingFull(f"the contact already has {MAX_PARKED} messages parked") from None
        self.start_timer(contact, park_id, until)

    def start_timer(self, contact: str, park_id: str, until: datetime) -> None:
        assert self.timer_queue_url is not None
        delay = int((until - clock.now()).total_seconds())
        body = ParkingTimer(contact=contact, park_id=park_id, parked_until=until).model_dump_json()
        with aws.dependency("SQS SendMessage"):
            aws.client("sqs").send_message(
                QueueUrl=self.timer_queue_url,
                MessageBody=body,
                DelaySeconds=max(0, min(MAX_TIMER_DELAY_SECONDS, delay)),
            )

    def unpark(self, contact: str, park_id: str) -> ParkedMessage | None:
        """Take the message off the contact's item; None when it is no longer there (released, expired, erased)."""
        answer = update_contact_item(
            self.table_name,
            contact,
            UpdateExpression="REMOVE #entry ADD parked_count :minus",
            ConditionExpression="attribute_exists(#entry)",
            ExpressionAttributeNames={"#entry": _attribute(park_id)},
            ExpressionAttributeValues={":minus": {"N": "-1"}},
            ReturnValues="UPDATED_OLD",
        )
        return entries_of(answer.get("Attributes") or {})[0] if answer is not None else None

    # --- the callbacks ---------------------------------------------------------------------------------------------

    def release(self, contact: str, entries: list[ParkedMessage]) -> list[MessageReleased]:
        """Send the parked messages on, oldest first, and take each off the item; their `Released` events."""
        assert self.send_queue_url is not None
        released = []
        for entry in entries:
            with aws.dependency("SQS SendMessage"):
                aws.client("sqs").send_message(
                    QueueUrl=self.send_queue_url,
                    MessageBody=json.dumps(entry.command),
                    MessageGroupId=SEND_QUEUE_GROUP,
                    MessageDeduplicationId=entry.park_id,
                )
            if self.unpark(contact, entry.park_id) is not None:
                released.append(
                    MessageReleased(
                        park_id=entry.park_id,
                        reference=entry.command.get("reference"),
                        destination=contact,
                        released_at=clock.iso(clock.now()),
                    )
                )
        return released

    def parked(self, contact: str) -> list[ParkedMessage]:
        """The messages parked for the contact now, oldest first."""
        with aws.dependency("DynamoDB GetItem"):
            item = (
                aws.client("dynamodb")
                .get_item(TableName=self.table_name, Key=contact_item_key(contact), ConsistentRead=True)
                .get("Item")
            )
        return entries_of(item) if item else []

    # --- the timer -------------------------------------------------------------------------------------------------

    def expire_or_wait(self, timer: ParkingTimer) -> MessageFailed | None:
        """At the timer: wait on (the timer started again) before its `parked_until`; after it, the message's
        `parked_expired` failure if it was still parked, else None. The message is set aside as expiring, where no
        release can take it: after its failure is published, `forget_expired` removes it; until then a retry
        publishes it again. What the message was parked until is the stored entry's to say, not the timer's: a timer
        put on the queue by anyone else cannot end a message's wait early."""
        contact, park_id = timer.contact, timer.park_id
        if clock.now() < timer.parked_until:
            self.start_timer(contact, park_id, timer.parked_until)
            return None
        entry = self._set_aside(contact, park_id)
        if entry is None:
            return None
        return MessageFailed(
            reference=entry.command.get("reference"),
            destination=contact,
            error=FailureReason(
                code="parked_expired",
                message=f"the customer did not write by {entry.parked_until}; the parked message was not sent",
            ),
            command="send",
            idempotency_key=entry.requested_key,
        )

    def forget_expired(self, contact: str, park_id: str) -> None:
        """Drop the set-aside entry once its failure went out; an item already gone (the contact was erased) is not
        written again: an update would create it, with the number in its key and no expiry."""
        update_contact_item(
            self.table_name,
            contact,
            UpdateExpression="REMOVE #expired",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#expired": _attribute(park_id, EXPIRING_PREFIX)},
        )

    def _set_aside(self, contact: str, park_id: str) -> ParkedMessage | None:
        names = {"#entry": _attribute(park_id), "#expired": _attribute(park_id, EXPIRING_PREFIX)}
        with aws.dependency("DynamoDB GetItem"):
            item = (
                aws.client("dynamodb")
                .get_item(
                    TableName=self.table_name,
                    Key=contact_item_key(contact),
                    ProjectionExpression="#entry, #expired",
                    ExpressionAttributeNames=names,
                    ConsistentRead=True,
                )
                .get("Item")
                or {}
            )
        if names["#expired"] in item:  # set aside by an attempt whose failure did not go out
            return ParkedMessage.model_validate_json(item[names["#expired"]]["S"])
        if names["#entry"] not in item:  # released, or erased
            return None
        value = item[names["#entry"]]
        entry = ParkedMessage.model_validate_json(value["S"])
        if clock.now() < clock.from_iso(entry.parked_until):
            return None  # not the message's own timer: that one is still running
        # Not once the customer has written since it was parked: the callback that moved the window releases it (it
        # may be about to), and a message must not be both expired and sent.
        moved = update_contact_item(
            self.table_name,
            contact,
            UpdateExpression="SET #expired = :entry REMOVE #entry ADD parked_count :minus",
            ConditionExpression="#entry = :entry AND "
            "(attribute_not_exists(last_inbound_at) OR last_inbound_at < :parked)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":entry": value, ":minus": {"N": "-1"}, ":parked": {"S": entry.parked_at}},
        )
        return entry if moved is not None else None  # None: released, or about to be


def _attribute(park_id: str, prefix: str = PARKED_PREFIX) -> str:
    return prefix + park_id.removeprefix("parked:")
