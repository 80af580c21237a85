"""SQS adapter for the send queue: broadcast chunks go back on it; a record to retry is made visible later."""

from wab import aws
from wab.errors import DependencyFailed

SQS_BATCH_ENTRIES = 10  # SendMessageBatch's limits
SQS_BATCH_BYTES = 256 * 1024
PUT_ATTEMPTS = 2


class SendQueue:
    def __init__(self, url: str):
        self.url = url

    def put(self, bodies: list[str]) -> None:
        for batch in pack_batches(bodies, SQS_BATCH_ENTRIES, SQS_BATCH_BYTES):
            entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(batch)]
            for _ in range(PUT_ATTEMPTS):
                with aws.dependency("SQS SendMessageBatch"):
                    answer = aws.client("sqs").send_message_batch(QueueUrl=self.url, Entries=entries)
                failed = {item["Id"] for item in answer.get("Failed", [])}
                entries = [entry for entry in entries if entry["Id"] in failed]
                if not entries:
                    break
            else:
                raise DependencyFailed(f"SQS did not take {len(entries)} broadcast chunks")

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        with aws.dependency("SQS ChangeMessageVisibility"):
            aws.client("sqs").change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )


def pack_batches(bodies: list[str], max_entries: int, max_bytes: int) -> list[list[str]]:
    """Group bodies in order into batches within SQS's entry and size limits per SendMessageBatch."""
    batches: list[list[str]] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if not batches or len(batches[-1]) == max_entries or size + length > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(body)
        size += length
    return batches
