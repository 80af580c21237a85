"""EventBridge adapter: PutEvents in batches of ten, reporting which events did not make it."""

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from wab import aws, jsoncodec
from wab.models.events import SOURCE
from wab.observability import logger

MAX_ENTRIES_PER_CALL = 10  # PutEvents' limit


class EventPublisher:
    def __init__(self, bus_name: str):
        self.bus_name = bus_name

    def publish(self, events: dict[str, tuple[str, dict[str, Any]]]) -> list[str]:
        """Publish `{key: (detail_type, detail)}`; return the keys of the events that failed (empty when all went)."""
        keys = list(events)
        failed: list[str] = []
        for start in range(0, len(keys), MAX_ENTRIES_PER_CALL):
            chunk = keys[start : start + MAX_ENTRIES_PER_CALL]
            entries = [
                {
                    "Source": SOURCE,
                    "DetailType": events[key][0],
                    "Detail": jsoncodec.encode(events[key][1]),
                    "EventBusName": self.bus_name,
                }
                for key in chunk
            ]
            try:
                response = aws.client("events").put_events(Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("PutEvents failed", extra={"error": type(exc).__name__, "events": len(chunk)})
                failed.extend(chunk)
                continue
            if response.get("FailedEntryCount"):
                for key, result in zip(chunk, response["Entries"]):
                    if result.get("ErrorCode"):
                        logger.warning("event not published", extra={"error": result["ErrorCode"], "key": key})
                        failed.append(key)
        return failed
