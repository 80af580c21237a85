"""Settings: one pydantic model per function, read from the environment once, failing fast with a clear message.

| variable | used by | meaning |
|---|---|---|
| TABLE_NAME | all | the messages table |
| EVENT_BUS_NAME | callbacks, sender | the gateway's bus |
| CALLBACK_SECRET_ARN | callbacks | secret with the callbacks' HTTP Basic credentials |
| PROVIDER_SECRET_ARN | messages, sender | secret with the provider's base URL and credentials |
| RETENTION_DAYS | callbacks, sender | days before a record expires (TTL), default 180 |
| SECRET_MAX_AGE_SECONDS | all | how long a secret value is cached, default 300 |
| SEND_QUEUE_URL | sender | the send queue (broadcast chunks are put back on it; retries change visibility on it) |
| BUSINESS_NUMBER | sender | the WhatsApp business number: the `source` of a command that gives none |
| WINDOW_POLICY | sender | free-form send outside the 24-hour window: `enforce` (fail it), `warn` (send, log, metric), `off`; default enforce |
| BROADCAST_CHUNK_SIZE | sender | recipients per provider broadcast call; larger broadcasts are split into chunk commands, default 100 |
| IDEMPOTENCY_DAYS | sender | how long a command's idempotency record is kept (a replay within it never sends twice), default 7 |
"""

import os
from functools import cache
from typing import Literal

from pydantic import Field, ValidationError

from wab.models.types import Model


class Settings(Model):
    table_name: str
    secret_max_age_seconds: int = 300


class CallbackSettings(Settings):
    event_bus_name: str
    callback_secret_arn: str
    retention_days: int = 180


class RecordSettings(Settings):
    provider_secret_arn: str | None = None


class SenderSettings(Settings):
    event_bus_name: str
    provider_secret_arn: str
    send_queue_url: str
    business_number: str = Field(pattern=r"^\+?[0-9]{1,32}$")
    window_policy: Literal["enforce", "warn", "off"] = "enforce"
    broadcast_chunk_size: int = Field(default=100, ge=1, le=1000)
    retention_days: int = Field(default=180, ge=1)
    idempotency_days: int = Field(default=7, ge=1, le=30)


@cache
def load[SettingsModel: Settings](model: type[SettingsModel]) -> SettingsModel:
    values = {name: os.environ[name.upper()] for name in model.model_fields if name.upper() in os.environ}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        missing = ", ".join(str(error["loc"][0]).upper() for error in exc.errors())
        raise RuntimeError(f"{model.__name__}: environment variables missing or invalid: {missing}") from exc
