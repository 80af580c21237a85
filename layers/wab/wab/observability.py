"""The one place that creates the logger, tracer and metrics (service name from POWERTOOLS_SERVICE_NAME)."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
