"""The retry schedule: capped, jittered exponential backoff within a window that starts when a command was requested."""

import pytest
from wab.retry import RetryPolicy

POLICY = RetryPolicy(window_seconds=6 * 3600, max_delay_seconds=300)


@pytest.mark.parametrize("attempt, low, high", [(1, 1, 2), (2, 2, 4), (3, 4, 8), (5, 16, 32), (8, 128, 256)])
def test_the_backoff_doubles_with_each_attempt_and_is_jittered(attempt, low, high):
    assert POLICY.delay(attempt, jitter=lambda: 0.0) == low
    assert POLICY.delay(attempt, jitter=lambda: 0.999) == high


def test_the_backoff_is_capped_and_honours_the_providers_retry_after_up_to_the_cap():
    assert POLICY.delay(40, jitter=lambda: 1.0) == 300
    assert POLICY.delay(40, jitter=lambda: 0.0) == 150  # half the cap fixed, half random
    assert POLICY.delay(1, 45, jitter=lambda: 0.0) == 45
    assert POLICY.delay(1, 86400, jitter=lambda: 0.0) == 300


def test_a_command_is_given_up_only_when_its_next_attempt_would_start_after_the_window():
    requested = 1_000_000
    window_ms = POLICY.window_seconds * 1000
    assert not POLICY.exhausted(requested, requested + window_ms - 61_000, 60)
    assert POLICY.exhausted(requested, requested + window_ms - 59_000, 60)


def test_a_six_hour_outage_is_ridden_out_in_a_bounded_number_of_attempts():
    """The schedule spends the window in attempts SQS can count (its receive count tops out at 1,000)."""
    elapsed, attempts = 0, 0
    while not POLICY.exhausted(0, elapsed * 1000, POLICY.delay(attempts + 1, jitter=lambda: 0.0)):
        attempts += 1
        elapsed += POLICY.delay(attempts, jitter=lambda: 0.0)
    assert elapsed >= 6 * 3600 - 300
    assert attempts < 200


def test_a_command_given_up_names_its_last_error_but_never_quotes_an_unexpected_one():
    from wab.errors import ProviderUnavailable
    from wab.outcomes import window_exceeded

    known = window_exceeded("provider_unavailable", ProviderUnavailable("the provider answered 503"))
    bug = window_exceeded("unexpected", KeyError("+64211234567: the customer's words"))

    assert known.last_error is not None and known.last_error.message == "the provider answered 503"
    assert bug.last_error is not None and (bug.last_error.code, bug.last_error.message) == ("unexpected", "unexpected")
