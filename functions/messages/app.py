"""GET /messages/{id} and GET /messages?reference=|contact=: the record API (AWS_IAM auth at the gateway)."""

from functools import cache

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths

from wab import api, records
from wab.observability import logger, metrics, tracer
from wab.settings import RecordSettings, load
from wab.store import MessageStore

app = APIGatewayHttpResolver()
api.register_error_handlers(app)


@cache
def store() -> MessageStore:
    return MessageStore(load(RecordSettings).table_name)


@app.get("/messages/<message_id>")
def get_message(message_id: str) -> Response:
    return api.json_response(200, records.get_record(store(), message_id))


@app.get("/messages")
def list_messages() -> Response:
    return api.json_response(200, records.list_records(store(), dict(app.current_event.query_string_parameters or {})))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: object) -> dict:
    return app.resolve(event, context)
