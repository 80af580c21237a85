"""The sender's settings."""

from typing import Literal

from pydantic import Field

from wab.settings.sendpath import SendPathSettings


class SenderSettings(SendPathSettings):
    provider_secret_arn: str
    wait_queue_url: str
    media_buckets: str = ""  # comma-separated: the only buckets media is uploaded from
    window_policy: Literal["enforce", "warn", "off"] = "enforce"
    idempotency_days: int = Field(default=7, ge=1, le=30)
    parking_queue_url: str | None = None
    parked_message_hours: int = Field(default=24, ge=1, le=720)
