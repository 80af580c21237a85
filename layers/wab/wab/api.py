"""The API edge: one resolver per API function, and the one table that turns domain errors into HTTP answers."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from wab import jsoncodec
from wab.errors import DependencyFailed, GatewayError, InvalidPayload, NotFound, Unauthorized
from wab.observability import count, crash_details, logger

JSON = "application/json"
# What a refusal answers, by its error code first, then by its kind (the first class in the list it is an instance of).
STATUS_BY_CODE = {
    "malformed_json": 400,
    "invalid_encoding": 400,
    "invalid_id": 400,
    "invalid_query": 400,
    "invalid_cursor": 400,
    "not_outbound": 409,
    "not_inbound": 409,
    "not_author": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
}
STATUS_BY_KIND: list[tuple[type[GatewayError], int]] = [
    (Unauthorized, 401),
    (NotFound, 404),
    (InvalidPayload, 422),
    (DependencyFailed, 503),
]
RETRY_AFTER_SECONDS = "5"
WWW_AUTHENTICATE = 'Basic realm="whatsapp-gateway", charset="UTF-8"'


def http_status(error: GatewayError) -> int:
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    return next((status for kind, status in STATUS_BY_KIND if isinstance(error, kind)), 500)


def error_response(error: GatewayError) -> Response:
    headers = {}
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if isinstance(error, DependencyFailed):
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    body = {"error": error.code, "message": error.message}
    return Response(status_code=http_status(error), content_type=JSON, body=body, headers=headers)


def resolver(*, rejections_metric: str) -> APIGatewayHttpResolver:
    """An HTTP API resolver answering JSON through the gateway's codec (routes return dicts); each refusal is logged
    and counted in `rejections_metric` with its error code as `reason`."""
    app = APIGatewayHttpResolver(serializer=jsoncodec.encode)

    @app.exception_handler(GatewayError)
    def gateway_error(error: GatewayError) -> Response:
        response = error_response(error)
        log = logger.error if response.status_code >= 500 else logger.warning
        log("request refused", extra={"error": error.code, "reason": error.message, "status": response.status_code})
        count(rejections_metric, reason=error.code)
        return response

    @app.not_found
    def not_found(_: Exception) -> Response:
        return Response(status_code=404, content_type=JSON, body={"error": "not_found", "message": "no such route"})

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.error("unexpected error", extra=crash_details(error))  # its type and place: its text may hold data
        count(rejections_metric, reason="internal_error")
        body = {"error": "internal_error", "message": "unexpected error; retry later"}
        return Response(status_code=500, content_type=JSON, body=body)

    return app
