"""Section 1a's like-for-like comparison: the runtime's change and the code's change are told apart."""

from bench import report


def test_the_runtimes_change_is_the_same_tree_apart_and_the_codes_the_same_runtime_apart() -> None:
    measured = {
        "commit": "74a868b",
        "samples": 3,
        "handlers": {
            "sender": {
                "then_py311": [15.0, 14.0, 16.0],
                "then_py313": [16.0, 17.0, 18.0],
                "now_py313": [26.0, 30.0, 27.0],
            },
            "messages": {"then_py311": [8.0, 8.0, 8.0], "then_py313": [7.0, 7.5, 8.5], "now_py313": [7.0, 7.0, 7.0]},
        },
    }

    text = report.like_for_like_section(measured)

    assert "| sender | 15.0 | 17.0 | +2.0 | 27.0 | +10.0 |" in text
    assert "| messages | 8.0 | 7.5 | -0.5 | 7.0 | -0.5 |" in text
    assert "python3.13 changed wab's own part by sender +2.0 ms, messages -0.5 ms" in text
    assert "the code since by sender +10.0 ms, messages -0.5 ms" in text
