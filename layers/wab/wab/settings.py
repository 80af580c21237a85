"""Settings: one pydantic model per function, read from the environment once, failing fast with a clear message.

| variable | used by | meaning |
|---|---|---|
| TABLE_NAME | all | the messages table |
| EVENT_BUS_NAME | callbacks, intake, sender, waits | the gateway's bus |
| CALLBACK_SECRET_ARN | callbacks | secret with the callbacks' HTTP Basic credentials |
| PROVIDER_SECRET_ARN | messages, sender | secret with the provider's base URL and credentials |
| RETENTION_DAYS | callbacks, intake, sender, waits | days before a record expires (TTL), default 180 |
| SECRET_MAX_AGE_SECONDS | all | how long a secret value is cached, default 300 |
| SEND_QUEUE_URL | intake, callbacks | the send queue (FIFO): requests come in here |
| PRIORITY_LANE_URL, BULK_LANE_URL | intake, sender | the two FIFO send lanes (`wab.lanes`) |
| DEAD_LETTER_QUEUE_URL | intake, sender | where a command that crashed the gateway repeatedly is moved |
| BUSINESS_NUMBER | intake, sender | the WhatsApp business number: the `source` of a command that gives none |
| NUMBER_RATE_PER_SECOND | intake, sender | messages per second each business number may send, default 80 |
| NUMBER_RATES | intake, sender | `number=rate,...`: other business numbers and their rates; when given, a command's `source` must be one of them or BUSINESS_NUMBER |
| BULK_RATE_SHARE | intake, sender | the most of a number's rate bulk takes while transactional sends wait, default 0.8 |
| SEND_RETRY_WINDOW_MINUTES | intake, sender, waits | how long a command is retried after it was requested (and a task's answer after it was decided), default 360 |
| SEND_RETRY_MAX_DELAY_SECONDS | intake, sender | the longest pause between two attempts, default 300 |
| TEMPLATE_POLICY | intake, sender | a template send the catalogue does not match: `enforce` (fail it), `warn` (send, log, metric), `off`; default warn |
| OPT_OUT_KEYWORDS, OPT_IN_KEYWORDS | callbacks | comma-separated words that, as a customer's whole message, opt them out of marketing or back in (`wab.keywords`); defaults STOP,UNSUBSCRIBE,STOP PROMOTIONS and START |
| PARKING_QUEUE_URL | sender, parking | the parking timers' queue (`wab.parking`) |
| PARKED_MESSAGE_HOURS | sender | how long a message parked behind its fallback template waits for the customer, default 24 |
| WINDOW_POLICY | sender | free-form send outside the 24-hour window: `enforce` (fail it), `warn` (send, log, metric), `off`; default enforce |
| BROADCAST_CHUNK_SIZE | intake | most recipients per provider broadcast call (fewer when the number's rate needs it), default 100 |
| MEDIA_BUCKETS | sender | the buckets media may be uploaded from, comma-separated (the stack's, and MediaBucketNames) |
| IDEMPOTENCY_DAYS | sender | how long a command's idempotency record is kept (a replay within it never sends twice), default 7 |
| WAIT_QUEUE_URL | callbacks, intake, sender, waits | the waits' timer queue (`wab.waits`): timeouts of Step Functions tasks waiting on messages, broadcasts' waits (`wab.broadcastwaits`), and retries of their answers |
"""

import os
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import Field, ValidationError

from wab.keywords import DEFAULT_OPT_IN, DEFAULT_OPT_OUT
from wab.models.types import Model, number_digits

if TYPE_CHECKING:
    from wab.pacing import RatePolicy
    from wab.retry import RetryPolicy


class Settings(Model):
    table_name: str
    secret_max_age_seconds: int = 300


class CallbackSettings(Settings):
    event_bus_name: str
    callback_secret_arn: str
    retention_days: int = 180
    wait_queue_url: str | None = None
    opt_out_keywords: str = Field(default=DEFAULT_OPT_OUT, max_length=1000)
    opt_in_keywords: str = Field(default=DEFAULT_OPT_IN, max_length=1000)
    send_queue_url: str | None = None  # where parked messages go once their customer writes


class RecordSettings(Settings):
    provider_secret_arn: str | None = None


class SendPathSettings(Settings):
    """What the intake and the sender share: the lanes, the business numbers and their rates, the retry window."""

    event_bus_name: str
    priority_lane_url: str
    bulk_lane_url: str
    dead_letter_queue_url: str
    business_number: str = Field(pattern=r"^\+?[0-9]{1,32}$")
    number_rate_per_second: float = Field(default=80, gt=0, le=10_000)
    number_rates: str = Field(
        default="", pattern=r"^(\+?[0-9]{1,32}=[0-9]+(\.[0-9]+)?(,\+?[0-9]{1,32}=[0-9]+(\.[0-9]+)?)*)?$"
    )
    bulk_rate_share: float = Field(default=0.8, gt=0, le=1)
    send_retry_window_minutes: int = Field(default=360, ge=1, le=1440)
    send_retry_max_delay_seconds: int = Field(default=300, ge=1, le=900)
    template_policy: Literal["enforce", "warn", "off"] = "warn"
    retention_days: int = Field(default=180, ge=1)

    def rates(self) -> dict[str, float]:
        """Each configured business number (digits only) and its messages per second."""
        rates = {number_digits(self.business_number): self.number_rate_per_second}
        for pair in filter(None, self.number_rates.split(",")):
            number, rate = pair.split("=")
            rates[number_digits(number)] = float(rate)
        return rates

    def rate_policy(self, number: str) -> "RatePolicy":
        from wab.pacing import RatePolicy  # imported here: only the send path paces, every function reads settings

        rate = self.rates().get(number_digits(number), self.number_rate_per_second)
        return RatePolicy(rate_per_second=rate, bulk_share=self.bulk_rate_share)

    def knows(self, number: str) -> bool:
        """A command may name any number when no list is configured, else only the configured ones."""
        return not self.number_rates or number_digits(number) in self.rates()

    def retry_policy(self) -> "RetryPolicy":
        from wab.retry import RetryPolicy  # imported here: only the send path retries, every function reads settings

        return RetryPolicy(self.send_retry_window_minutes * 60, self.send_retry_max_delay_seconds)


class IntakeSettings(SendPathSettings):
    send_queue_url: str
    wait_queue_url: str
    broadcast_chunk_size: int = Field(default=100, ge=1, le=1000)


class SenderSettings(SendPathSettings):
    provider_secret_arn: str
    wait_queue_url: str
    media_buckets: str = ""  # comma-separated: the only buckets media is uploaded from
    window_policy: Literal["enforce", "warn", "off"] = "enforce"
    idempotency_days: int = Field(default=7, ge=1, le=30)
    parking_queue_url: str | None = None
    parked_message_hours: int = Field(default=24, ge=1, le=720)


class ParkingSettings(Settings):
    event_bus_name: str
    parking_queue_url: str
    retention_days: int = Field(default=180, ge=1)
    idempotency_days: int = Field(default=7, ge=1, le=30)


class WaitSettings(Settings):
    event_bus_name: str
    wait_queue_url: str
    retention_days: int = Field(default=180, ge=1)
    send_retry_window_minutes: int = Field(default=360, ge=1, le=1440)


@cache
def load[SettingsModel: Settings](model: type[SettingsModel]) -> SettingsModel:
    values = {name: os.environ[name.upper()] for name in model.model_fields if name.upper() in os.environ}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        missing = ", ".join(str(error["loc"][0]).upper() for error in exc.errors())
        raise RuntimeError(f"{model.__name__}: environment variables missing or invalid: {missing}") from exc
