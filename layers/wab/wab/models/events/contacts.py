"""A contact's marketing choice changed, or everything stored about a contact was erased."""

from typing import ClassVar

from wab.models.events import EventDetail


class ContactChoice(EventDetail):
    """A contact's marketing choice changed. The contact is named by its hash, as in erasure audits."""

    contact_hash: str
    destination: str | None = None
    reason: str  # "keyword" or the WhatsApp code
    at: str


class ContactOptedOut(ContactChoice):
    """A contact stopped marketing messages (a keyword they wrote, or WhatsApp's 131050); marketing to them now fails
    with `opted_out` without a provider call."""

    detail_type: ClassVar[str] = "WhatsApp Contact Opted Out"


class ContactOptedIn(ContactChoice):
    """A contact who had opted out asked for marketing again (an opt-in keyword)."""

    detail_type: ClassVar[str] = "WhatsApp Contact Opted In"


class ContactErased(EventDetail):
    """Everything the gateway stored about a contact was erased on request (the audit record of it).

    The number itself is not repeated: `contact_hash` is the SHA-256 (hex) of it as "+<digits>", so whoever asked can
    match the event to the request. `records_erased` counts the items deleted (message records and the contact's
    window item); `requested_by` is the source of the bus event that asked, or "queue" for a command sent straight to
    the send queue.
    """

    detail_type: ClassVar[str] = "WhatsApp Contact Erased"

    contact_hash: str
    records_erased: int
    reference: str | None = None
    requested_by: str
    erased_at: str
    repeat: bool | None = None  # true: a redelivery of a request already carried out (nothing more was erased)
