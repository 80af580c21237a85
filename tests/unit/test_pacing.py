"""The rate budget's rule (GCRA), without storage: how many units leave when, per lane; and how a take treats waiting
for room and losing the race for the budget."""

import pytest
from wab.pacing import (
    BURST_MS,
    MAX_LOST_WRITES,
    PREFETCHED_FRESH_MS,
    BudgetState,
    Deferred,
    RateBudget,
    RatePolicy,
    decide,
)

POLICY = RatePolicy(rate_per_second=20, bulk_share=0.8)  # one unit every 50 ms
T = POLICY.interval_ms


def test_an_idle_number_sends_a_transactional_batch_at_once_within_the_burst():
    decision = decide(BudgetState(), now=10_000, units=10, lane="priority", policy=POLICY)
    assert decision.departures == [10_000] * 10  # 10 units = 500 ms of rate, all inside the 500 ms burst
    assert decision.state.tat == 10_000 + 10 * T


def test_transactional_units_beyond_the_burst_are_spaced_at_the_rate():
    decision = decide(BudgetState(), now=0, units=15, lane="priority", policy=POLICY)
    spacing = [
        later - earlier for earlier, later in zip(decision.departures[10:], decision.departures[11:], strict=False)
    ]
    assert decision.departures[:11] == [0] * 11 and spacing == [T] * 4


def test_over_time_nothing_leaves_faster_than_the_rate_plus_the_burst():
    state, now, sent = BudgetState(), 0.0, []
    while now < 10_000:
        decision = decide(state, now, 3, "priority", POLICY)
        state = decision.state
        sent.extend(decision.departures)
        now += 40  # asked for faster than the rate allows
    for start in range(0, 10_000, 250):
        in_a_second = [t for t in sent if start <= t < start + 1000]
        assert len(in_a_second) <= POLICY.rate_per_second + BURST_MS / T + 1


def test_bulk_takes_only_what_may_leave_now_and_otherwise_waits():
    busy = BudgetState(tat=10_000 + 450, version=3)  # transactional traffic ran 450 ms ahead
    decision = decide(busy, now=10_000, units=5, lane="bulk", policy=POLICY)
    assert decision.state is None
    assert decision.wait_ms == pytest.approx(450 + 4 * T - POLICY.tolerance_ms("bulk"))
    later = decide(busy, now=10_000 + decision.wait_ms, units=5, lane="bulk", policy=POLICY)
    assert later.state is not None and later.departures == [10_000 + decision.wait_ms] * 5


def test_transactional_sends_go_ahead_of_bulk_that_filled_its_share_of_the_burst():
    state, now = BudgetState(), 0.0
    while (decision := decide(state, now, 1, "bulk", POLICY)).state is not None:  # bulk fills what it may
        state = decision.state
    urgent = decide(state, now, 1, "priority", POLICY)
    assert urgent.departures == [now]  # the one-time password leaves at once


def test_while_transactional_sends_wait_bulk_takes_nothing():
    state, now, bulk_units = BudgetState(), 0.0, 0
    while now < 20_000:
        transactional = decide(state, now, 3, "priority", POLICY)  # asks for 30/s: more than the number has
        state = transactional.state
        bulk = decide(state, now, 1, "bulk", POLICY)
        if bulk.state is not None:
            state, bulk_units = bulk.state, bulk_units + 1
        now += 100
    assert bulk_units <= POLICY.largest_bulk_take()  # at most what fitted before the backlog built up


def test_next_to_steady_transactional_traffic_bulk_uses_the_rest_of_the_rate():
    state, now, units = BudgetState(), 0.0, {"priority": 0, "bulk": 0}
    while now < 20_000:
        if now % 1000 == 0:  # one transactional send a second
            state = decide(state, now, 1, "priority", POLICY).state
            units["priority"] += 1
        decision = decide(state, now, 4, "bulk", POLICY)
        if decision.state is not None:
            state, units["bulk"] = decision.state, units["bulk"] + 4
        now += 10
    assert units["priority"] == 20
    assert units["priority"] + units["bulk"] >= 0.9 * POLICY.rate_per_second * 20


def test_alone_bulk_uses_the_whole_rate():
    state, now, units = BudgetState(), 0.0, 0
    while now < 10_000:
        decision = decide(state, now, 4, "bulk", POLICY)
        if decision.state is not None:
            state, units = decision.state, units + 4
            continue
        now += decision.wait_ms
    assert units >= 0.95 * POLICY.rate_per_second * 10


def test_a_chunk_larger_than_bulk_may_ever_take_waits_for_an_idle_budget_instead_of_for_ever():
    too_large = POLICY.largest_bulk_take() + 5
    assert decide(BudgetState(tat=100, version=1), now=100, units=too_large, lane="bulk", policy=POLICY).state
    assert decide(BudgetState(tat=200, version=1), now=100, units=too_large, lane="bulk", policy=POLICY).wait_ms == 100


def test_the_largest_bulk_take_fits_bulks_share_of_the_burst():
    assert RatePolicy(80, 0.8).largest_bulk_take() == 33
    assert RatePolicy(20, 0.8).largest_bulk_take() == 9


class Budget(RateBudget):
    """The budget with a clock of its own and a table that stores, or loses every write to another invocation."""

    def __init__(self, *, loses_every_write: bool = False):
        self.now = 1_000_000.0
        super().__init__("messages", lambda number: POLICY, clock_ms=lambda: self.now, sleep=self._advance)
        self.loses_every_write = loses_every_write
        self.writes = 0
        self.stored = BudgetState()

    def _advance(self, seconds: float) -> None:
        self.now += min(seconds * 1000, 10)  # woken early, as a sleeping thread may be: the take looks again

    def _write(self, number, expected, state) -> bool:
        self.writes += 1
        if self.loses_every_write:  # another invocation moved it first: the stored state comes back
            self.stored = self.stored.model_copy(update={"tat": self.now, "version": self.stored.version + 1})
            self._known[number] = self.stored
            return False
        self._known[number] = self.stored = state
        return True


def test_waits_for_room_do_not_count_as_lost_races():
    budget = Budget()
    departures = []
    for _ in range(60):  # bulk chunks back to back: most takes wait for room first
        departures += budget.take("+15550001", POLICY.largest_bulk_take(), "bulk", max_wait_ms=60_000)

    assert len(departures) == 60 * POLICY.largest_bulk_take()
    assert budget.writes == 60


def test_a_budget_other_invocations_keep_moving_puts_the_sends_back_as_pacing():
    budget = Budget(loses_every_write=True)

    with pytest.raises(Deferred) as deferred:
        budget.take("+15550001", 1, "priority", max_wait_ms=60_000)

    assert deferred.value.code == "paced"  # not a failure: no retry-window attempt, no alarm
    assert budget.writes == MAX_LOST_WRITES


def test_a_batchs_single_sends_take_their_units_in_one_write_and_leave_as_if_taken_one_by_one():
    one_by_one = Budget()
    expected = [one_by_one.take("+15550001", 1, "priority", max_wait_ms=60_000)[0] for _ in range(5)]
    budget = Budget()

    budget.prefetch("+15550001", 5, "priority", max_wait_ms=60_000)
    departures = [budget.take("+15550001", 1, "priority", max_wait_ms=60_000)[0] for _ in range(5)]

    assert departures == expected
    assert budget.writes == 1
    budget.take("+15550001", 1, "priority", max_wait_ms=60_000)  # the batch's units are used up: a write of its own
    assert budget.writes == 2


def test_units_a_batch_did_not_use_are_let_go_and_stale_ones_never_handed_out():
    budget = Budget()
    budget.prefetch("+15550001", 3, "priority", max_wait_ms=60_000)
    budget.forget_prefetched()
    budget.take("+15550001", 1, "priority", max_wait_ms=60_000)
    assert budget.writes == 2  # nothing left over from the batch before

    budget.prefetch("+15550001", 2, "priority", max_wait_ms=60_000)
    budget.now += PREFETCHED_FRESH_MS + 1  # a send that reaches its unit late: the slot has passed
    [late] = budget.take("+15550001", 1, "priority", max_wait_ms=60_000)
    assert budget.writes == 4 and late >= budget.now  # a fresh unit of its own, not the stale one


def test_a_batch_whose_units_cannot_all_leave_soon_enough_takes_none_at_once():
    budget = Budget()
    budget.take("+15550001", int(2000 / POLICY.interval_ms), "priority", max_wait_ms=60_000)  # 2 s booked ahead
    writes = budget.writes

    budget.prefetch("+15550001", 5, "priority", max_wait_ms=1000)

    assert budget.writes == writes  # nothing taken: each send takes its own, and is put back if it cannot wait
    with pytest.raises(Deferred):
        budget.take("+15550001", 1, "priority", max_wait_ms=1000)
