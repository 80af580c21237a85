"""The intake's settings."""

from pydantic import Field

from wab.settings.sendpath import SendPathSettings


class IntakeSettings(SendPathSettings):
    send_queue_url: str
    wait_queue_url: str
    broadcast_chunk_size: int = Field(default=100, ge=1, le=1000)
