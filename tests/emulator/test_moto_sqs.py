"""moto's SQS, as the local stack and the integration tests run it, keeps a FIFO message group's order
(local/moto_sqs.py)."""

import time
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import Message, Queue

from local import moto_sqs


@pytest.fixture
def fifo_queue() -> Iterator[tuple[object, str]]:
    moto_sqs.install()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="lane.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "1"})[
            "QueueUrl"
        ]
        yield sqs, url


def send_group(sqs, url: str, count: int) -> None:
    for number in range(count):
        sqs.send_message(
            QueueUrl=url, MessageBody=str(number), MessageGroupId="contact", MessageDeduplicationId=str(number)
        )


def bodies(sqs, url: str, count: int) -> list[str]:
    return [
        message["Body"] for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count).get("Messages", [])
    ]


def test_a_group_back_from_a_lapsed_visibility_timeout_starts_with_its_first_message(fifo_queue):
    sqs, url = fifo_queue
    send_group(sqs, url, 3)
    assert bodies(sqs, url, 10) == ["0", "1", "2"]  # an invocation takes the group's batch and crashes
    time.sleep(1.2)  # the visibility timeout lapses for all three at once

    assert bodies(sqs, url, 1) == ["0"]
    assert bodies(sqs, url, 1) == []  # "0" is in flight again: the group waits for it


def test_a_group_waits_while_its_first_message_is_put_back(fifo_queue):
    sqs, url = fifo_queue
    send_group(sqs, url, 2)
    first, second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=1)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0)

    assert bodies(sqs, url, 10) == []
    time.sleep(1.2)
    assert bodies(sqs, url, 10) == ["0", "1"]


class RemovesTheFirstWhenLookedAt(Message):
    """A message whose visibility check removes the queue's first message: what a delete on another server thread
    does while a receive builds its list."""

    queue: Queue

    @property
    def visible(self) -> bool:
        if self.queue._messages and self.queue._messages[0] is not self:
            self.queue._messages.pop(0)
        return True


def test_a_message_removed_while_a_receive_lists_the_queue_skips_no_other():
    moto_sqs.install()
    queue = Queue("lane.fifo", region="us-east-1", account_id="123456789012", FifoQueue="true")
    messages = [Message(str(number), str(number)) for number in range(4)]
    looking = RemovesTheFirstWhenLookedAt("x", "x")
    looking.queue = queue
    queue._messages.extend([messages[0], looking, *messages[1:]])

    listed = queue.messages

    assert {"1", "2", "3"} <= {message.body for message in listed}


@pytest.mark.parametrize("start_ms", range(-12, 4))
def test_a_receive_decides_at_one_instant_so_a_group_never_skips_its_first_message(fifo_queue, monkeypatch, start_ms):
    """Group g's first message becomes visible while a receive runs (each look at the clock a millisecond later),
    beside another group's message whose visibility has lapsed: g's first is handed out first, or g waits; its
    second is never handed out alone."""
    sqs, url = fifo_queue
    for body, group in (("g-0", "g"), ("h-0", "h"), ("g-1", "g")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body)
    received = {m["Body"]: m for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]}
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=received["g-0"]["ReceiptHandle"], VisibilityTimeout=1)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=received["g-1"]["ReceiptHandle"], VisibilityTimeout=0)
    [queue] = [queue for backend in sqs_backends() for queue in backend.queues.values()]
    lapsed = next(message for message in queue._messages if message.body == "h-0")
    lapsed.visible_at = 0  # in flight for a crashed consumer, its visibility timeout over
    becomes_visible = next(message.visible_at for message in queue._messages if message.body == "g-0")
    ticks = iter(range(10_000))

    def ticking() -> float:
        return becomes_visible + start_ms + next(ticks)

    from moto.sqs import models

    monkeypatch.setattr(models, "unix_time_millis", ticking)
    monkeypatch.setattr(moto_sqs, "unix_time_millis", ticking, raising=False)

    got = bodies(sqs, url, 10)
    if "g-1" in got:
        assert "g-0" in got and got.index("g-0") < got.index("g-1"), got


def sqs_backends():
    from moto.sqs.models import sqs_backends as backends

    return [backend for account in backends.values() for backend in account.values()]
