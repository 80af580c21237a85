"""The audit event of a contact's erasure (the store does the erasing: `MessageStore.erase_contact`)."""

from wab.models.commands import EraseContactCommand
from wab.models.events.contacts import ContactErased
from wab.models.types import contact_hash


def contact_erased(command: EraseContactCommand, *, records_erased: int, at: str, requested_by: str) -> ContactErased:
    """The contact named by its hash only, never by its number."""
    return ContactErased(
        contact_hash=contact_hash(command.contact),
        records_erased=records_erased,
        reference=command.reference,
        requested_by=requested_by,
        erased_at=at,
    )
