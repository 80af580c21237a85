"""The template catalogue took a run-time update (`WhatsApp Template Catalogue Updated`, `wab.catalogue`)."""

from typing import ClassVar

from wab.models.events import EventDetail


class TemplateCatalogueApplied(EventDetail):
    """Every entry of a catalogue update is in the catalogue: template sends are checked against them within a
    minute. An update the gateway cannot read is refused whole as `WhatsApp Message Failed` instead."""

    detail_type: ClassVar[str] = "WhatsApp Template Catalogue Applied"

    templates: list[dict[str, str]]  # each entry's `name` and `language`
    reference: str | None = None
    idempotency_key: str | None = None
    requested_by: str
    applied_at: str
