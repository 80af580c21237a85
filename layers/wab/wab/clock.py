"""Time in one format: ISO 8601 UTC with microseconds, so records sort by creation time as strings."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_epoch_seconds(value: str | int | None) -> datetime | None:
    """WhatsApp's `timestamp` (epoch seconds, usually a string); None when absent or not a plausible time."""
    try:
        seconds = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not 0 < seconds < 32503680000:  # before year 3000
        return None
    return datetime.fromtimestamp(seconds, UTC)


def from_iso(text: str) -> datetime:
    """A time written by `iso` (or any ISO 8601 time with an offset or "Z"), as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
