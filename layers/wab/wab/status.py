"""The one order of delivery statuses: accepted < sent < received | rejected | expired (the last three are final)."""

RANK = {"accepted": 0, "sent": 1, "received": 2, "rejected": 2, "expired": 2}
FINAL = frozenset({"received", "rejected", "expired"})


def is_known(status: str) -> bool:
    return status in RANK


def moves_forward(current: str | None, new: str) -> bool:
    """True when `new` is a documented status later than `current`; a final status is never left."""
    if new not in RANK:
        return False
    if current is None or current not in RANK:
        return True
    return RANK[new] > RANK[current]
