"""moto's DynamoDB made to apply each request at one instant, as DynamoDB does.

moto changes a stored item in place: an UpdateItem on one thread edits the attributes that a PutItem or GetItem on
another thread is turning into its answer, and that one fails with "dictionary changed size during iteration" (a 500,
seen in the integration tests, whose callbacks run on several threads, and possible in the local stack's threaded
server). DynamoDB applies every item operation atomically, so the gateway is entitled to that.

`install()` makes every DynamoDB request hold one lock for the whole of its handling. The local stack runs moto's
server with it (`python -m local.moto_sqs`); the integration tests install it in-process.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

LOCK = threading.RLock()
_installed: list[bool] = []


def install() -> None:
    """Patch moto's DynamoDB in this process; installing twice changes nothing."""
    if _installed:
        return
    _installed.append(True)
    call_action = DynamoHandler.call_action

    @functools.wraps(call_action)
    def atomic(self: DynamoHandler, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return call_action(self, *args, **kwargs)

    DynamoHandler.call_action = atomic  # type: ignore[method-assign]
