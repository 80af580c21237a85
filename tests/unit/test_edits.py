"""How long a WhatsApp-id pointer is kept (pure logic: no AWS)."""

from datetime import UTC, datetime
from types import SimpleNamespace

from wab.edits import POINTER_DAYS, pointer_expiry

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_pointer_outlives_every_change_whatsapp_allows_but_not_much_more():
    assert POINTER_DAYS * 86400 > 2 * 86400 + 7 * 86400  # a deletion's ~2 days, plus a provider's week of retries
    handling = SimpleNamespace(now=NOW, retention_days=180)
    assert pointer_expiry(handling) == int(NOW.timestamp()) + POINTER_DAYS * 86400


def test_a_pointer_never_outlives_its_record():
    handling = SimpleNamespace(now=NOW, retention_days=3)
    assert pointer_expiry(handling) == int(NOW.timestamp()) + 3 * 86400
