"""The bench's checks-before-the-provider figures (bench/screening.py), at smoke size through the real handlers."""

from bench import screening


def test_a_wrong_template_broadcast_reaches_the_provider_only_without_enforcement() -> None:
    results = screening.run("smoke")

    wrong = results["wrong_template"]
    assert wrong["enforce"] == {"provider_calls": 0, "recipients_sent": 0}
    # Without a catalogue every chunk is sent and refused; under warn the first refusal stops the rest.
    assert wrong["off"]["recipients_sent"] == screening.RECIPIENTS["smoke"]
    assert 0 < wrong["warn"]["provider_calls"] <= wrong["off"]["provider_calls"]
    # The checks of a marketing send read the opt-out list: one request more than a send without them.
    assert sum(results["checks_extra_requests_per_send"].values()) >= 1
    assert results["checks_cost_per_million_sends"] > 0

    section = screening.section(results)
    assert section.startswith("### 3c. What the checks before the provider save and cost")
    assert "| `enforce` | 0 | 0 |" in section
