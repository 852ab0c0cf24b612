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


def _add(totals: dict[str, Decimal], key: str, amount: Decimal | None) -> None:
    if amount is not None:
        totals[key] = totals.get(key, Decimal(0)) + amount


def proceeds_2026(item: dict) -> dict[str, Decimal | None]:
    """An item's money from its Orders 2026-01-01 proceeds breakdowns, as the All Orders report's
    columns hold it (magnitudes). Every breakdown of a type counts, not the last one: an item
    with a promo code and a coupon has two DISCOUNT breakdowns. A breakdown split into
    detailedBreakdowns is read by subtype, so the shipping part of a discount or a tax is the
    shipping's, not the item's; one without them belongs to the item."""
    totals: dict[str, Decimal] = {}
    for part in (item.get("proceeds") or {}).get("breakdowns") or []:
        kind = part.get("type")
        if kind not in ("ITEM", "SHIPPING", "GIFT_WRAP", "TAX", "DISCOUNT"):
            continue
        details = part.get("detailedBreakdowns") or []
        if kind in ("TAX", "DISCOUNT") and details:
            for detail in details:
                _add(totals, f"{kind}/{detail.get('subtype') or 'ITEM'}", _money(detail.get("value")))
        else:
            _add(totals, f"{kind}/ITEM" if kind in ("TAX", "DISCOUNT") else kind, _money(part.get("subtotal")))
    magnitude = lambda key: abs(totals[key]) if key in totals else None
    return {"item_price": totals.get("ITEM"), "shipping_price": totals.get("SHIPPING"),
            "gift_wrap_price": totals.get("GIFT_WRAP"), "item_tax": magnitude("TAX/ITEM"),
            "shipping_tax": magnitude("TAX/SHIPPING"), "gift_wrap_tax": magnitude("TAX/GIFT_WRAP"),
            "item_promotion_discount": magnitude("DISCOUNT/ITEM"),
            "ship_promotion_discount": magnitude("DISCOUNT/SHIPPING")}


def cancellation_2026(item: dict) -> dict[str, str | None]:
    """Who cancelled the item (cancellationExecution), and whether the buyer asked to
    (cancellationRequest). A request alone is not a cancellation: the item is still to ship."""
    cancellation = item.get("cancellation") or {}
    execution = cancellation.get("cancellationExecution")
    return {"item_status": "Cancelled" if execution is not None else None,
            "cancelled_by": (execution or {}).get("cancelledBy") or None,
            "cancel_requested": "1" if cancellation.get("cancellationRequest") else ""}


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
        money = proceeds_2026(item)
        if money["item_price"] is None and unit is not None:
            money["item_price"] = unit * quantity
        promotions = [p.get("promotionId") for p in (item.get("promotion") or {}).get("breakdowns") or []]
        item_fulfillment = item.get("fulfillment") or {}
        fields = {
            "order_item_id": item.get("orderItemId"), "asin": product.get("asin"),
            "product_name": product.get("title"),
            "purchase_date": iso_utc(parse_iso(order["createdTime"])),
            "last_updated": iso_utc(parse_iso(order.get("lastUpdatedTime") or order["createdTime"])),
            "order_status": _STATUS.get(fulfillment.get("fulfillmentStatus"), fulfillment.get("fulfillmentStatus")),
            "fulfillment_channel": {"MERCHANT": "Merchant", "AMAZON": "Amazon"}.get(fulfillment.get("fulfilledBy")),
            "sales_channel": (order.get("salesChannel") or {}).get("marketplaceName"),
            "quantity": quantity, "quantity_shipped": item_fulfillment.get("quantityFulfilled"),
            "currency": ((product.get("price") or {}).get("unitPrice") or {}).get("currencyCode"),
            **money,
            "promotion_ids": " ".join(p for p in promotions if p) or None,
            **_address(order),
            "buyer_email": buyer.get("buyerEmail"), "buyer_name": buyer.get("buyerName"),
            **cancellation_2026(item),  # the pull always asks for CANCELLATION: no entry, no cancellation
        }
        seq = seen.get(sku, 0)
        seen[sku] = seq + 1
        result.append(ReportLine(order["orderId"], sku, seq, fields))
    return result


def _address(order: dict) -> dict[str, str | None]:
    """The recipient's address as far as Amazon sends it (name, street and postal code only to an
    app with the Direct-to-Consumer Delivery role): kept for the cards, purged like the reports'."""
    address = ((order.get("recipient") or {}).get("deliveryAddress")) or {}
    fields = {"ship_country": address.get("countryCode")}
    for key, field in (("name", "recipient_name"), ("addressLine1", "ship_address_1"), ("addressLine2", "ship_address_2"),
                       ("addressLine3", "ship_address_3"), ("city", "ship_city"), ("stateOrRegion", "ship_state"),
                       ("postalCode", "ship_postal_code")):
        if address.get(key):
            fields[field] = address[key]
    return fields


def withheld_buyers(orders: list[dict]) -> int:
    """Seller-fulfilled orders Amazon sent without their buyer (the app lacks the role)."""
    return sum(1 for o in orders if (o.get("fulfillment") or {}).get("fulfilledBy") == "MERCHANT" and not o.get("buyer"))


def _amount(value: Any) -> Decimal | None:
    return abs(Decimal(str(value["Amount"]))) if value and value.get("Amount") not in (None, "") else None


def lines_from_v0(order: dict, items: list[dict], skus: set[str]) -> list[ReportLine]:
    result, seen = [], {}
    for item in items:
        sku = item.get("SellerSKU")
        if sku not in skus:
            continue
        price = item.get("ItemPrice") or {}
        buyer_info = item.get("BuyerInfo") or {}  # restricted: present only with a restricted data token
        requested = (item.get("BuyerRequestedCancel") or {}).get("IsBuyerRequestedCancel")
        fields = {
            "order_item_id": item.get("OrderItemId"), "asin": item.get("ASIN"), "product_name": item.get("Title"),
            "purchase_date": iso_utc(parse_iso(order["PurchaseDate"])),
            "last_updated": iso_utc(parse_iso(order.get("LastUpdateDate") or order["PurchaseDate"])),
            "order_status": _STATUS.get(order.get("OrderStatus"), order.get("OrderStatus")),
            "fulfillment_channel": {"MFN": "Merchant", "AFN": "Amazon"}.get(order.get("FulfillmentChannel")),
            "sales_channel": order.get("SalesChannel"), "quantity": int(item.get("QuantityOrdered") or 0),
            "quantity_shipped": item.get("QuantityShipped"), "currency": price.get("CurrencyCode"),
            "item_price": Decimal(price["Amount"]) if price.get("Amount") else None,
            "item_promotion_discount": _amount(item.get("PromotionDiscount")),
            "item_tax": _amount(item.get("ItemTax")), "shipping_price": _amount(item.get("ShippingPrice")),
            "shipping_tax": _amount(item.get("ShippingTax")),
            "ship_promotion_discount": _amount(item.get("ShippingDiscount")),
            "gift_wrap_price": _amount(buyer_info.get("GiftWrapPrice")),
            "gift_wrap_tax": _amount(buyer_info.get("GiftWrapTax")),
            "promotion_ids": " ".join(item.get("PromotionIds") or []) or None,
            "cancel_requested": "1" if str(requested).lower() == "true" else "",
        }
        seq = seen.get(sku, 0)
        seen[sku] = seq + 1
        result.append(ReportLine(order["AmazonOrderId"], sku, seq, fields))
    return result


def needs_item_codes(fields: dict) -> bool:
    """Lines the cancellation needs the order itself for: seller-fulfilled and not yet shipped."""
    return fields.get("fulfillment_channel") == "Merchant" and fields.get("order_status") in (
        "Pending", "Unshipped", "PartiallyShipped", None)

