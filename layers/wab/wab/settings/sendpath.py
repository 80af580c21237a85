"""What the intake's and the sender's settings share (`wab.settings.intake`, `wab.settings.sender`)."""

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from wab.models.types import number_digits
from wab.settings import WriterSettings

if TYPE_CHECKING:
    from wab.pacing import RatePolicy
    from wab.retry import RetryPolicy


class SendPathSettings(WriterSettings):
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
