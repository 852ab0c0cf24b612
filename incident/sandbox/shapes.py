"""Orders as Amazon's APIs state them: Orders 2026-01-01 (with the includedData asked for) and
Orders v0 (the order and its items). A Pending order hides its prices, as Amazon's does."""

from __future__ import annotations

from incident.sandbox.scenario import Order
from incident.sandbox.wire import STATUS_2026, iso


def order_2026(order: Order, included: set[str]) -> dict:
    hidden = order.status == "Pending"
    items = []
    for item in order.items:
        line = item.product.price * item.quantity
        entry = {"orderItemId": item.order_item_id, "quantityOrdered": item.quantity,
                 "product": {"asin": item.product.asin, "title": item.product.name,
                             "sellerSku": item.product.sku}}
        if not hidden:
            entry["product"]["price"] = {"unitPrice": {"amount": str(item.product.price),
                                                       "currencyCode": order.marketplace.currency}}
        if "PROCEEDS" in included and not hidden:
            breakdowns = [{"type": "ITEM", "subtotal": {"amount": str(line), "currencyCode": order.marketplace.currency}}]
            if item.discount:
                breakdowns.append({"type": "DISCOUNT", "subtotal": {"amount": str(-item.discount),
                                                                    "currencyCode": order.marketplace.currency}})
            entry["proceeds"] = {"proceedsTotal": {"amount": str(line - item.discount),
                                                   "currencyCode": order.marketplace.currency},
                                 "breakdowns": breakdowns}
        if "PROMOTION" in included and item.promotion_ids and not hidden:
            entry["promotion"] = {"breakdowns": [{"promotionId": p} for p in item.promotion_ids.split()]}
        if "FULFILLMENT" in included:
            shipped = item.quantity if item.status == "Shipped" else 0
            entry["fulfillment"] = {"quantityFulfilled": shipped, "quantityUnfulfilled": item.quantity - shipped}
        if "CANCELLATION" in included and item.status == "Cancelled":
            entry["cancellation"] = {"cancellationExecution": {"cancelledBy": "MERCHANT"}}
        items.append(entry)
    result = {"orderId": order.order_id, "createdTime": iso(order.purchase_date),
              "lastUpdatedTime": iso(order.last_updated),
              "salesChannel": {"channelName": "AMAZON", "marketplaceId": order.marketplace.marketplace_id,
                               "marketplaceName": order.marketplace.sales_channel},
              "fulfillment": {"fulfillmentStatus": STATUS_2026[order.status],
                              "fulfilledBy": "MERCHANT" if order.channel == "Merchant" else "AMAZON"},
              "orderItems": items}
    if "BUYER" in included:
        result["buyer"] = {"buyerName": order.buyer_name, "buyerEmail": order.buyer_email}
    if "RECIPIENT" in included:
        result["recipient"] = {"deliveryAddress": {"countryCode": order.marketplace.code.replace("UK", "GB"),
                                                   "city": order.city, "postalCode": order.postal_code}}
    return result

def order_v0(order: Order) -> dict:
    return {"AmazonOrderId": order.order_id, "PurchaseDate": iso(order.purchase_date),
            "LastUpdateDate": iso(order.last_updated), "OrderStatus": order.status,
            "FulfillmentChannel": "MFN" if order.channel == "Merchant" else "AFN",
            "SalesChannel": order.marketplace.sales_channel,
            "MarketplaceId": order.marketplace.marketplace_id,
            "NumberOfItemsUnshipped": sum(i.quantity for i in order.items if i.status != "Shipped")}

def items_v0(order: Order) -> list[dict]:
    hidden = order.status == "Pending"
    result = []
    for item in order.items:
        entry = {"OrderItemId": item.order_item_id, "SellerSKU": item.product.sku, "ASIN": item.product.asin,
                 "Title": item.product.name, "QuantityOrdered": item.quantity,
                 "QuantityShipped": item.quantity if item.status == "Shipped" else 0,
                 "PromotionIds": item.promotion_ids.split() if item.promotion_ids and not hidden else []}
        if not hidden:
            currency = order.marketplace.currency
            entry["ItemPrice"] = {"CurrencyCode": currency, "Amount": str(item.product.price * item.quantity)}
            entry["PromotionDiscount"] = {"CurrencyCode": currency, "Amount": str(item.discount)}
        result.append(entry)
    return result
