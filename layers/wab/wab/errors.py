"""Domain errors. Handlers map them to HTTP answers (or batch-item failures) in one place each."""


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class InvalidPayload(GatewayError):
    """The request itself is wrong: the caller must change it; retrying cannot help."""

    status_code = 422
    code = "invalid_payload"


class Unauthorized(GatewayError):
    status_code = 401
    code = "unauthorized"


class NotFound(GatewayError):
    status_code = 404
    code = "not_found"


class DependencyFailed(GatewayError):
    """An AWS service or the provider failed; the same request may succeed later."""

    status_code = 503
    code = "dependency_failed"


class InProgress(DependencyFailed):
    """The same callback is being handled right now by another invocation; retry shortly."""

    code = "in_progress"
