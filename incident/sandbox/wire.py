"""What the simulator's answers share: Amazon's error body, times as Amazon writes them, a
document's answer, the cancellation feed type, order states and reason codes."""

from __future__ import annotations

from datetime import UTC, datetime

CANCEL_FEED = "POST_FLAT_FILE_ORDER_ACKNOWLEDGEMENT_DATA"
STATUS_2026 = {"Pending": "PENDING", "Unshipped": "UNSHIPPED", "PartiallyShipped": "PARTIALLY_SHIPPED",
                "Shipped": "SHIPPED", "Cancelled": "CANCELLED"}
STATUS_V0 = {"Cancelled": "Canceled"}  # Orders v0 spells it with one l
REASONS = {"PricingError", "GeneralAdjustment", "NoInventory", "ShippingAddressUndeliverable",
            "CustomerExchange", "CustomerReturn", "MerchandiseNotReceived", "BuyerCanceled"}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def error(code: str, message: str) -> dict:
    return {"errors": [{"code": code, "message": message, "details": ""}]}


def document_answer(sim, document_id: str, prefix: str, id_key: str) -> tuple[int, dict]:
    """A report's or a feed's document: where to download it, and whether it is compressed."""
    if document_id not in sim.documents or not document_id.startswith(prefix):
        return 404, error("NotFound", "Document not found.")
    result = {id_key: document_id, "url": f"{sim.url}/_documents/{document_id}"}
    if sim.documents[document_id][2]:
        result["compressionAlgorithm"] = "GZIP"
    return 200, result
