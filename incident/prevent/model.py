"""What preflight reasons about: a promotion (from Amazon or from the plan file), what it takes
off an item's price (a benefit), which products it covers, and the products with their prices
and floors. Plain data: the readers fill it, the sweep and the flags read it."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from incident.timeutil import iso_utc

# Our kinds. Amazon's BASKET_BUILDING with a claim code is a promo code (social-media promo codes
# are that, or are not in the API at all); a listing's scheduled sale price counts as a discount.
COUPON, PROMO_CODE, BASKET_BUILDING, DEAL, PRICE_DISCOUNT, SALE_PRICE = (
    "COUPON", "PROMO_CODE", "BASKET_BUILDING", "DEAL", "PRICE_DISCOUNT", "SALE_PRICE")
KINDS = (COUPON, PROMO_CODE, BASKET_BUILDING, DEAL, PRICE_DISCOUNT, SALE_PRICE)
ENDED = {"EXPIRED", "CANCELLED", "CANCELLING", "FAILED"}


@dataclass(frozen=True)
class Benefit:
    """What one promotion does to one item's price: a percentage off, an amount off (both given:
    the larger one, as with tiers), or a fixed price."""

    percent: Decimal | None = None
    amount: Decimal | None = None
    price: Decimal | None = None

    def off(self, reference: Decimal | None) -> Decimal | None:
        """The money taken off `reference` (None when it cannot be known without a price)."""
        if self.price is not None:
            return None if reference is None else max(Decimal(0), reference - self.price)
        taken = []
        if self.percent is not None:
            if reference is None:
                return None
            taken.append(reference * self.percent / 100)
        if self.amount is not None:
            taken.append(self.amount)
        return max(taken) if taken else Decimal(0)

    def as_price(self, reference: Decimal | None) -> Decimal | None:
        """The price this benefit sets on its own."""
        if self.price is not None:
            return self.price
        taken = self.off(reference)
        return None if taken is None or reference is None else max(Decimal(0), reference - taken)

    def text(self) -> str:
        if self.price is not None:
            return f"price {self.price}"
        parts = ([f"{self.percent.normalize():f}% off"] if self.percent is not None else []) + \
                ([f"{self.amount} off"] if self.amount is not None else [])
        return " or ".join(parts) or "no discount"

    def canonical(self) -> dict:
        return {k: None if v is None else str(v.normalize()) for k, v in
                (("percent", self.percent), ("amount", self.amount), ("price", self.price))}


@dataclass(frozen=True)
class Item:
    """One product in a selection, by SKU or ASIN (Amazon often gives only the ASIN)."""

    sku: str | None = None
    asin: str | None = None
    benefit: Benefit | None = None  # deals and price discounts set it per item

    @property
    def label(self) -> str:
        return self.sku or self.asin or "?"


@dataclass(frozen=True)
class Issue:
    code: str
    severity: str
    message: str
    item: str | None = None  # the SKU or ASIN it is about


@dataclass
class Promotion:
    id: str
    source: str  # "amazon" or "plan"
    kind: str
    title: str
    status: str  # Amazon's status; PLANNED for a plan entry (its times say when it ends)
    start: datetime | None
    end: datetime | None
    cancelled_at: datetime | None = None
    benefit: Benefit | None = None  # promotion-level (coupons, promo codes)
    items: list[Item] = field(default_factory=list)
    catalog: bool = False  # every product but `excluded`
    excluded: list[Item] = field(default_factory=list)
    stacking: str | None = None  # ALLOWED / NOT_ALLOWED
    claim_code: str | None = None  # GROUP (one code shared by all) / INDIVIDUAL
    budget: str | None = None
    per_customer_uses: int | None = None
    set_up_by: str | None = None
    meant_for: str | None = None
    issues: list[Issue] = field(default_factory=list)
    revision_status: str | None = None  # an edit not live yet: PROCESSING or FAILED
    revision_issues: list[Issue] = field(default_factory=list)
    where: str | None = None  # file:line of a plan entry

    @property
    def is_promotion(self) -> bool:
        """A sale price is not a promotion: it needs no approval and does not cool off."""
        return self.kind != SALE_PRICE

    @property
    def stopped_at(self) -> datetime | None:
        """When it ended or was cancelled, whichever came first."""
        ends = [t for t in (self.end, self.cancelled_at) if t is not None]
        return min(ends) if ends else None

    def benefit_for(self, item: Item) -> Benefit | None:
        return item.benefit or self.benefit

    def content(self) -> dict:
        """What an approval covers: the products, the discount and the dates. A change to any of
        these voids the approval; the title, the status and Amazon's issues do not."""
        benefits = sorted([i.sku, i.asin, i.benefit.canonical()] for i in self.items if i.benefit is not None)
        return {"id": self.id, "kind": self.kind, "catalog": self.catalog, "items": sorted([i.sku, i.asin] for i in self.items),
                "excluded": sorted([i.sku, i.asin] for i in self.excluded), "item_benefits": benefits,
                "benefit": self.benefit.canonical() if self.benefit else None, "stacking": self.stacking,
                "claim_code": self.claim_code, "budget": self.budget, "per_customer_uses": self.per_customer_uses,
                "start": iso_utc(self.start) if self.start else None, "end": iso_utc(self.end) if self.end else None}

    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.content(), sort_keys=True).encode()).hexdigest()


@dataclass
class Product:
    sku: str
    asin: str | None = None
    name: str | None = None
    list_price: Decimal | None = None  # the offer price (our_price): what percentages are taken of
    floor: Decimal | None = None
    floor_source: str | None = None  # "prices file" or "minimum price"
    unit_cost: Decimal | None = None


class Catalog:
    """The products preflight knows of (prices file, plan, selections, listings), by SKU, and
    which SKUs carry each ASIN. A CATALOG selection means every one of them but its exclusions."""

    def __init__(self) -> None:
        self.products: dict[str, Product] = {}
        self._by_asin: dict[str, set[str]] = defaultdict(set)

    def add(self, sku: str, asin: str | None = None) -> Product:
        product = self.products.get(sku)
        if product is None:
            product = self.products[sku] = Product(sku)
        if asin and not product.asin:
            product.asin = asin
        if product.asin:
            self._by_asin[product.asin].add(sku)
        return product

    def learn(self, promotions: list[Promotion]) -> None:
        """Every SKU a selection names is a product; an item with both ties its ASIN to its SKU."""
        for promotion in promotions:
            for item in [*promotion.items, *promotion.excluded]:
                if item.sku:
                    self.add(item.sku, item.asin)

    def keys(self, item: Item) -> list[str]:
        """The SKUs an item stands for; an ASIN no SKU is known for stands for itself."""
        if item.sku:
            return [item.sku]
        skus = self._by_asin.get(item.asin or "")
        return sorted(skus) if skus else [item.asin or "?"]

    def covered(self, promotion: Promotion) -> dict[str, Benefit | None]:
        """Each product key the promotion applies to, with its benefit there."""
        if promotion.catalog:
            excluded = {key for item in promotion.excluded for key in self.keys(item)}
            return {sku: promotion.benefit for sku in self.products if sku not in excluded}
        return {key: promotion.benefit_for(item) for item in promotion.items for key in self.keys(item)}
