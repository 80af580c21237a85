"""Pydantic models, one module per boundary: provider callbacks, WhatsApp inbound messages, stored records, events."""
