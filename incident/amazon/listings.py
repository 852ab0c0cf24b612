"""Stop the bleeding: set seller-fulfilled SKUs to quantity 0 through Listings Items
patchListingsItem, keeping the previous quantity so `--undo` can put it back. FBA stock and
coupons or promotions have no such API: the manager gets the Seller Central steps instead."""

from __future__ import annotations

from dataclasses import dataclass, field

from incident.amazon.spapi import Connection
from incident.errors import UsageError
from incident.timeutil import iso_utc, now_utc
from incident.workspace.store import Store

STOP_COMMAND = "stop-sales"
MANUAL_STEPS = [
    "Advertising > Promotions > Manage Promotions: end the promo code (Actions > End promotion).",
    "Advertising > Coupons: select the coupon > Deactivate.",
    "Advertising > Deals: cancel any Lightning or Best Deal on these products.",
    "FBA SKUs: Inventory > Manage All Inventory > Edit > close the listing (Amazon holds the stock; "
    "the quantity cannot be set to 0 for FBA).",
]


@dataclass
class StopResult:
    changed: list[tuple[str, int, int]] = field(default_factory=list)  # sku, before, after
    fba_skus: list[str] = field(default_factory=list)


def _patch(sku: str, quantity: int) -> dict:
    return {"productType": "PRODUCT", "patches": [{
        "op": "replace", "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]}]}


def stop_sales(store: Store, connection: Connection, who: str, undo: bool = False) -> StopResult:
    from sp_api.api import ListingsItems

    seller = connection.settings.seller_id
    if not seller:
        raise UsageError("no seller id: set INCIDENT_SELLER_ID or `seller_id` under [spapi] in incident.toml "
                         "(Seller Central > Settings > Account Info > Merchant Token)")
    listings = connection.client(ListingsItems)
    incident = store.incident()
    result = StopResult()
    sold_by_amazon = {line.sku for line in store.lines() if (line.fulfillment_channel or "").lower() == "amazon"}
    saved = {row["sku"]: row for row in store.conn.execute("SELECT * FROM stop_sales")}
    for sku in incident.skus:
        if sku in sold_by_amazon:  # FBA orders: only the promotion's deactivation (by hand) stops them
            result.fba_skus.append(sku)
        if undo:
            row = saved.get(sku)
            if row is None or row["restored_at"]:
                continue
            connection.call("patchListingsItem", listings.patch_listings_item, seller, sku,
                            body=_patch(sku, row["previous_quantity"]), marketplaceIds=[connection.settings.marketplace.marketplace_id])
            with store.change(who, "stop_sales_undo", {"sku": sku, "quantity": row["previous_quantity"]}) as conn:
                conn.execute("UPDATE stop_sales SET restored_at = ? WHERE sku = ?", (iso_utc(now_utc()), sku))
            result.changed.append((sku, 0, row["previous_quantity"]))
            continue
        current = connection.call("getListingsItem", listings.get_listings_item, seller, sku,
                                  includedData=["fulfillmentAvailability"]).payload
        quantity = next((int(a.get("quantity") or 0) for a in current.get("fulfillmentAvailability") or []
                         if a.get("fulfillmentChannelCode") == "DEFAULT"), None)
        if quantity is None:  # no seller-fulfilled offer for this SKU
            if sku not in result.fba_skus:
                result.fba_skus.append(sku)
            continue
        if quantity == 0 and sku in saved and not saved[sku]["restored_at"]:
            continue  # already stopped by us: keep the quantity we saved the first time
        connection.call("patchListingsItem", listings.patch_listings_item, seller, sku, body=_patch(sku, 0),
                        marketplaceIds=[connection.settings.marketplace.marketplace_id])
        with store.change(who, "stop_sales", {"sku": sku, "previous_quantity": quantity}) as conn:
            conn.execute("INSERT INTO stop_sales (sku, previous_quantity, at) VALUES (?, ?, ?) "
                         "ON CONFLICT (sku) DO UPDATE SET previous_quantity = excluded.previous_quantity, "
                         "at = excluded.at, restored_at = NULL", (sku, quantity, iso_utc(now_utc())))
        result.changed.append((sku, quantity, 0))
    return result
