"""The callbacks function's settings."""

from pydantic import Field

from wab.keywords import DEFAULT_OPT_IN, DEFAULT_OPT_OUT
from wab.settings import WriterSettings


class CallbackSettings(WriterSettings):
    event_bus_name: str
    callback_secret_arn: str
    wait_queue_url: str | None = None
    opt_out_keywords: str = Field(default=DEFAULT_OPT_OUT, max_length=1000)
    opt_in_keywords: str = Field(default=DEFAULT_OPT_IN, max_length=1000)
    send_queue_url: str | None = None  # where parked messages go once their customer writes
