"""Settings every test tier shares: a fake AWS account and region, tracing and metrics output off."""

import os

os.environ.update(
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_DISABLED="true",
    POWERTOOLS_SERVICE_NAME="whatsapp-gateway",
    POWERTOOLS_METRICS_NAMESPACE="WhatsAppGateway",
    POWERTOOLS_LOG_LEVEL="WARNING",
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)
