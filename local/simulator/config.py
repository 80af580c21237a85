"""The simulator's configuration: where it listens, whom it calls back, the faults it plays and how it retries
callbacks. `SimulatorError` is what a configuration that cannot start raises."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

API_PREFIX = "/rest/wab/v1"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4010
DEFAULT_SOURCE = "1234567890"

# Where `python -m local.simulator` reads its secrets: a command line is visible to every user of the machine (`ps`).
API_PASSWORD_ENV = "WAB_SIM_API_PASSWORD"
CALLBACK_USERNAME_ENV = "WAB_SIM_CALLBACK_USERNAME"
CALLBACK_PASSWORD_ENV = "WAB_SIM_CALLBACK_PASSWORD"


PROBABILITIES = frozenset(
    {"error_rate", "throttle_rate", "timeout_rate", "duplicate_dlr_rate", "out_of_order_dlr_rate", "reject_rate"}
)


class SimulatorError(Exception):
    """The simulator cannot start (busy port, non-loopback address, bad callback URL)."""


@dataclass(frozen=True)
class Faults:
    """What the simulator does wrong, and how fast it reports deliveries. Rates are probabilities in 0..1."""

    error_rate: float = 0.0  # answer 500
    throttle_rate: float = 0.0  # answer 429 with (#130429)
    timeout_rate: float = 0.0  # hold the request `timeout_seconds`, then answer normally
    timeout_seconds: float = 35.0
    latency_ms: float = 0.0  # added to every provider API answer
    duplicate_dlr_rate: float = 0.0  # send each DLR of a message twice
    out_of_order_dlr_rate: float = 0.0  # send the final DLR before `sent`
    reject_rate: float = 0.0  # the final DLR is `rejected` instead of `received`
    auto_dlr: bool = True
    enforce_window: bool = True  # 131047 for free-form sends outside the 24-hour window
    dlr_sent_delay: float = 0.05
    dlr_received_delay: float = 0.1
    # WhatsApp's limits (0: none). A business number (`source`) takes `number_rate` messages a second (a broadcast
    # counts each recipient) with a burst of one second's worth; over it, 429 (#130429). One recipient takes
    # `pair_rate_burst` messages per `pair_rate_window_seconds`; over it, 400 (#131056).
    number_rate: float = 0.0
    pair_rate_window_seconds: float = 0.0
    pair_rate_burst: float = 1.0
    seed: int | None = None  # setting it reseeds the fault dice

    def updated(self, changes: Any) -> Faults:
        """A copy with `changes` applied; ValueError says which key or value is wrong."""
        if not isinstance(changes, dict):
            raise ValueError("faults must be a JSON object")
        known = {spec.name: spec for spec in fields(self)}
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(known))}")
            checked[name] = _checked_fault_value(name, value, getattr(self, name))
        return replace(self, **checked)


def _checked_fault_value(name: str, value: Any, current: Any) -> Any:
    if name == "seed":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise ValueError("seed must be an integer or null")
        return value
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    if name in PROBABILITIES and value > 1:
        raise ValueError(f"{name} must be between 0 and 1")
    return float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How callbacks are retried on a non-2xx answer or a connection error: exponential backoff, capped."""

    max_attempts: int = 8
    first_delay: float = 0.1
    max_delay: float = 2.0

    def delay_after(self, attempt: int) -> float:
        return min(self.first_delay * 2 ** (attempt - 1), self.max_delay)


@dataclass
class SimulatorConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0 picks a free port
    api_username: str = "wab"
    api_password: str = "wab-secret"
    mo_url: str | None = None  # may carry Basic credentials: http://user:pass@127.0.0.1:3000/callbacks/mo
    dlr_url: str | None = None
    source: str = DEFAULT_SOURCE  # the business number customers write to by default
    faults: Faults = field(default_factory=Faults)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    callback_workers: int = 8
    callback_timeout: float = 10.0
    max_messages: int = 100_000  # oldest records are forgotten beyond this (long load tests)
