"""API orders (Orders 2026-01-01 and v0) turned into the report-shaped lines the merge takes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from incident.amazon.reports import ReportLine
from incident.timeutil import iso_utc, parse_iso

_STATUS = {"PENDING": "Pending", "PENDING_AVAILABILITY": "PendingAvailability", "UNSHIPPED": "Unshipped",
           "PARTIALLY_SHIPPED": "PartiallyShipped", "SHIPPED": "Shipped", "CANCELLED": "Cancelled",
           "UNFULFILLABLE": "Unfulfillable", "Canceled": "Cancelled"}


def _money(value: Any) -> Decimal | None:
    if not value or value.get("amount") in (None, ""):
        return None
    return Decimal(str(value["amount"]))


def lines_from_2026(order: dict, skus: set[str]) -> list[ReportLine]:
    result, seen = [], {}
    fulfillment = order.get("fulfillment") or {}
    buyer = order.get("buyer") or {}
    for item in order.get("orderItems") or []:
        product = item.get("product") or {}
        sku = product.get("sellerSku")
        if sku not in skus:
            continue
        unit = _money((product.get("price") or {}).get("unitPrice"))
        quantity = int(item.get("quantityOrdered") or 0)
        discount = None
        for part in (item.get("proceeds") or {}).get("breakdowns") or []:
            if part.get("type") == "DISCOUNT":
                discount = abs(_money(part.get("subtotal")) or Decimal(0))
        promotions = [p.get("promotionId") for p in (item.get("promotion") or {}).get("breakdowns") or []]
        item_fulfillment = item.get("fulfillment") or {}
        fields = {
            "order_item_id": item.get("orderItemId"), "asin": product.get("asin"),
            "product_name": product.get("title"),
            "purchase_date": iso_utc(parse_iso(order["createdTime"])),
            "last_updated": iso_utc(parse_iso(order.get("lastUpdatedTime") or order["createdTime"])),
            "order_status": _STATUS.get(fulfillment.get("fulfillmentStatus"), fulfillment.get("fulfillmentStatus")),
            "item_status": "Cancelled" if item.get("cancellation") else None,
            "fulfillment_channel": {"MERCHANT": "Merchant", "AMAZON": "Amazon"}.get(fulfillment.get("fulfilledBy")),
            "sales_channel": (order.get("salesChannel") or {}).get("marketplaceName"),
            "quantity": quantity, "quantity_shipped": item_fulfillment.get("quantityFulfilled"),
            "currency": ((product.get("price") or {}).get("unitPrice") or {}).get("currencyCode"),
            "item_price": unit * quantity if unit is not None else None,
            "item_promotion_discount": discount,
            "promotion_ids": " ".join(p for p in promotions if p) or None,
            "ship_country": (((order.get("recipient") or {}).get("deliveryAddress")) or {}).get("countryCode"),
            "buyer_email": buyer.get("buyerEmail"), "buyer_name": buyer.get("buyerName"),
        }
        seq = seen.get(sku, 0)
        seen[sku] = seq + 1
        result.append(ReportLine(order["orderId"], sku, seq, fields))
    return result


def lines_from_v0(order: dict, items: list[dict], skus: set[str]) -> list[ReportLine]:
    result, seen = [], {}
    for item in items:
        sku = item.get("SellerSKU")
        if sku not in skus:
            continue
        price = item.get("ItemPrice") or {}
        discount = item.get("PromotionDiscount") or {}
        fields = {
            "order_item_id": item.get("OrderItemId"), "asin": item.get("ASIN"), "product_name": item.get("Title"),
            "purchase_date": iso_utc(parse_iso(order["PurchaseDate"])),
            "last_updated": iso_utc(parse_iso(order.get("LastUpdateDate") or order["PurchaseDate"])),
            "order_status": _STATUS.get(order.get("OrderStatus"), order.get("OrderStatus")),
            "fulfillment_channel": {"MFN": "Merchant", "AFN": "Amazon"}.get(order.get("FulfillmentChannel")),
            "sales_channel": order.get("SalesChannel"), "quantity": int(item.get("QuantityOrdered") or 0),
            "quantity_shipped": item.get("QuantityShipped"), "currency": price.get("CurrencyCode"),
            "item_price": Decimal(price["Amount"]) if price.get("Amount") else None,
            "item_promotion_discount": abs(Decimal(discount["Amount"])) if discount.get("Amount") else None,
            "promotion_ids": " ".join(item.get("PromotionIds") or []) or None,
        }
        seq = seen.get(sku, 0)
        seen[sku] = seq + 1
        result.append(ReportLine(order["AmazonOrderId"], sku, seq, fields))
    return result


def needs_item_codes(fields: dict) -> bool:
    """Lines the cancellation needs the order itself for: seller-fulfilled and not yet shipped."""
    return fields.get("fulfillment_channel") == "Merchant" and fields.get("order_status") in (
        "Pending", "Unshipped", "PartiallyShipped", None)

