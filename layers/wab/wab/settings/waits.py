"""The waits function's settings."""

from pydantic import Field

from wab.settings import WriterSettings


class WaitSettings(WriterSettings):
    event_bus_name: str
    wait_queue_url: str
    send_retry_window_minutes: int = Field(default=360, ge=1, le=1440)
