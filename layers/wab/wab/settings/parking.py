"""The parking function's settings."""

from pydantic import Field

from wab.settings import WriterSettings


class ParkingSettings(WriterSettings):
    event_bus_name: str
    parking_queue_url: str
    idempotency_days: int = Field(default=7, ge=1, le=30)
