"""The simulator's Promotions API 2025-12-01 (searchPromotions, getPromotion, getSelection) and
the prices its getListingsItem shows (purchasable_offer: offer price, sale price, minimum price),
with scenarios that reproduce the incidents this toolkit was built from:

- incident-1: a social-media promo code meant for one product set up on another that already has
  a coupon (Amazon itself reports HAS_OVERLAPPING_PROMOTIONS);
- incident-2: a promo code cancelled an hour ago and a large coupon starting two hours from now;
- lightning: a Lightning Deal on a product with a coupon;
- clean: promotions that stack with nothing; catalog: a store-wide promotion with an exclusion.

Answers follow Amazon's model (tests validate them against it). Amazon publishes no rate limit for
this API; the simulator throttles at what a third party reads (0.1/s, burst 4) and says so in
x-amzn-RateLimit-Limit, as Amazon does."""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from incident.sandbox.wire import error, iso, parse_time

if TYPE_CHECKING:
    from incident.sandbox.scenario import Product
    from incident.sandbox.server import Simulator

PLANS = {"searchPromotions": (0.1, 4), "getPromotion": (0.1, 4), "getSelection": (0.1, 4)}
SELECTION_PAGE = 100  # Amazon: up to 100 items per selection page
SEARCH_PAGE = 25
DEFAULT_SCENARIOS = ("incident-1", "incident-2", "lightning", "clean")


@dataclass
class SimPromotion:
    promotion_id: str
    title: str
    promotion_type: str  # COUPON, BASKET_BUILDING, DEAL, PRICE_DISCOUNT
    start: datetime
    end: datetime
    created: datetime
    items: list[dict] = field(default_factory=list)  # Amazon's Item shape
    benefit: dict | None = None  # PromotionBenefit (coupons, basket building)
    budget: dict | None = None
    claim_code: dict | None = None
    catalog: bool = False
    excluded: list[dict] = field(default_factory=list)
    cancelled_at: datetime | None = None
    issues: list[dict] = field(default_factory=list)
    latest_revision: dict | None = None
    processing: bool = False
    selection_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def status(self, now: datetime) -> str:
        if self.cancelled_at is not None and self.cancelled_at <= now:
            return "CANCELLED"
        if self.processing:
            return "PROCESSING"
        return "UPCOMING" if now < self.start else "RUNNING" if now < self.end else "EXPIRED"

    def updated(self, now: datetime) -> datetime:
        return self.cancelled_at if self.cancelled_at is not None and self.cancelled_at <= now else self.created


@dataclass
class ListingPrice:
    our_price: Decimal
    minimum: Decimal | None = None
    sale: tuple[Decimal, datetime, datetime] | None = None


@dataclass
class Book:
    """The account's promotions and listing prices."""

    promotions: list[SimPromotion] = field(default_factory=list)
    prices: dict[str, ListingPrice] = field(default_factory=dict)

    def find(self, promotion_id: str) -> SimPromotion | None:
        return next((p for p in self.promotions if p.promotion_id == promotion_id), None)

    def purchasable_offer(self, sku: str, marketplace) -> list[dict] | None:
        price = self.prices.get(sku)
        if price is None:
            return None
        offer = {"marketplace_id": marketplace.marketplace_id, "currency": marketplace.currency, "audience": "ALL",
                 "our_price": [{"schedule": [{"value_with_tax": float(price.our_price)}]}]}
        if price.minimum is not None:
            offer["minimum_seller_allowed_price"] = [{"schedule": [{"value_with_tax": float(price.minimum)}]}]
        if price.sale is not None:
            value, start, end = price.sale
            offer["discounted_price"] = [{"schedule": [{"start_at": iso(start), "end_at": iso(end),
                                                        "value_with_tax": float(value)}]}]
        return [offer]


# -- scenarios ---------------------------------------------------------------------------------

def _item(product: Product, benefit: dict | None = None, budget: dict | None = None) -> dict:
    item = {"asin": product.asin, "sku": product.sku}
    if benefit:
        item["benefit"] = benefit
    if budget:
        item["budget"] = budget
    return item


def _money(value: Decimal, currency: str) -> dict:
    return {"amount": float(value), "currencyCode": currency}


def _percent(value: int, **extra) -> dict:
    return {"discount": {"type": "PERCENTAGE_OFF", "percentOff": value}, **extra}


def _promotion(name: str, title: str, kind: str, now: datetime, start: timedelta, end: timedelta, **options) -> SimPromotion:
    return SimPromotion(f"sim-{name}-{uuid.uuid4().hex[:8]}", title, kind, now + start, now + end,
                        options.pop("created", now - timedelta(days=3)), **options)


def scenario(name: str, catalog: list[Product], now: datetime, currency: str) -> list[SimPromotion]:
    """The promotions of one named scenario, on the catalogue's first products."""
    day, hour = timedelta(days=1), timedelta(hours=1)
    first, second, third = catalog[0], catalog[1 % len(catalog)], catalog[2 % len(catalog)]
    fourth, fifth = catalog[3 % len(catalog)], catalog[4 % len(catalog)]
    if name == "incident-1":
        coupon = _promotion("coupon-40", f"{first.sku} 40% coupon", "COUPON", now, -2 * day, 10 * day,
                            items=[_item(first)], benefit=_percent(40, perCustomerUses=1, stacking="ALLOWED"),
                            budget={"type": "AMOUNT", "value": 5000, "currencyCode": currency})
        code = _promotion("insta-60", f"Instagram 60% code for {fourth.sku}", "BASKET_BUILDING", now, 6 * hour, 7 * day,
                          items=[_item(first)], benefit=_percent(60, benefitQuantity=1, stacking="ALLOWED"),
                          claim_code={"type": "GROUP", "value": "INSTA60"},
                          issues=[{"code": "HAS_OVERLAPPING_PROMOTIONS", "message": "HAS_OVERLAPPING_PROMOTIONS",
                                   "severity": "WARNING"}])
        return [coupon, code]
    if name == "incident-2":
        code = _promotion("code-30", f"{second.sku} 30% code", "BASKET_BUILDING", now, -5 * day, 20 * day,
                          items=[_item(second)], benefit=_percent(30, perCustomerUses=1, stacking="ALLOWED"),
                          claim_code={"type": "INDIVIDUAL"}, cancelled_at=now - hour)
        coupon = _promotion("coupon-50", f"{second.sku} 50% coupon", "COUPON", now, 2 * hour, 14 * day,
                            items=[_item(second)], benefit=_percent(50, perCustomerUses=1, stacking="ALLOWED"),
                            budget={"type": "AMOUNT", "value": 20000, "currencyCode": currency},
                            created=now - timedelta(minutes=10))
        return [code, coupon]
    if name == "lightning":
        coupon = _promotion("coupon-30", f"{third.sku} 30% coupon", "COUPON", now, -day, 30 * day,
                            items=[_item(third)], benefit=_percent(30, perCustomerUses=1, stacking="ALLOWED"),
                            budget={"type": "AMOUNT", "value": 2000, "currencyCode": currency})
        deal_price = (third.price * Decimal("0.7")).quantize(third.price)
        deal = _promotion("lightning", f"Lightning Deal {third.sku}", "DEAL", now, day, day + 12 * hour,
                          items=[_item(third, {"type": "FIXED_PRICE", "price": _money(deal_price, currency)},
                                       {"type": "UNITS", "value": 100})])
        return [coupon, deal]
    if name == "clean":
        coupon = _promotion("coupon-10", f"{fourth.sku} 10% coupon", "COUPON", now, -day, 20 * day,
                            items=[_item(fourth)], benefit=_percent(10, perCustomerUses=1, stacking="NOT_ALLOWED"),
                            budget={"type": "AMOUNT", "value": 500, "currencyCode": currency})
        deal = _promotion("deal-20", f"Best Deal {fifth.sku}", "DEAL", now, 2 * day, 9 * day,
                          items=[_item(fifth, {"type": "DISCOUNTED_PRICE", "discount": {"type": "PERCENTAGE_OFF",
                                                                                           "percentOff": 20}},
                                       {"type": "UNITS", "value": 200})])
        return [coupon, deal]
    if name == "catalog":
        return [_promotion("store-5", "Store-wide 5% off", "BASKET_BUILDING", now, -day, 5 * day, catalog=True,
                           excluded=[{"asin": first.asin, "sku": first.sku}],
                           benefit=_percent(5, perCustomerUses=1, stacking="ALLOWED"),
                           budget={"type": "AMOUNT", "value": 1000, "currencyCode": currency})]
    raise ValueError(f"no promotions scenario '{name}'")


def book(catalog: list[Product], now: datetime, currency: str, names=DEFAULT_SCENARIOS) -> Book:
    """Listing prices for every product (minimum price 45% of the offer) and the named scenarios."""
    prices = {p.sku: ListingPrice(p.price, (p.price * Decimal("0.45")).quantize(p.price)) for p in catalog}
    promotions = [promotion for name in names for promotion in scenario(name, catalog, now, currency)]
    return Book(promotions, prices)


def generated(catalog: list[Product], count: int, now: datetime, currency: str, seed: int = 3,
              skus_per_promotion: int = 5) -> Book:
    """`count` promotions of every kind over the catalogue, spread over the coming weeks (for the
    benchmark): mostly a few products each, one in a thousand store-wide."""
    rnd = random.Random(seed)
    result = book(catalog, now, currency, names=())
    kinds = ["COUPON", "COUPON", "BASKET_BUILDING", "DEAL", "PRICE_DISCOUNT"]
    for number in range(count):
        kind = kinds[number % len(kinds)]
        start = timedelta(hours=rnd.randrange(-72, 24 * 21))
        end = start + timedelta(hours=rnd.randrange(6, 24 * 10))
        chosen = rnd.sample(catalog, min(len(catalog), rnd.randrange(1, 2 * skus_per_promotion)))
        if kind in ("DEAL", "PRICE_DISCOUNT"):
            items = [_item(p, {"type": "DISCOUNTED_PRICE", "discount": {"type": "PERCENTAGE_OFF",
                                                                          "percentOff": rnd.randrange(10, 40)}})
                     for p in chosen]
            promotion = _promotion(f"gen{number}", f"{kind.title()} {number}", kind, now, start, end, items=items)
        else:
            promotion = _promotion(f"gen{number}", f"{kind.title()} {number}", kind, now, start, end,
                                   items=[_item(p) for p in chosen], catalog=number % 1000 == 0,
                                   benefit=_percent(rnd.randrange(5, 35), perCustomerUses=1, stacking="ALLOWED"),
                                   budget={"type": "AMOUNT", "value": 1000, "currencyCode": currency})
            if promotion.catalog:
                promotion.items = []
        result.promotions.append(promotion)
    return result


# -- the operations ------------------------------------------------------------------------------

def _selection(promotion: SimPromotion, with_details: bool, offset: int = 0) -> dict:
    selection = {"type": "CATALOG" if promotion.catalog else "ITEMS"}
    if not promotion.catalog:  # a catalogue selection has no id: getSelection cannot page it
        selection.update(selectionId=promotion.selection_id, revisionId=1)
    if with_details:
        if promotion.catalog:
            details = {"rules": {"excludedItems": promotion.excluded[:SELECTION_PAGE]}}
        else:
            details = {"items": promotion.items[offset:offset + SELECTION_PAGE]}
            if offset + SELECTION_PAGE < len(promotion.items):
                details["pagination"] = {"nextToken": _token(offset + SELECTION_PAGE)}
        selection["selectionDetails"] = details
    return selection


def shape(promotion: SimPromotion, sim: Simulator, included: set[str]) -> dict:
    """PromotionRevisionAttributes with status (and latestRevision when an edit diverges)."""
    now = sim.now()
    result = {"promotionId": promotion.promotion_id, "trackingId": f"v2024-{promotion.promotion_id}",
              "marketplaceId": sim.marketplace.marketplace_id, "status": promotion.status(now),
              "createdDate": iso(promotion.created), "lastUpdatedDate": iso(promotion.updated(now)),
              "promotionTitle": promotion.title, "promotionType": promotion.promotion_type,
              "schedule": {"startDate": iso(promotion.start), "endDate": iso(promotion.end)},
              "selection": _selection(promotion, "SELECTION" in included)}
    if promotion.promotion_type == "COUPON":
        result["couponType"] = "STANDARD"
    for key, value in (("benefit", promotion.benefit), ("budget", promotion.budget)):
        if value:
            result[key] = value
    if promotion.claim_code or promotion.promotion_type == "BASKET_BUILDING":
        requirements = {"selection": {k: v for k, v in result["selection"].items() if k != "selectionDetails"},
                        "condition": {"quantityThreshold": {"type": "AT_LEAST", "quantity": 1}}}
        if promotion.claim_code:
            requirements["claimCode"] = promotion.claim_code
        result["purchaseRequirements"] = requirements
    if "ISSUES" in included:
        result["issues"] = promotion.issues
    if promotion.latest_revision:
        result["latestRevision"] = promotion.latest_revision
    return result


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str | None) -> int | None:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return int(text[7:]) if text.startswith("offset:") and text[7:].isdigit() else None


def _listed(query: dict, name: str) -> set[str]:
    value = query.get(name) or []
    return {v for part in ([value] if isinstance(value, str) else value) for v in part.split(",") if v}


def _search(sim: Simulator, match, query, body, fault):
    if not query.get("marketplaceIds"):
        return 400, error("INVALID_VALUE", "The request contains invalid parameters.")
    offset = _offset(query.get("paginationToken"))
    if offset is None:
        return 400, error("INVALID_VALUE", "The request contains invalid parameters.")
    limit = min(100, int(query.get("limit") or SEARCH_PAGE))
    statuses, types = _listed(query, "statuses"), _listed(query, "promotionTypes")
    now = sim.now()
    bounds: list[tuple[str, Callable[[SimPromotion], datetime], bool]] = [
        ("startDateAfter", lambda p: p.start, True), ("startDateBefore", lambda p: p.start, False),
        ("endDateAfter", lambda p: p.end, True), ("endDateBefore", lambda p: p.end, False),
        ("updateDateAfter", lambda p: p.updated(now), True), ("updateDateBefore", lambda p: p.updated(now), False)]

    def wanted(p: SimPromotion) -> bool:
        if statuses and p.status(now) not in statuses or types and p.promotion_type not in types:
            return False
        return all((when(p) > parse_time(query[name])) == after for name, when, after in bounds if name in query)

    with sim.lock:
        everything = list(sim.promotions.promotions)
    # Amazon pages before it filters: a page may come back empty with a token to go on
    page = [p for p in everything[offset:offset + limit] if wanted(p)]
    result = {"totalResults": sum(1 for p in everything if wanted(p)),
              "promotions": [shape(p, sim, _listed(query, "includedData")) for p in page]}
    if offset + limit < len(everything):
        result["pagination"] = {"nextToken": _token(offset + limit)}
    return 200, result


def _get(sim: Simulator, match, query, body, fault):
    promotion = sim.promotions.find(match.group(1))
    if promotion is None:
        return 404, error("NotFound", "The specified promotion does not exist.")
    return 200, shape(promotion, sim, _listed(query, "includedData"))


def _get_selection(sim: Simulator, match, query, body, fault):
    promotion = sim.promotions.find(match.group(1))
    if promotion is None or promotion.catalog or promotion.selection_id != match.group(2):
        return 404, error("NotFound", "The specified selection does not exist.")
    if "revisionId" not in query:
        return 400, error("INVALID_VALUE", "The request contains invalid parameters.")
    offset = _offset(query.get("paginationToken"))
    if offset is None or offset > len(promotion.items):
        return 400, error("INVALID_VALUE", "The request contains invalid parameters.")
    return 200, {"selection": _selection(promotion, True, offset)}


ROUTES = [
    (r"/promotions/2025-12-01/promotions", "GET", "searchPromotions", _search),
    (r"/promotions/2025-12-01/promotions/([\w.-]+)", "GET", "getPromotion", _get),
    (r"/promotions/2025-12-01/promotions/([\w.-]+)/selections/([\w.-]+)", "GET", "getSelection", _get_selection),
]
