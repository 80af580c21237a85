"""The parking function's settings."""

from pydantic import Field

from wab.settings import Settings


class ParkingSettings(Settings):
    event_bus_name: str
    parking_queue_url: str
    retention_days: int = Field(default=180, ge=1)
    idempotency_days: int = Field(default=7, ge=1, le=30)
