"""SQS adapters: a queue whose received message is put back for later, and the dead-letter queue."""

from wab import aws

SQS_BATCH_ENTRIES = 10  # SendMessageBatch's limits
SQS_BATCH_BYTES = 256 * 1024


class Queue:
    def __init__(self, url: str):
        self.url = url

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message visible again in `seconds` (0: now)."""
        with aws.dependency("SQS ChangeMessageVisibility"):
            aws.client("sqs").change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )


class DeadLetterQueue:
    """Where a message that crashed the gateway repeatedly goes, with the queue it came from and why."""

    def __init__(self, url: str):
        self.url = url

    def put(self, body: str, *, queue: str, message_id: str, reason: str) -> None:
        """The dead-letter queue is FIFO (those of FIFO queues must be): one group per queue, deduplicated by the
        message's own id, so moving it again after a failed delete leaves one copy."""
        attributes = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in (("queue", queue), ("message_id", message_id), ("reason", reason))
        }
        with aws.dependency("SQS SendMessage"):
            aws.client("sqs").send_message(
                QueueUrl=self.url,
                MessageBody=body,
                MessageAttributes=attributes,
                MessageGroupId=queue,
                MessageDeduplicationId=message_id,
            )


class WaitQueue:
    """The waits' timer queue (standard SQS): a message comes back after its delay, at most SQS's 15 minutes, so a
    longer wait is a chain of such hops (`wab.waits`)."""

    MAX_DELAY_SECONDS = 900  # SQS DelaySeconds' limit

    def __init__(self, url: str):
        self.url = url

    def schedule(self, body: str, delay_seconds: int) -> None:
        delay = max(0, min(self.MAX_DELAY_SECONDS, int(delay_seconds)))
        with aws.dependency("SQS SendMessage"):
            aws.client("sqs").send_message(QueueUrl=self.url, MessageBody=body, DelaySeconds=delay)
