"""The one place that creates the logger, tracer and metrics (service name from POWERTOOLS_SERVICE_NAME, metrics
namespace from POWERTOOLS_METRICS_NAMESPACE), and `count`, the one way the gateway counts things."""

import threading
import traceback
import warnings
from pathlib import Path

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

logger = Logger()
# Only botocore at start: patching every module X-Ray supports imports requests, sqlite3, httplib, … (~25 ms of cold
# start); the provider client patches requests when it is loaded (`trace_requests`).
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()
# Most invocations count nothing (nothing failed or was retried), so their metric set is empty; Powertools warns of
# that on stderr, a log line per container that tells an operator nothing.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
CRASH_FRAMES = 5
_counting = threading.Lock()  # the sender counts from several threads; Powertools' metric set is not thread-safe


def crash_details(error: BaseException) -> dict[str, str]:
    """What a log line may say of an unexpected error: its type and where it was raised (the last frames, innermost
    first), never its text, which can hold the request's content."""
    frames = traceback.extract_tb(error.__traceback__)[-CRASH_FRAMES:]
    where = " < ".join(f"{Path(frame.filename).name}:{frame.lineno}" for frame in reversed(frames))
    return {"error": type(error).__name__, "at": where}


def trace_requests() -> None:
    """Trace the provider's HTTP calls as X-Ray subsegments (a no-op when tracing is disabled)."""
    tracer.patch(("requests",))


def count(name: str, value: int = 1, **dimensions: str) -> None:
    """Add `value` to the metric `name` (EMF, unit Count), with the `service` dimension and these.

    Without dimensions of its own the metric joins the invocation's metric set, written once by
    `@metrics.log_metrics`. Dimensions belong to a whole metric set, so a metric with its own (a `type`, a `reason`)
    is written at once as an EMF line of its own (`single_metric`). Dimension values must come from a small, known
    set (statuses, error codes, message types): each distinct value is a metric CloudWatch bills for.
    """
    with _counting:
        if not dimensions:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
            return
        if is_metrics_disabled():  # single_metric itself prints whatever POWERTOOLS_METRICS_DISABLED says
            return
        with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
            for dimension, dimension_value in dimensions.items():
                metric.add_dimension(name=dimension, value=dimension_value)
