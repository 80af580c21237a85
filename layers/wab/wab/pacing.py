"""Per-number pacing: every sender invocation takes its sends from one rate budget per business number, so the provider
never sees a number above its configured rate, and transactional traffic goes ahead of bulk.

The budget is a generic cell rate algorithm (GCRA) kept in one DynamoDB item per number (`RATE#<number>`): `tat`, the
theoretical arrival time of the next unit (epoch ms). A unit is one message: one single send, or one recipient of a
broadcast chunk. `k` units taken at time `now` start at `start = max(tat, now)` and move `tat` to `start + k·T`
(`T = 1000 / rate` ms); unit `i` may leave at `start + i·T - tolerance`. A sender never lets a unit leave before
that, so whatever the number of invocations, the provider sees at most the rate plus a burst of `tolerance`.

Lanes:
- Transactional (priority) sends may book slots ahead of now, and their tolerance is the whole burst.
- Bulk (broadcast chunks, `priority: bulk`) takes units only when all of them may leave now, and only within
  `BulkRateShare` of the burst. So bulk never books the future and always leaves the rest of the burst free: a
  transactional send arriving while bulk runs at the full rate leaves at once. While transactional sends are waiting
  for slots (their own traffic is over the rate), the budget is ahead of where bulk may take from, so bulk takes
  nothing until they are through: transactional traffic is never starved by bulk, and bulk uses the whole rate when
  transactional traffic is idle.

One conditional write takes a take's units: a broadcast chunk's all at once, and a batch's single sends' together
(`prefetch`, before the batch runs; each send then gets its unit without a write, and the units the batch did not use
are let go after it: they were counted, so the provider sees less than the rate, never more). The item carries a
version; a writer that read an old version gets the stored state back with the refusal and decides again.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import ClientError

from wab import aws
from wab.errors import DependencyFailed
from wab.models.types import Model, number_digits
from wab.store import CONDITION_FAILED

Lane = Literal["priority", "bulk"]
BURST_MS = 500.0  # how far ahead of the rate a number may run: well inside WhatsApp's one-second accounting
MAX_LOST_WRITES = 16  # writes beaten by another invocation, in a row, before the sends are put back for a while
CONTENDED_WAIT_MS = 1000.0
# A prefetched unit whose departure passed longer ago than this is not handed out: a send that uses its slot late could
# leave beside the slots taken after it. The caller takes a unit of its own instead.
PREFETCHED_FRESH_MS = 250.0


class BudgetState(Model):
    tat: float = 0.0  # theoretical arrival time of the next unit, epoch ms
    version: int = 0


@dataclass(frozen=True)
class RatePolicy:
    rate_per_second: float
    bulk_share: float

    @property
    def interval_ms(self) -> float:
        return 1000.0 / self.rate_per_second

    def tolerance_ms(self, lane: Lane) -> float:
        return BURST_MS if lane == "priority" else BURST_MS * self.bulk_share

    def largest_bulk_take(self) -> int:
        """The most units bulk can ever take at once (a broadcast chunk must not be larger)."""
        return max(1, int(self.tolerance_ms("bulk") // self.interval_ms) + 1)


@dataclass(frozen=True)
class Decision:
    """What taking `units` now would do: the new state and each unit's earliest departure, or how long to wait."""

    state: BudgetState | None  # None: nothing may be taken now
    departures: list[float]  # epoch ms, one per unit (empty when nothing is taken)
    wait_ms: float  # how long until the units could be taken (0 when they are)


def decide(state: BudgetState, now: float, units: int, lane: Lane, policy: RatePolicy) -> Decision:
    """Take `units` from the budget at `now`, or say how long to wait (pure: the rule, without storage)."""
    interval, tolerance = policy.interval_ms, policy.tolerance_ms(lane)
    start = max(state.tat, now)
    departures = [max(now, start + index * interval - tolerance) for index in range(units)]
    updated = state.model_copy(update={"tat": start + units * interval, "version": state.version + 1})
    if lane == "priority":
        return Decision(updated, departures, 0.0)
    # All of bulk's units leave now, or none are taken; a take larger than bulk's tolerance ever allows (a chunk made
    # before the rate was lowered) waits for an idle budget instead.
    wait = departures[-1] - now if units <= policy.largest_bulk_take() else start - now
    if wait > 0:
        return Decision(None, [], wait)
    return Decision(updated, [now] * units, 0.0)


class Deferred(DependencyFailed):
    """The number's budget has no room for these sends soon enough: they are put back for `retry_after` seconds.
    Not a failure: it neither counts against the retry window's attempts nor alarms."""

    code = "paced"

    def __init__(self, wait_ms: float):
        super().__init__(f"the number's rate budget has no room for {wait_ms:.0f} ms")
        self.retry_after = wait_ms / 1000


class RateBudget:
    """The budgets of the business numbers, in the messages table."""

    def __init__(
        self,
        table_name: str,
        policies: Callable[[str], RatePolicy],
        *,
        clock_ms: Callable[[], float] = lambda: time.time() * 1000,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.table_name = table_name
        self.policies = policies
        self._clock_ms = clock_ms
        self._sleep = sleep
        self._known: dict[str, BudgetState] = {}  # the state this container last saw, per number: its first guess
        self._prefetched: dict[tuple[str, Lane], list[float]] = {}  # units taken for this batch, earliest first
        self._lock = threading.Lock()

    def take(self, number: str, units: int, lane: Lane, *, max_wait_ms: float) -> list[float]:
        """Take `units` for `number`, waiting up to `max_wait_ms` for room; each unit's departure time (epoch ms).
        A single unit comes from those prefetched for the batch while there are any.

        Raises Deferred when the wait would be longer, or when other invocations keep moving the budget first
        (nothing is taken then). A number has one budget, written with its plus or not.
        """
        number = number_digits(number)
        if units == 1 and (departure := self._prefetched_unit(number, lane)) is not None:
            if departure > self._clock_ms() + max_wait_ms:
                raise Deferred(departure - self._clock_ms())
            return [departure]
        return self._take(number, units, lane, max_wait_ms=max_wait_ms, every_unit_by_deadline=False)

    def _prefetched_unit(self, number: str, lane: Lane) -> float | None:
        """The earliest unit prefetched for this batch that is still fresh; stale ones are dropped."""
        fresh_from = self._clock_ms() - PREFETCHED_FRESH_MS
        with self._lock:
            prefetched = self._prefetched.get((number, lane)) or []
            while prefetched and prefetched[0] < fresh_from:
                prefetched.pop(0)
            return prefetched.pop(0) if prefetched else None

    def prefetch(self, number: str, units: int, lane: Lane, *, max_wait_ms: float) -> None:
        """Take the units of a batch's single sends in one write, for `take` to hand out; only when every one of them
        may leave within `max_wait_ms` (otherwise each send takes its own, and those that cannot wait are put back)."""
        number = number_digits(number)
        try:
            departures = self._take(number, units, lane, max_wait_ms=max_wait_ms, every_unit_by_deadline=True)
        except Deferred:
            return
        with self._lock:
            self._prefetched.setdefault((number, lane), []).extend(departures)

    def forget_prefetched(self) -> None:
        """The batch is over: units it did not use are let go (they were counted: the provider only sees less)."""
        with self._lock:
            self._prefetched.clear()

    def _take(
        self, number: str, units: int, lane: Lane, *, max_wait_ms: float, every_unit_by_deadline: bool
    ) -> list[float]:
        policy = self.policies(number)
        deadline = self._clock_ms() + max_wait_ms
        lost_writes = 0
        while True:
            now = self._clock_ms()
            with self._lock:
                state = self._known.get(number) or BudgetState()
            decision = decide(state, now, units, lane, policy)
            if decision.state is None:
                if now + decision.wait_ms > deadline:
                    raise Deferred(decision.wait_ms)
                self._sleep(decision.wait_ms / 1000)
                continue
            last = decision.departures[-1 if every_unit_by_deadline else 0]
            if last > deadline:
                raise Deferred(last - now)
            if self._write(number, state, decision.state):
                return decision.departures
            # Losing the race for the budget is the budget being busy, which is pacing too: the sends are put back
            # for a moment (not retried as a failure, which would count against their retry window).
            lost_writes += 1
            if lost_writes >= MAX_LOST_WRITES:
                raise Deferred(CONTENDED_WAIT_MS)

    def _write(self, number: str, expected: BudgetState, state: BudgetState) -> bool:
        """Store `state` if the stored version is still `expected`'s; else learn the stored state and say False."""
        condition = "attribute_not_exists(pk)" if expected.version == 0 else "#version = :expected"
        names = {"#version": "version"} if expected.version else None
        values = {":expected": {"N": str(expected.version)}} if expected.version else None
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Item": {
                "pk": {"S": f"RATE#{number}"},
                "tat": {"N": repr(state.tat)},
                "version": {"N": str(state.version)},
            },
            "ConditionExpression": condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            request["ExpressionAttributeNames"] = names
            request["ExpressionAttributeValues"] = values
        try:
            with aws.dependency("DynamoDB PutItem", expected=(CONDITION_FAILED,)):
                aws.client("dynamodb").put_item(**request)
        except ClientError as exc:
            stored: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            with self._lock:
                self._known[number] = BudgetState(
                    tat=float(stored["tat"]["N"]) if "tat" in stored else 0.0,
                    version=int(stored["version"]["N"]) if "version" in stored else 0,
                )
            return False
        with self._lock:
            self._known[number] = state
        return True
