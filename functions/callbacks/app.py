"""POST /callbacks/mo and /callbacks/dlr: the provider's inbound messages and delivery statuses."""

import gc

# Nothing the imports below create is garbage: collecting while they run only lengthens the cold start.
gc.disable()

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.logging import correlation_paths
from wab import api, auth, callbacks, clock, snapstart
from wab.httpbody import read_json_body
from wab.keywords import keyword_set
from wab.models.callbacks import DlrCallback
from wab.models.inbound import UntypedMessage, known_type
from wab.observability import count, logger, metrics, tracer
from wab.optouts import OptOuts
from wab.outbox import lease_until_ms
from wab.parking import Parking
from wab.publisher import EventPublisher
from wab.queues import WaitQueue
from wab.settings import load
from wab.settings.callbacks import CallbackSettings
from wab.store import MessageStore
from wab.waiting import Waits

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = api.resolver(rejections_metric="CallbacksRejected")


@cache
def dependencies() -> tuple[CallbackSettings, MessageStore, EventPublisher]:
    settings = load(CallbackSettings)
    counters = settings.counters()
    return settings, MessageStore(settings.table_name), EventPublisher(settings.event_bus_name, counters)


def waits() -> Waits:
    """Step Functions tasks waiting on messages: DLRs and replies decide their waits (`wab.waits`). Made per
    invocation from the cached dependencies (it holds nothing else)."""
    settings, store, publisher = dependencies()
    queue = WaitQueue(settings.wait_queue_url) if settings.wait_queue_url else None
    return Waits(store, publisher, queue=queue, retention_days=settings.retention_days)


snapstart.on_restore(dependencies.cache_clear)


def authenticated_payload() -> object:
    settings, _, _ = dependencies()
    event = app.current_event
    auth.check_basic(
        event.headers.get("authorization"),
        auth.callback_credentials(settings.callback_secret_arn, settings.secret_max_age_seconds),
    )
    headers = event.headers
    return read_json_body(
        event.body, event.is_base64_encoded, headers.get("content-type"), headers.get("content-encoding")
    )


def handling() -> callbacks.Handling:
    """This invocation holds a callback's events until it can no longer be running, plus a margin."""
    settings, store, publisher = dependencies()
    lease_until = lease_until_ms(app.lambda_context.get_remaining_time_in_millis())
    return callbacks.Handling(
        store,
        publisher,
        settings.retention_days,
        clock.now(),
        lease_until,
        optouts=OptOuts(settings.table_name),
        parking=Parking(settings.table_name, send_queue_url=settings.send_queue_url)
        if settings.send_queue_url
        else None,
        opt_out_keywords=keyword_set(settings.opt_out_keywords),
        opt_in_keywords=keyword_set(settings.opt_in_keywords),
        waits=waits(),
    )


@app.post("/callbacks/mo")
def mo_callback() -> dict:
    callback, message = callbacks.parse_mo(authenticated_payload())
    logger.append_keys(message_id=callback.id, message_type=message.type)
    if callbacks.receive_mo(callback, message, handling()):
        count("MessagesReceived", type=known_type(message))
        if isinstance(message, UntypedMessage):
            count("MessagesUnsupported")  # alarmed: a new WhatsApp shape is noticed within minutes
    return {"status": "ok"}


@app.post("/callbacks/dlr")
def dlr_callback() -> dict:
    dlr = callbacks.validate(DlrCallback, authenticated_payload())
    logger.append_keys(message_id=dlr.id, delivery_status=dlr.status)  # `status` is the HTTP one
    moved_to = callbacks.receive_dlr(dlr, handling())
    count("StatusReports")
    if moved_to:
        count("StatusTransitions", status=moved_to)
    return {"status": "ok"}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)  # answers and errors can hold customer data
@metrics.log_metrics
def lambda_handler(event: dict, context: "LambdaContext") -> dict:
    return app.resolve(event, context)


# What the imports built lives as long as the container: keep it out of every garbage collection, which would
# otherwise walk it again and again while botocore creates the first clients (bench/report.md, cold start).
gc.freeze()
gc.enable()
