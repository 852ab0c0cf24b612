"""The sweep: for every product, cut time at every start and end of the discounts on it, and price
each stretch in which the same set of discounts is live at the worst the stacking rules allow.
One sort per product over its start and end times, not a comparison of every pair."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from incident.prevent.model import Benefit, Catalog, Promotion
from incident.prevent.rules import Part, Rule, Rules, part, price

INF = float("inf")


@dataclass(slots=True)
class Live:
    """One promotion on one product, with the interval in which it can be live (epoch seconds;
    a cancelled one lingers as the rules say)."""

    start: float
    end: float
    promotion: Promotion
    rule: Rule
    benefit: Benefit | None
    part: Part | None = None  # the rule and benefit as the pricing takes them


class Stretch:
    """A stretch of time on one product in which the same discounts are live, and its worst price.
    Times are kept as epoch seconds (there are many stretches); `start` and `end` as datetimes,
    None for open ends."""

    __slots__ = ("sku", "starts", "ends", "live", "worst_price", "flags")

    def __init__(self, sku: str, starts: float, ends: float, live: list[Live], worst_price: Decimal | None):
        self.sku, self.starts, self.ends, self.live, self.worst_price = sku, starts, ends, live, worst_price
        self.flags: list[str] = []

    @property
    def start(self) -> datetime | None:
        return moment(self.starts)

    @property
    def end(self) -> datetime | None:
        return moment(self.ends)

    @property
    def promotion_ids(self) -> list[str]:
        return [entry.promotion.id for entry in self.live]


@dataclass
class Sweep:
    stretches: dict[str, list[Stretch]]  # per product, in time order; only those not over at `at`
    entries: dict[str, list[Live]]  # per product, every promotion on it (ended ones too)


@lru_cache(maxsize=65536)
def moment(seconds: float) -> datetime | None:
    """Epoch seconds as a UTC datetime (None for an open end); bounds recur across SKUs."""
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
            per_product[key].append(Live(start, end, promotion, rule, benefit, part(rule, benefit)))
    return per_product


def sweep(catalog: Catalog, promotions: list[Promotion], rules: Rules, at: datetime) -> Sweep:
    now = at.timestamp()
    per_product = entries(catalog, promotions, rules)
    stretches: dict[str, list[Stretch]] = {}
    for key, lives in per_product.items():
        product = catalog.products.get(key)
        list_price = product.list_price if product else None
        events = [(e.start, 1, i) for i, e in enumerate(lives) if e.end > now]
        events += [(lives[i].end, 0, i) for _, _, i in events]
        events.sort()
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
            live = list(active.values())  # in the order they started
            found.append(Stretch(key, time, following, live, price(list_price, [e.part for e in live])))
        if found:
            stretches[key] = found
    return Sweep(stretches, per_product)
