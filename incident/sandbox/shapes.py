"""Orders as Amazon's APIs state them: Orders 2026-01-01 (with the includedData asked for) and
Orders v0 (the order and its items). A Pending order hides its prices, as Amazon's does."""

from __future__ import annotations

from decimal import Decimal

from incident.sandbox.scenario import Item, Order
from incident.sandbox.wire import STATUS_2026, STATUS_V0, iso


def _money(amount: Decimal, currency: str) -> dict:
    return {"amount": str(amount), "currencyCode": currency}


def _proceeds(item: Item, currency: str) -> dict:
    """ItemProceeds as the model's examples add it up: proceedsTotal is the sum of the breakdowns'
    subtotals, so a DISCOUNT is negative. One DISCOUNT breakdown per promotion, each split into
    its ITEM and SHIPPING parts; TAX split by what it is on."""
    line = item.product.price * item.quantity
    breakdowns = [{"type": "ITEM", "subtotal": _money(line, currency)}]
    if item.shipping:
        breakdowns.append({"type": "SHIPPING", "subtotal": _money(item.shipping, currency)})
    if item.gift_wrap:
        breakdowns.append({"type": "GIFT_WRAP", "subtotal": _money(item.gift_wrap, currency)})
    taxes = [("ITEM", item.tax), ("SHIPPING", item.shipping_tax), ("GIFT_WRAP", item.gift_wrap_tax)]
    if any(amount for _, amount in taxes):
        breakdowns.append({"type": "TAX", "subtotal": _money(sum(a for _, a in taxes), currency),
                           "detailedBreakdowns": [{"subtype": kind, "value": _money(amount, currency)}
                                                  for kind, amount in taxes if amount]})
    parts = [[("ITEM", part)] for part in item.discount_parts or ([item.discount] if item.discount else [])]
    if item.shipping_discount:
        if parts:  # the first promotion also gives free shipping
            parts[0].append(("SHIPPING", item.shipping_discount))
        else:
            parts.append([("SHIPPING", item.shipping_discount)])
    for part in parts:
        breakdowns.append({"type": "DISCOUNT", "subtotal": _money(-sum(a for _, a in part), currency),
                           "detailedBreakdowns": [{"subtype": kind, "value": _money(-amount, currency)}
                                                  for kind, amount in part]})
    total = sum(Decimal(b["subtotal"]["amount"]) for b in breakdowns)
    return {"proceedsTotal": _money(total, currency), "breakdowns": breakdowns}


def _cancellation(item: Item) -> dict | None:
    result = {}
    if item.cancel_request:
        result["cancellationRequest"] = {"requester": "BUYER", "cancelReason": item.cancel_request}
    if item.status == "Cancelled":
        execution = {"cancelledBy": item.cancelled_by or "MERCHANT"}
        if item.cancelled_by == "BUYER":
            execution["cancelReason"] = "Buyer requested cancellation"
        result["cancellationExecution"] = execution
    return result or None


def order_2026(order: Order, included: set[str], delivery_role: bool = True) -> dict:
    """`delivery_role`: the app has Amazon's Direct-to-Consumer Delivery role; without it the
    buyer is absent and the address is the city and country only."""
    hidden = order.status == "Pending"
    currency = order.marketplace.currency
    items = []
    for item in order.items:
        entry = {"orderItemId": item.order_item_id, "quantityOrdered": item.quantity,
                 "product": {"asin": item.product.asin, "title": item.product.name,
                             "sellerSku": item.product.sku}}
        if not hidden:
            entry["product"]["price"] = {"unitPrice": _money(item.product.price, currency)}
        if "PROCEEDS" in included and not hidden:
            entry["proceeds"] = _proceeds(item, currency)
        if "PROMOTION" in included and item.promotion_ids and not hidden:
            entry["promotion"] = {"breakdowns": [{"promotionId": p} for p in item.promotion_ids.split()]}
        if "FULFILLMENT" in included:
            shipped = item.quantity if item.status == "Shipped" else 0
            entry["fulfillment"] = {"quantityFulfilled": shipped, "quantityUnfulfilled": item.quantity - shipped}
        cancellation = _cancellation(item) if "CANCELLATION" in included else None
        if cancellation:
            entry["cancellation"] = cancellation
        items.append(entry)
    result = {"orderId": order.order_id, "createdTime": iso(order.purchase_date),
              "lastUpdatedTime": iso(order.last_updated),
              "salesChannel": {"channelName": "AMAZON", "marketplaceId": order.marketplace.marketplace_id,
                               "marketplaceName": order.marketplace.sales_channel},
              "orderItems": items}
    if "FULFILLMENT" in included:
        result["fulfillment"] = {"fulfillmentStatus": STATUS_2026[order.status],
                                 "fulfilledBy": "MERCHANT" if order.channel == "Merchant" else "AMAZON"}
    if "PROCEEDS" in included and not hidden:
        totals: dict[str, Decimal] = {}
        for entry in items:
            for part in entry["proceeds"]["breakdowns"]:
                totals[part["type"]] = totals.get(part["type"], Decimal(0)) + Decimal(part["subtotal"]["amount"])
        result["proceeds"] = {"grandTotal": _money(sum(totals.values(), Decimal(0)), currency),
                              "breakdowns": [{"type": kind, "subtotal": _money(amount, currency)}
                                             for kind, amount in totals.items()]}
    if "BUYER" in included and delivery_role:
        result["buyer"] = {"buyerName": order.buyer_name}
        if order.channel == "Merchant":  # the model: buyerEmail only for seller-fulfilled orders
            result["buyer"]["buyerEmail"] = order.buyer_email
    if "RECIPIENT" in included:
        address = {"countryCode": order.marketplace.code.replace("UK", "GB"), "city": order.city}
        if delivery_role:
            address.update(name=order.buyer_name, addressLine1="1 Example Street", postalCode=order.postal_code)
        result["recipient"] = {"deliveryAddress": address}
    return result


def order_v0(order: Order) -> dict:
    return {"AmazonOrderId": order.order_id, "PurchaseDate": iso(order.purchase_date),
            "LastUpdateDate": iso(order.last_updated), "OrderStatus": STATUS_V0.get(order.status, order.status),
            "FulfillmentChannel": "MFN" if order.channel == "Merchant" else "AFN",
            "SalesChannel": order.marketplace.sales_channel,
            "MarketplaceId": order.marketplace.marketplace_id,
            "NumberOfItemsUnshipped": sum(i.quantity for i in order.items if i.status != "Shipped")}


def items_v0(order: Order) -> list[dict]:
    hidden = order.status == "Pending"
    currency = order.marketplace.currency
    result = []
    for item in order.items:
        entry = {"OrderItemId": item.order_item_id, "SellerSKU": item.product.sku, "ASIN": item.product.asin,
                 "Title": item.product.name, "QuantityOrdered": item.quantity,
                 "QuantityShipped": item.quantity if item.status == "Shipped" else 0,
                 "PromotionIds": item.promotion_ids.split() if item.promotion_ids and not hidden else []}
        if not hidden:
            for key, amount in (("ItemPrice", item.product.price * item.quantity), ("ItemTax", item.tax),
                                ("ShippingPrice", item.shipping), ("ShippingTax", item.shipping_tax),
                                ("ShippingDiscount", item.shipping_discount), ("PromotionDiscount", item.discount)):
                entry[key] = {"CurrencyCode": currency, "Amount": str(amount)}
        if item.cancel_request and item.status != "Cancelled":
            entry["BuyerRequestedCancel"] = {"IsBuyerRequestedCancel": "true", "BuyerCancelReason": item.cancel_request}
        result.append(entry)
    return result
