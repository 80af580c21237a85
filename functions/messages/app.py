"""The record API (AWS_IAM at the gateway), one route per lookup so a caller can be granted one alone:
GET /messages/{id}, GET /references/{reference}/messages, GET /references/{reference}/summary,
GET /contacts/{number}/messages."""

import gc
import time

# Nothing the imports below create is garbage: collecting while they run only lengthens the cold start.
gc.disable()

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools.logging import correlation_paths
from wab import api, records, snapstart
from wab.observability import logger, metrics, tracer
from wab.settings import load
from wab.settings.records import RecordSettings
from wab.store import MessageStore
from wab.summary import Counters

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from wab.provider import ProviderClient

app = api.resolver(rejections_metric="RecordRequestsRejected")
ANSWER_MARGIN_SECONDS = 1.0  # kept for answering once the provider fallback gave up: a 503, not the function's timeout


@cache
def store() -> MessageStore:
    return MessageStore(load(RecordSettings).table_name)


@cache
def summaries() -> Counters:
    settings = load(RecordSettings)
    return Counters(settings.table_name, retention_days=0, scope=settings.summary_scope)  # read only here


def provider() -> "ProviderClient | None":
    """The provider's record API, for ids not stored here (none when no provider secret is configured)."""
    settings = load(RecordSettings)
    return (
        provider_for(settings.provider_secret_arn, settings.secret_max_age_seconds)
        if settings.provider_secret_arn
        else None
    )


@cache
def provider_for(secret_arn: str, secret_max_age: int) -> "ProviderClient":
    from wab.provider import ProviderClient  # only this fallback needs requests: keep it off the cold start

    return ProviderClient(secret_arn, secret_max_age=secret_max_age)


snapstart.on_restore(store.cache_clear, summaries.cache_clear, provider_for.cache_clear)


@app.get("/messages/<message_id>")
def get_message(message_id: str) -> dict:
    deadline = time.monotonic() + app.lambda_context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS
    return records.get_record(store(), decoded("id", message_id), query(), provider(), deadline=deadline)


@app.get("/references/<reference>/messages")
def list_by_reference(reference: str) -> dict:
    return records.list_by_reference(store(), decoded("reference", reference), query())


@app.get("/references/<reference>/summary")
def reference_summary(reference: str) -> dict:
    return records.summary(summaries(), decoded("reference", reference), query())


@app.get("/contacts/<number>/messages")
def list_by_contact(number: str) -> dict:
    return records.list_by_contact(store(), decoded("number", number), query())


def decoded(name: str, matched: str) -> str:
    """The path parameter as API Gateway decoded it (`+` written as %2B is a plus); the resolver matches the raw
    path, which keeps the encoding."""
    return (app.current_event.path_parameters or {}).get(name, matched)


def query() -> dict[str, str]:
    return dict(app.current_event.query_string_parameters or {})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)  # answers and errors can hold customer data
@metrics.log_metrics
def lambda_handler(event: dict, context: "LambdaContext") -> dict:
    return app.resolve(event, context)


# What the imports built lives as long as the container: keep it out of every garbage collection, which would
# otherwise walk it again and again while botocore creates the first clients (bench/report.md, cold start).
gc.freeze()
gc.enable()
