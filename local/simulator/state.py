"""Everything the simulator remembers (accepted messages, MOs, media, queued ids, contact windows, fault dice),
behind one lock."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.simulator.config import Faults


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def utc_now_iso() -> str:
    """Now, to the microsecond: the order and the rate of accepted messages can be checked from outside."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class MtRecord:
    id: str
    destination: str
    source: str
    type: str
    reference: str
    body: dict[str, Any]
    accepted_at: str
    dlrs: list[dict[str, Any]] = field(default_factory=list)

    def listing(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "destination": self.destination,
            "source": self.source,
            "type": self.type,
            "reference": self.reference,
            "body": self.body,
            "accepted_at": self.accepted_at,
            "dlrs": list(self.dlrs),
        }

    def provider_record(self) -> dict[str, Any]:
        # As the provider shows it: the WhatsApp Cloud API payload it sent on, as a JSON string.
        content = {
            "messaging_product": "whatsapp",
            "to": self.destination,
            "type": self.type,
            self.type: self.body.get(self.type),
            "biz_opaque_callback_data": self.id,
        }
        return {
            "id": self.id,
            "source": self.source,
            "destination": self.destination,
            "direction": "MT",
            "reference": self.reference,
            "content": compact_json(content),
        }


@dataclass
class MoRecord:
    id: str
    source: str
    destination: str
    content: Any

    def provider_record(self) -> dict[str, Any]:
        content = self.content if isinstance(self.content, str) else compact_json(self.content)
        return {
            "id": self.id,
            "source": self.source,
            "destination": self.destination,
            "direction": "MO",
            "reference": "",
            "content": content,
        }


@dataclass(frozen=True)
class DlrStep:
    status: str
    delay: float
    duplicate: bool


class SimulatorState:
    """Everything the simulator remembers; every method takes the one lock."""

    def __init__(self, faults: Faults, max_messages: int):
        self.lock = threading.Lock()
        self._initial_faults = faults
        self._max_messages = max_messages
        self.faults = faults
        self.random = random.Random(faults.seed)
        self.messages: OrderedDict[str, MtRecord] = OrderedDict()
        self.mos: OrderedDict[str, MoRecord] = OrderedDict()
        self.media: dict[str, dict[str, Any]] = {}
        self.queued_ids: deque[str] = deque()
        self.last_inbound: dict[str, float] = {}
        self.fault_answers: Counter[str] = Counter()  # faults actually answered since the last reset
        self.number_tokens: dict[str, tuple[float, float]] = {}  # source -> (tokens, when last counted)
        self.pair_sends: dict[tuple[str, str], deque[float]] = {}  # (source, recipient) -> recent send times

    def chance(self, rate: float) -> bool:
        """True with probability `rate`; caller holds the lock. Rates of 0 and 1 consume no randomness."""
        if rate <= 0:
            return False
        return rate >= 1 or self.random.random() < rate

    def next_id(self) -> str:
        return self.queued_ids.popleft() if self.queued_ids else str(uuid.uuid4())

    def add_message(self, record: MtRecord) -> None:
        self.messages[record.id] = record
        if len(self.messages) > self._max_messages:
            self.messages.popitem(last=False)

    def add_mo(self, record: MoRecord) -> None:
        self.mos[record.id] = record
        if len(self.mos) > self._max_messages:
            self.mos.popitem(last=False)

    def set_faults(self, faults: Faults, reseed: bool) -> None:
        self.faults = faults
        if reseed:
            self.random.seed(faults.seed)

    def take_number_rate(self, source: str, units: int, now: float) -> bool:
        """Take `units` from the number's bucket (`number_rate` a second, one second's burst); caller holds the lock."""
        rate = self.faults.number_rate
        if rate <= 0:
            return True
        tokens, then = self.number_tokens.get(source, (rate, now))
        tokens = min(rate, tokens + (now - then) * rate)
        if tokens < units:
            self.number_tokens[source] = (tokens, now)
            return False
        self.number_tokens[source] = (tokens - units, now)
        return True

    def pair_rate_exceeded(self, source: str, recipients: list[str], now: float) -> bool:
        """Whether any recipient already had `pair_rate_burst` messages in the window; caller holds the lock."""
        window = self.faults.pair_rate_window_seconds
        if window <= 0:
            return False
        for recipient in recipients:
            sends = self.pair_sends.setdefault((source, recipient), deque())
            while sends and sends[0] <= now - window:
                sends.popleft()
            if len(sends) >= self.faults.pair_rate_burst:
                return True
        return False

    def count_pair_sends(self, source: str, recipients: list[str], now: float) -> None:
        if self.faults.pair_rate_window_seconds > 0:
            for recipient in recipients:
                self.pair_sends.setdefault((source, recipient), deque()).append(now)

    def reset(self) -> None:
        self.number_tokens.clear()
        self.pair_sends.clear()
        self.messages.clear()
        self.mos.clear()
        self.media.clear()
        self.queued_ids.clear()
        self.last_inbound.clear()
        self.fault_answers.clear()
        self.set_faults(self._initial_faults, reseed=True)
