"""The waits function's settings."""

from pydantic import Field

from wab.settings import Settings


class WaitSettings(Settings):
    event_bus_name: str
    wait_queue_url: str
    retention_days: int = Field(default=180, ge=1)
    send_retry_window_minutes: int = Field(default=360, ge=1, le=1440)
