"""Stop the bleeding: set seller-fulfilled SKUs to quantity 0 through Listings Items
patchListingsItem, keeping the previous quantity so `--undo` can put it back. Amazon's answer is
read, not trusted blindly: `status` ACCEPTED or INVALID with its `issues`, then getListingsItem
confirms the quantity. One run at a time (the `stop-sales` claim). FBA stock and coupons or
promotions have no such API: the manager gets the Seller Central steps instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from incident.amazon.spapi import ApiError, Connection, LoginRefused
from incident.errors import UsageError
from incident.timeutil import iso_utc, now_utc
from incident.workspace.leases import claim
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
class SkuOutcome:
    sku: str
    state: str  # stopped, restored, already_stopped, not_applied, failed, fba
    before: int | None = None
    after: int | None = None
    message: str = ""


@dataclass
class StopResult:
    skus: list[SkuOutcome] = field(default_factory=list)
    fba_skus: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[tuple[str, int | None, int | None]]:
        return [(o.sku, o.before, o.after) for o in self.skus if o.state in ("stopped", "restored")]

    @property
    def failed(self) -> list[SkuOutcome]:
        return [o for o in self.skus if o.state in ("failed", "not_applied")]


def _patch(product_type: str, quantity: int) -> dict:
    return {"productType": product_type, "patches": [{
        "op": "replace", "path": "/attributes/fulfillment_availability",
        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]}]}


class _Listings:
    """The Listings Items calls for one seller and marketplace, read as Amazon's model answers."""

    def __init__(self, connection: Connection):
        from sp_api.api import ListingsItems

        self.connection = connection
        self.client = connection.client(ListingsItems)
        self.seller = connection.settings.seller_id
        self.market = [connection.settings.marketplace.marketplace_id]

    def read(self, sku: str) -> tuple[int | None, str]:
        """(the seller-fulfilled quantity, None without a seller-fulfilled offer; the product type)."""
        item = self.connection.call("getListingsItem", self.client.get_listings_item, self.seller, sku,
                                    marketplaceIds=self.market,
                                    includedData=["summaries", "fulfillmentAvailability", "productTypes"]).payload
        quantity = next((int(a.get("quantity") or 0) for a in item.get("fulfillmentAvailability") or []
                         if a.get("fulfillmentChannelCode") == "DEFAULT"), None)
        types = [t.get("productType") for t in (item.get("productTypes") or []) + (item.get("summaries") or [])]
        return quantity, next((t for t in types if t), "PRODUCT")

    def patch(self, sku: str, product_type: str, quantity: int) -> str | None:
        """Set the quantity; None when Amazon accepted it, else what it said was wrong."""
        answer = self.connection.call("patchListingsItem", self.client.patch_listings_item, self.seller, sku,
                                      body=_patch(product_type, quantity), marketplaceIds=self.market).payload
        errors = [f"{i.get('code')}: {i.get('message')}" for i in answer.get("issues") or []
                  if i.get("severity") == "ERROR"]
        if answer.get("status") != "ACCEPTED" or errors:
            return f"Amazon answered {answer.get('status') or 'no status'}" + (f": {'; '.join(errors)}" if errors else "")
        return None

    def confirm(self, sku: str, quantity: int, tries: int = 3) -> int | None:
        """The quantity Amazon shows once the accepted patch applies (it queues them)."""
        for attempt in range(tries):
            shown, _ = self.read(sku)
            if shown == quantity or attempt == tries - 1:
                return shown
            self.connection.clock.sleep(5.0)
        return None


def stop_sales(store: Store, connection: Connection, who: str, undo: bool = False) -> StopResult:
    """Quantity 0 for the scope's seller-fulfilled SKUs (or back, `undo`). Each SKU on its own:
    one that fails never stops the others; the result says per SKU what happened."""
    if not connection.settings.seller_id:
        raise UsageError("no seller id: set INCIDENT_SELLER_ID or `seller_id` under [spapi] in incident.toml "
                         "(Seller Central > Settings > Account Info > Merchant Token)")
    with claim(store, "stop-sales", who, "incident stop-sales"):
        listings = _Listings(connection)
        result = StopResult()
        sold_by_amazon = {line.sku for line in store.lines() if (line.fulfillment_channel or "").lower() == "amazon"}
        saved = {row["sku"]: row for row in store.conn.execute("SELECT * FROM stop_sales")}
        for sku in store.incident().skus:
            if sku in sold_by_amazon:  # FBA orders: only the promotion's deactivation (by hand) stops them
                result.fba_skus.append(sku)
            try:
                outcome = _undo(store, listings, who, sku, saved.get(sku)) if undo else \
                    _stop(store, listings, who, sku, saved.get(sku))
            except LoginRefused:
                raise
            except ApiError as exc:
                known = "" if exc.status != 404 else "Amazon has no listing for this SKU in this marketplace: "
                outcome = SkuOutcome(sku, "failed", message=f"{known}{exc}")
            if outcome is None:
                continue
            if outcome.state == "fba" and sku not in result.fba_skus:
                result.fba_skus.append(sku)
            result.skus.append(outcome)
        return result


def _stop(store: Store, listings: _Listings, who: str, sku: str, saved: Any) -> SkuOutcome:
    quantity, product_type = listings.read(sku)
    if quantity is None:  # no seller-fulfilled offer for this SKU
        return SkuOutcome(sku, "fba", message="no seller-fulfilled offer")
    if quantity == 0 and saved is not None and not saved["restored_at"]:
        return SkuOutcome(sku, "already_stopped", 0, 0)  # keep the quantity we saved the first time
    refused = listings.patch(sku, product_type, 0)
    if refused:
        return SkuOutcome(sku, "failed", quantity, quantity, refused)
    with store.change(who, "stop_sales", {"sku": sku, "previous_quantity": quantity}) as conn:
        conn.execute("INSERT INTO stop_sales (sku, previous_quantity, at) VALUES (?, ?, ?) "
                     "ON CONFLICT (sku) DO UPDATE SET previous_quantity = excluded.previous_quantity, "
                     "at = excluded.at, restored_at = NULL", (sku, quantity, iso_utc(now_utc())))
    shown = listings.confirm(sku, 0)
    if shown != 0:
        return SkuOutcome(sku, "not_applied", quantity, shown, f"Amazon accepted quantity 0 but still shows "
                          f"{shown}: run `incident stop-sales` again in a few minutes, or set it in Seller Central")
    return SkuOutcome(sku, "stopped", quantity, 0)


def _undo(store: Store, listings: _Listings, who: str, sku: str, saved: Any) -> SkuOutcome | None:
    if saved is None or saved["restored_at"]:
        return None
    before, product_type = listings.read(sku)  # 0, or what a stop that never applied left
    previous = saved["previous_quantity"]
    refused = listings.patch(sku, product_type, previous)
    if refused:
        return SkuOutcome(sku, "failed", before, before, refused)
    with store.change(who, "stop_sales_undo", {"sku": sku, "quantity": previous}) as conn:
        conn.execute("UPDATE stop_sales SET restored_at = ? WHERE sku = ?", (iso_utc(now_utc()), sku))
    shown = listings.confirm(sku, previous)
    if shown != previous:
        return SkuOutcome(sku, "not_applied", before, shown, f"Amazon accepted quantity {previous} but still "
                          f"shows {shown}: check it in Seller Central in a few minutes")
    return SkuOutcome(sku, "restored", before, previous)
