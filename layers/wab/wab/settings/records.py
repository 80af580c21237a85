"""The messages function's settings (the record API)."""

from wab.settings import Settings


class RecordSettings(Settings):
    provider_secret_arn: str | None = None
