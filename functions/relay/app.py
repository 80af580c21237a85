"""The table's stream: publishes the events that writes left in message records (wab.relay), in order, each once.
The mapping's filter hands it only the writes of message records that left events (`relay_version`)."""

import gc
import time

# Nothing the imports below create is garbage: collecting while they run only lengthens the cold start.
gc.disable()

from functools import cache
from typing import TYPE_CHECKING, Any

from wab import snapstart
from wab.observability import logger, metrics
from wab.publisher import EventPublisher
from wab.relay import Relay
from wab.settings import load
from wab.settings.relay import RelaySettings
from wab.store import MessageStore

# Left, after the last PutEvents call the relay starts, for that call (its SDK retries included) and the counters.
ANSWER_MARGIN_S = 4

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@cache
def relay() -> Relay:
    settings = load(RelaySettings)
    counters = settings.counters()
    return Relay(EventPublisher(settings.event_bus_name), counters, MessageStore(settings.table_name))


snapstart.on_restore(relay.cache_clear)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, list[dict[str, str]]]:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_S
    failed = relay().relay(event.get("Records") or [], deadline)
    return {"batchItemFailures": [{"itemIdentifier": failed}] if failed is not None else []}


gc.freeze()
gc.enable()
