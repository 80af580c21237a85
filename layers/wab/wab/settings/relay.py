"""The relay function's settings."""

from wab.settings import WriterSettings


class RelaySettings(WriterSettings):
    event_bus_name: str
