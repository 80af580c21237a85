"""HTTP answers for the API functions: domain errors mapped to JSON responses in one place."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from wab import jsoncodec
from wab.errors import DependencyFailed, GatewayError, Unauthorized
from wab.observability import count, logger

JSON = "application/json"


def json_response(status_code: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status_code, content_type=JSON, body=jsoncodec.encode(body), headers=headers or {})


def error_response(error: GatewayError) -> Response:
    headers = {}
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = 'Basic realm="whatsapp-gateway", charset="UTF-8"'
    if isinstance(error, DependencyFailed):
        headers["Retry-After"] = "5"
    return json_response(error.status_code, {"error": error.code, "message": error.message}, headers)


def register_error_handlers(app: APIGatewayHttpResolver, *, rejections_metric: str) -> None:
    """Map domain errors to answers; each refusal counts in `rejections_metric` with its error code as `reason`."""

    @app.exception_handler(GatewayError)
    def gateway_error(error: GatewayError) -> Response:
        log = logger.error if error.status_code >= 500 else logger.warning
        log("request refused", extra={"error": error.code, "reason": error.message, "status": error.status_code})
        count(rejections_metric, reason=error.code)
        return error_response(error)

    @app.not_found
    def not_found(_: Exception) -> Response:
        return json_response(404, {"error": "not_found", "message": "no such route"})

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("unexpected error")
        count(rejections_metric, reason="internal_error")
        return json_response(500, {"error": "internal_error", "message": "unexpected error; retry later"})
