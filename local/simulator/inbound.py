"""Inbound (MO) messages as WhatsApp writes them, for every message type a customer can send."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

from local.simulator.media import new_media_id


def new_wamid() -> str:
    return f"wamid.{uuid.uuid4()}"


def _media_object(mime_type: str, caption: str | None = None, **extra: Any) -> dict[str, Any]:
    media = {"id": new_media_id(), "mime_type": mime_type, "sha256": hashlib.sha256(uuid.uuid4().bytes).hexdigest()}
    if caption:
        media["caption"] = caption
    media.update(extra)
    return media


def inbound_message(kind: str, sender: str, business: str, options: dict[str, Any], now: float) -> dict[str, Any]:
    """A realistic WhatsApp inbound message object of type `kind` (any string: unknown kinds get a generic object).

    `options` may hold `text` (text body or caption; an edit's new text), `message_id` (the message a reaction or
    button answers), `original_id` (the WhatsApp id of the message an edit or revoke changes) and `interactive_type`
    ("button_reply" or "list_reply").
    """
    text = options.get("text")
    replied_to = options.get("message_id") or new_wamid()
    # The provider's own mock serialises absent objects as nulls (see its GET /messages MO example).
    message: dict[str, Any] = {
        "errors": None,
        "from": sender,
        "id": new_wamid(),
        "order": None,
        "reaction": None,
        "timestamp": str(int(now)),
        "type": kind,
    }
    if kind == "text":
        message["text"] = {"preview_url": False, "body": text or "Hello from the provider simulator"}
    elif kind == "image":
        message["image"] = _media_object("image/jpeg", text)
    elif kind == "video":
        message["video"] = _media_object("video/mp4", text)
    elif kind == "audio":
        message["audio"] = _media_object("audio/ogg; codecs=opus", voice=True)
    elif kind == "document":
        message["document"] = _media_object("application/pdf", text, filename="invoice-1042.pdf")
    elif kind == "sticker":
        message["sticker"] = _media_object("image/webp", animated=False)
    elif kind == "location":
        message["location"] = {
            "latitude": -36.8484597,
            "longitude": 174.7633315,
            "name": "Sky Tower",
            "address": "Victoria Street West, Auckland 1010",
        }
    elif kind == "contacts":
        message["contacts"] = [
            {
                "name": {"formatted_name": "Aroha Ngata", "first_name": "Aroha", "last_name": "Ngata"},
                "phones": [{"phone": "+64 21 555 0199", "wa_id": "64215550199", "type": "CELL"}],
                "emails": [{"email": "aroha@example.co.nz", "type": "WORK"}],
            }
        ]
    elif kind == "interactive":
        message["interactive"] = _interactive_reply(options.get("interactive_type", "button_reply"))
        message["context"] = {"from": business, "id": replied_to}
    elif kind == "button":
        message["button"] = {"payload": "STOP_PROMOTIONS", "text": text or "Stop promotions"}
        message["context"] = {"from": business, "id": replied_to}
    elif kind == "reaction":
        message["reaction"] = {"message_id": replied_to, "emoji": text or "\U0001f44d"}
    elif kind == "order":
        message["order"] = {
            "catalog_id": "1234567890123456",
            "text": text or "Please deliver before Friday",
            "product_items": [_order_item("SKU-TEE-BLK-M", 2, 29.9), _order_item("SKU-CAP-RED", 1, 19.5)],
        }
    elif kind == "system":
        new_number = "64219998877"
        message["system"] = {
            "type": "user_changed_number",
            "new_wa_id": new_number,
            "body": f"User {sender} changed from {sender} to +{new_number}",
        }
    elif kind == "unsupported":
        message["errors"] = [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ]
    elif kind == "edit":  # the customer edits a message they sent: the new content, without from, id and timestamp
        message["edit"] = {
            "original_message_id": options.get("original_id") or new_wamid(),
            "message": {"type": "text", "text": {"body": text or "Hello from the provider simulator (edited)"}},
        }
    elif kind == "revoke":  # the customer deletes a message they sent, for everyone
        message["revoke"] = {"original_message_id": options.get("original_id") or new_wamid()}
    elif kind != "request_welcome":  # request_welcome carries no object of its own
        message[kind] = {"note": "a message type the simulator does not know", "text": text}
    return message


def _order_item(sku: str, quantity: int, price: float) -> dict[str, Any]:
    return {"product_retailer_id": sku, "quantity": quantity, "item_price": price, "currency": "NZD"}


def _interactive_reply(reply_type: str) -> dict[str, Any]:
    if reply_type == "list_reply":
        return {
            "type": "list_reply",
            "list_reply": {"id": "slot-tomorrow-9", "title": "Tomorrow 9am", "description": "Courier arrives 9-10am"},
        }
    return {"type": "button_reply", "button_reply": {"id": "confirm-delivery", "title": "Confirm"}}


def encode_mo_content(content: Any, *, as_string: bool, base64_encoded: bool) -> tuple[Any, dict[str, Any]]:
    """The callback's `content` and any extra envelope keys, in the spelling the MO request asked for."""
    if base64_encoded:
        raw = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
        return base64.b64encode(raw.encode()).decode(), {"encoding": "base64"}
    if as_string and not isinstance(content, str):
        return json.dumps(content, ensure_ascii=False), {}
    return content, {}
