"""Settings: one pydantic model per function, read from the environment once, failing fast with a clear message.

Each function's model is in a module of its own (`callbacks`, `records`, `intake`, `sender`, `parking`, `relay`,
`waits`; what the intake and the sender share in `sendpath`), so a function creates only its own at start; this table
lists every variable.

| variable | used by | meaning |
|---|---|---|
| TABLE_NAME | all | the messages table |
| EVENT_BUS_NAME | callbacks, intake, sender, waits, relay | the gateway's bus |
| CALLBACK_SECRET_ARN | callbacks | secret with the callbacks' HTTP Basic credentials |
| PROVIDER_SECRET_ARN | messages, sender | secret with the provider's base URL and credentials |
| RETENTION_DAYS | callbacks, intake, sender, parking, waits, relay | days before a record expires (TTL), default 180 |
| SUMMARY_SCOPE | callbacks, intake, sender, parking, relay, messages | which messages campaign summaries count: `all` (default) or `broadcasts` (`wab.summary`); the messages function says it in each summary |
| SECRET_MAX_AGE_SECONDS | all | how long a secret value is cached, default 300 |
| SEND_QUEUE_URL | intake, callbacks | the send queue (FIFO): requests come in here |
| PRIORITY_LANE_URL, BULK_LANE_URL | intake, sender | the two FIFO send lanes (`wab.lanes`) |
| DEAD_LETTER_QUEUE_URL | intake, sender | where a command that crashed the gateway repeatedly is moved |
| BUSINESS_NUMBER | intake, sender | the WhatsApp business number: the `source` of a command that gives none |
| NUMBER_RATE_PER_SECOND | intake, sender | messages per second each business number may send, default 80 |
| NUMBER_RATES | intake, sender | `number=rate,...`: other business numbers and their rates; when given, a command's `source` must be one of them or BUSINESS_NUMBER |
| BULK_RATE_SHARE | intake, sender | the most of a number's rate bulk takes while transactional sends wait, default 0.8 |
| SEND_RETRY_WINDOW_MINUTES | intake, sender, waits | how long a command is retried after it was requested (and a task's answer after it was decided), default 360 |
| SEND_RETRY_MAX_DELAY_SECONDS | intake, sender | the longest pause between two attempts, default 300 |
| TEMPLATE_POLICY | intake, sender | a template send the catalogue does not match: `enforce` (fail it), `warn` (send, log, metric), `off`; default warn |
| OPT_OUT_KEYWORDS, OPT_IN_KEYWORDS | callbacks | comma-separated words that, as a customer's whole message, opt them out of marketing or back in (`wab.keywords`); defaults STOP,UNSUBSCRIBE,STOP PROMOTIONS and START |
| PARKING_QUEUE_URL | sender, parking | the parking timers' queue (`wab.parking`) |
| PARKED_MESSAGE_HOURS | sender | how long a message parked behind its fallback template waits for the customer, default 24 |
| WINDOW_POLICY | sender | free-form send outside the 24-hour window: `enforce` (fail it), `warn` (send, log, metric), `off`; default enforce |
| BROADCAST_CHUNK_SIZE | intake | most recipients per provider broadcast call (fewer when the number's rate needs it), default 100 |
| MEDIA_BUCKETS | sender | the buckets media may be uploaded from, comma-separated (the stack's, and MediaBucketNames) |
| IDEMPOTENCY_DAYS | sender, parking | how long a command's idempotency record is kept (a replay within it never sends twice), default 7 |
| WAIT_QUEUE_URL | callbacks, intake, sender, waits | the waits' timer queue (`wab.waits`): timeouts of Step Functions tasks waiting on messages, broadcasts' waits (`wab.broadcastwaits`), and retries of their answers |
"""

import os
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError

from wab.models.types import Model

if TYPE_CHECKING:
    from wab.summary import Counters

SummaryScope = Literal["all", "broadcasts"]  # which messages campaign summaries count (`wab.summary`)


class Settings(Model):
    table_name: str
    secret_max_age_seconds: int = 300


class WriterSettings(Settings):
    """What the functions that store messages and publish their events share: how long a record is kept, and which
    messages campaign summaries count (`wab.summary`)."""

    retention_days: int = Field(default=180, ge=1)
    summary_scope: SummaryScope = "all"

    def counters(self) -> "Counters":
        from wab.summary import Counters

        return Counters(self.table_name, self.retention_days, self.summary_scope)


@cache
def load[SettingsModel: Settings](model: type[SettingsModel]) -> SettingsModel:
    values = {name: os.environ[name.upper()] for name in model.model_fields if name.upper() in os.environ}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        missing = ", ".join(str(error["loc"][0]).upper() for error in exc.errors())
        raise RuntimeError(f"{model.__name__}: environment variables missing or invalid: {missing}") from exc
