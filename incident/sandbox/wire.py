"""What the simulator's answers share: Amazon's error body, times as Amazon writes them, the
cancellation feed type, order states and reason codes."""

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
