"""The one order of delivery statuses: accepted < sent < received < read, or a final failure (rejected, expired, or
WhatsApp's own `failed`, should a provider pass it on).

A status moves forward only: a late `sent` never undoes `received`, and nothing leaves a failure. `read` comes after
`received` (a read receipt that overtakes its delivery report still means the message was delivered).
"""

RANK = {"accepted": 0, "sent": 1, "received": 2, "rejected": 2, "expired": 2, "failed": 2, "read": 3}
FAILED = frozenset({"rejected", "expired", "failed"})
FINAL = frozenset({"read", *FAILED})  # nothing follows these


def is_known(status: str) -> bool:
    return status in RANK


def moves_forward(current: str | None, new: str) -> bool:
    """True when `new` is a documented status later than `current`; a failure is never left, nor is `read`."""
    if new not in RANK:
        return False
    if current is None or current not in RANK:
        return True
    if current in FAILED:
        return False
    if new in FAILED and current == "received":
        return False  # delivered is delivered
    return RANK[new] > RANK[current]
