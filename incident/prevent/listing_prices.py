"""Each SKU's prices from Listings Items `getListingsItem`: the offer price (`purchasable_offer`
`our_price`), a scheduled sale price (`discounted_price`, which counts as a discount with its own
dates) and the minimum price (`minimum_seller_allowed_price`), the floor where the prices file
gives none. Also the ASIN and name, for reading selections given by ASIN and for the wrong-product
check."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from incident.amazon.spapi import ApiError, Connection
from incident.errors import UsageError
from incident.prevent.model import SALE_PRICE, Benefit, Catalog, Item, Promotion
from incident.timeutil import parse_iso


class Reader:
    """Reads listings one SKU at a time, each SKU once, as they become known."""

    def __init__(self, connection: Connection, catalog: Catalog):
        from sp_api.api import ListingsItems

        self.seller = connection.settings.seller_id
        if not self.seller:
            raise UsageError("no seller id: set INCIDENT_SELLER_ID or `seller_id` under [spapi] in incident.toml "
                             "(Seller Central > Settings > Account Info > Merchant Token)")
        self.connection, self.catalog = connection, catalog
        self.client = connection.client(ListingsItems)
        self.queue: deque[str] = deque()
        self._queued: set[str] = set()
        self.sales: list[Promotion] = []
        self.unknown: list[str] = []
        self.done = 0

    def add(self, skus) -> None:
        for sku in skus:
            if sku not in self._queued:
                self._queued.add(sku)
                self.queue.append(sku)

    @property
    def pending(self) -> bool:
        return bool(self.queue)

    def read_one(self) -> None:
        sku = self.queue.popleft()
        market = self.connection.settings.marketplace
        try:
            listing = self.connection.call("getListingsItem", self.client.get_listings_item, self.seller, sku,
                                           marketplaceIds=[market.marketplace_id],
                                           includedData=["summaries", "attributes", "offers"]).payload
        except ApiError as exc:
            if exc.status != 404:
                raise
            self.unknown.append(sku)
        else:
            sale = apply(self.catalog, sku, listing, market.marketplace_id, market.timezone)
            if sale is not None:
                self.sales.append(sale)
        self.done += 1


def apply(catalog: Catalog, sku: str, listing: dict, marketplace_id: str, timezone: str) -> Promotion | None:
    """Puts one getListingsItem answer into the catalogue; returns its sale price, if scheduled."""
    summary = next((s for s in listing.get("summaries") or [] if s.get("marketplaceId") in (None, marketplace_id)), {})
    product = catalog.add(sku, summary.get("asin"))
    product.name = product.name or summary.get("itemName")
    offer = _offer((listing.get("attributes") or {}).get("purchasable_offer") or [], marketplace_id)
    our_price = _first_value(offer.get("our_price"))
    if our_price is None:  # no attributes asked or given: the offers list has the price too
        our_price = next((Decimal(str(o["price"]["amount"])) for o in listing.get("offers") or []
                          if o.get("marketplaceId") == marketplace_id and o.get("offerType", "B2C") == "B2C"
                          and o.get("price")), None)
    if our_price is not None:
        product.list_price = our_price
    minimum = _first_value(offer.get("minimum_seller_allowed_price"))
    if product.floor is None and minimum is not None:
        product.floor, product.floor_source = minimum, "minimum price"
    for entry in offer.get("discounted_price") or []:
        for schedule in entry.get("schedule") or []:
            price = schedule.get("value_with_tax")
            if price is None:
                continue
            return Promotion(id=f"sale-price:{sku}", source="amazon", kind=SALE_PRICE, title=f"sale price of {sku}",
                             status="RUNNING", start=_when(schedule.get("start_at"), timezone),
                             end=_when(schedule.get("end_at"), timezone),
                             benefit=Benefit(price=Decimal(str(price))), items=[Item(sku=sku)])
    return None


def _offer(offers: list[dict], marketplace_id: str) -> dict:
    """The offer to everybody (not the business-only one) in this marketplace."""
    for offer in offers:
        if offer.get("marketplace_id", marketplace_id) == marketplace_id and offer.get("audience", "ALL") == "ALL":
            return offer
    return {}


def _first_value(prices: list[dict] | None) -> Decimal | None:
    for price in prices or []:
        for schedule in price.get("schedule") or []:
            if schedule.get("value_with_tax") is not None:
                return Decimal(str(schedule["value_with_tax"]))
    return None


def _when(text: str | None, timezone: str) -> datetime | None:
    """A schedule bound; a date without a time is midnight in the marketplace's time zone."""
    if not text:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(timezone))
    except ValueError:  # unreadable: open-ended is the worst case
        return None
