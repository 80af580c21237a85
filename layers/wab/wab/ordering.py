"""What one record of a sender batch must not run beside an earlier record for (`wab.batch` keeps their order)."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from wab.errors import InvalidCommand
from wab.models.commands import EraseContactCommand, SendCommand, idempotency_key, parse_delivery
from wab.models.types import canonical_number


def ordering_keys(record: SQSRecord) -> list[str]:
    """The same recipient (or erased contact), so a contact's messages go out in the order they were asked for, and
    the same idempotency key, so a duplicate waits for its original's outcome. An invalid command shares nothing."""
    try:
        delivery = parse_delivery(record.body)
    except InvalidCommand:
        return []
    command = delivery.command
    keys = [f"key:{idempotency_key(command, delivery_id=delivery.event_id or record.message_id)}"]
    contact = (
        command.contact
        if isinstance(command, EraseContactCommand)
        else (command.destination if isinstance(command, SendCommand) else None)
    )
    if contact:
        keys.append(f"contact:{canonical_number(contact)}")
    return keys
