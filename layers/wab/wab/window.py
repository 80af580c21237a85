"""The customer-service window: free-form messages only within 24 hours of the customer's last message."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

from wab import clock
from wab.models.commands import MessageCommand
from wab.observability import count, logger
from wab.store import MessageStore

WINDOW = timedelta(hours=24)
WindowPolicy = Literal["enforce", "warn", "off"]


def outside_window(
    store: MessageStore, policy: WindowPolicy, command: MessageCommand, destinations: list[str]
) -> set[str]:
    """Recipients a free-form message may not reach now: under `enforce` those whose window is closed; under `warn`
    none (the closed ones are logged and counted, then sent); under `off` none."""
    if policy == "off" or not command.message.free_form:
        return set()
    last_inbound: Mapping[str, str | None]
    if len(destinations) == 1:
        last_inbound = {destinations[0]: store.last_inbound_at(destinations[0])}
    else:
        last_inbound = store.last_inbound_times(destinations)
    cutoff = clock.iso(clock.now() - WINDOW)
    outside = {each for each in destinations if (last_inbound.get(each) or "") <= cutoff}
    if outside and policy == "warn":
        logger.warning(
            "free-form message outside the 24-hour window; sending anyway", extra={"recipients": len(outside)}
        )
        count("SentOutsideWindow", len(outside))
        return set()
    if outside:
        count("WindowRejections", len(outside))
    return outside
