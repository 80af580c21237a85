"""Settings: one pydantic model per function, read from the environment once, failing fast with a clear message.

| variable | used by | meaning |
|---|---|---|
| TABLE_NAME | all | the messages table |
| EVENT_BUS_NAME | callbacks, sender | the gateway's bus |
| CALLBACK_SECRET_ARN | callbacks | secret with the callbacks' HTTP Basic credentials |
| PROVIDER_SECRET_ARN | messages, sender | secret with the provider's base URL and credentials |
| RETENTION_DAYS | callbacks, sender | days before a record expires (TTL), default 180 |
| SECRET_MAX_AGE_SECONDS | all | how long a secret value is cached, default 300 |
"""

import os
from functools import cache
from typing import TypeVar

from pydantic import BaseModel, ValidationError


class Settings(BaseModel):
    table_name: str
    secret_max_age_seconds: int = 300


class CallbackSettings(Settings):
    event_bus_name: str
    callback_secret_arn: str
    retention_days: int = 180


class RecordSettings(Settings):
    provider_secret_arn: str | None = None


SettingsModel = TypeVar("SettingsModel", bound=Settings)


@cache
def load(model: type[SettingsModel]) -> SettingsModel:
    values = {name: os.environ[name.upper()] for name in model.model_fields if name.upper() in os.environ}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        missing = ", ".join(str(error["loc"][0]).upper() for error in exc.errors())
        raise RuntimeError(f"{model.__name__}: environment variables missing or invalid: {missing}") from exc
