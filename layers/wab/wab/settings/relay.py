"""The relay function's settings."""

from pydantic import Field

from wab.settings import Settings


class RelaySettings(Settings):
    event_bus_name: str
    retention_days: int = Field(default=180, ge=1)
