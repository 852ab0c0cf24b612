"""The sweep: for every product, cut time at every start and end of the discounts on it, and price
each stretch in which the same set of discounts is live at the worst the stacking rules allow.
One sort per product over its start and end times, not a comparison of every pair."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from incident.prevent.model import Benefit, Catalog, Promotion
from incident.prevent.rules import Rule, Rules

INF = float("inf")


@dataclass
class Live:
    """One promotion on one product, with the interval in which it can be live (epoch seconds;
    a cancelled one lingers as the rules say)."""

    start: float
    end: float
    promotion: Promotion
    rule: Rule
    benefit: Benefit | None


@dataclass
class Stretch:
    sku: str
    start: datetime | None  # None: since before anyone knows
    end: datetime | None  # None: open-ended
    live: list[Live]
    worst_price: Decimal | None
    flags: list[str] = field(default_factory=list)

    @property
    def promotion_ids(self) -> list[str]:
        return [entry.promotion.id for entry in self.live]


@dataclass
class Sweep:
    stretches: dict[str, list[Stretch]]  # per product, in time order; only those not over at `at`
    entries: dict[str, list[Live]]  # per product, every promotion on it (ended ones too)


def moment(seconds: float) -> datetime | None:
    return None if seconds in (INF, -INF) else datetime.fromtimestamp(seconds, UTC)


def seconds(value: datetime | None, missing: float) -> float:
    return missing if value is None else value.timestamp()


def entries(catalog: Catalog, promotions: list[Promotion], rules: Rules) -> dict[str, list[Live]]:
    lag = rules.cancelled_stays_live_hours * 3600
    per_product: dict[str, list[Live]] = defaultdict(list)
    for promotion in promotions:
        if promotion.status == "FAILED":  # Amazon refused it: it never goes live
            continue
        start = seconds(promotion.start, -INF)
        end = seconds(promotion.end, INF)
        if promotion.cancelled_at is not None:
            end = min(end, promotion.cancelled_at.timestamp() + lag)
        if end <= start:
            continue
        rule = rules.rule_for(promotion)
        for key, benefit in catalog.covered(promotion).items():
            per_product[key].append(Live(start, end, promotion, rule, benefit))
    return per_product


def sweep(catalog: Catalog, promotions: list[Promotion], rules: Rules, at: datetime) -> Sweep:
    now = at.timestamp()
    per_product = entries(catalog, promotions, rules)
    stretches: dict[str, list[Stretch]] = {}
    for key, lives in per_product.items():
        product = catalog.products.get(key)
        list_price = product.list_price if product else None
        events = sorted([(e.start, 1, i) for i, e in enumerate(lives) if e.end > now] +
                        [(e.end, 0, i) for i, e in enumerate(lives) if e.end > now])
        active: dict[int, Live] = {}
        found: list[Stretch] = []
        position = 0
        while position < len(events):
            time = events[position][0]
            while position < len(events) and events[position][0] == time:
                _, starting, index = events[position]
                if starting:
                    active[index] = lives[index]
                else:
                    active.pop(index, None)
                position += 1
            if not active or position == len(events):
                continue
            following = events[position][0]
            if following <= now:
                continue
            live = sorted(active.values(), key=lambda e: (e.start, e.promotion.id))
            price = rules.worst_price(list_price, [(e.rule, e.benefit) for e in live])
            found.append(Stretch(key, moment(time), moment(following), live, price))
        if found:
            stretches[key] = found
    return Sweep(stretches, per_product)
