"""Details of the events the gateway publishes on EventBridge (source `wab.gateway`), by subject, each subject in a
module of its own so that a function builds the models of the events it publishes only: `inbound` (what customers
send: a message, an edit, a deletion), `status` (delivery reports), `sending` (what became of a command),
`contacts` (opt-outs, opt-ins, erasures) and `catalogue` (a run-time update of the template catalogue)."""

from typing import Any, ClassVar

from wab.models.types import Model

SOURCE = "wab.gateway"
RECEIVED = "WhatsApp Message Received"  # `inbound.MessageReceived`: outboxes build it from its record (`wab.outbox`)


class EventDetail(Model):
    detail_type: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)
