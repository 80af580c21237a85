import pytest
from wab.status import moves_forward


@pytest.mark.parametrize(
    "current, new, forward",
    [
        (None, "sent", True),
        (None, "received", True),
        ("accepted", "sent", True),
        ("sent", "received", True),
        ("sent", "rejected", True),
        ("sent", "expired", True),
        ("accepted", "received", True),
        ("sent", "sent", False),
        ("received", "sent", False),
        ("received", "rejected", False),
        ("expired", "received", False),
        ("rejected", "expired", False),
        ("sent", "accepted", False),
        ("received", "read", True),
        ("sent", "read", True),  # a read receipt that overtakes the delivery report
        (None, "read", True),
        ("read", "received", False),
        ("read", "rejected", False),
        ("rejected", "read", False),
        ("expired", "read", False),
        ("read", "read", False),
    ],
)
def test_status_order(current, new, forward):
    assert moves_forward(current, new) is forward
