"""A customer's edit or deletion of a message they sent (`wab.edits` applies them)."""

from typing import Any, Literal

from wab.models.inbound import InboundBase, WhatsAppId, typed_or_kept, untyped
from wab.models.types import OpenModel

CHANGES = ("edit", "revoke")


class Edit(OpenModel):
    """The customer edited a message they had sent (text, or a caption): `message` is its new content, a message
    object without `from`, `id` and `timestamp` (WhatsApp sends `edit` webhooks within 15 minutes of the original)."""

    original_message_id: WhatsAppId
    message: Any = None


class EditMessage(InboundBase):
    type: Literal["edit"]
    edit: Edit

    def new_message(self) -> "InboundBase":
        """The edited message's new content, typed, or kept whole with the reason when the models cannot type it."""
        content = self.edit.message
        if not isinstance(content, dict):
            return untyped(content, "edit.message is not a WhatsApp message object (a JSON object)")
        refused = None
        if content.get("type") in CHANGES:  # taken as one, it would make the edited message an edit or a deletion
            refused = f"edit.message is itself a change ({content['type']}), not a message's content"
        return typed_or_kept(content, where="edit.message", refused=refused)

    def as_content(self) -> dict[str, Any]:
        """The edit as its own record keeps it: which message it edits, not the new content (that goes on the
        edited message's record, and leaves the store with it when the customer deletes the message)."""
        content = super().as_content()
        content["edit"].pop("message", None)
        return content


class Revoke(OpenModel):
    """The customer deleted a message they had sent, for everyone (within two days of sending it)."""

    original_message_id: WhatsAppId


class RevokeMessage(InboundBase):
    type: Literal["revoke"]
    revoke: Revoke
