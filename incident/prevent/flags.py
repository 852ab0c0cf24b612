"""The flags: what preflight found, each with its reason, the promotions involved and the stretch
of time. Critical flags (a worst price under the floor or the unit cost) make `incident
preflight` exit 1; the rest are warnings a second person should look at before anything goes live.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from incident.prevent.model import COUPON, DEAL, ENDED, PRICE_DISCOUNT, Catalog, Product, Promotion
from incident.prevent.naming import Names
from incident.prevent.sweep import INF, Stretch, Sweep, moment

CRITICAL, WARNING = "critical", "warning"
SEVERITY = {"below_floor": CRITICAL, "below_cost": CRITICAL}
OVERLAPS_COUPON = {"PROMO_CODE", "BASKET_BUILDING", DEAL}
AFTER_INCIDENT_DAYS = 30


@dataclass
class Flag:
    code: str
    reason: str
    promotions: list[str]
    skus: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None

    @property
    def severity(self) -> str:
        return SEVERITY.get(self.code, WARNING)


@dataclass
class Limits:
    at: datetime
    cooling_off_hours: float = 24.0
    min_share: Decimal = Decimal(50)  # percent of the list price


@dataclass
class IncidentPrice:
    """The lowest price an incident sold a SKU at, and when: Amazon's 30-day reference for deals."""

    incident_id: str
    sku: str
    price: Decimal
    at: datetime


def _name(promotion: Promotion) -> str:
    return f"'{promotion.title}' ({promotion.kind.lower().replace('_', ' ')})"


def ended(promotion: Promotion, at: datetime) -> bool:
    stopped = promotion.stopped_at
    return promotion.status in ENDED or (stopped is not None and stopped <= at)


# -- per stretch -----------------------------------------------------------------------------

def _live_text(stretch: Stretch, described: dict[tuple[int, int], str]) -> str:
    """The discounts live in a stretch, in words (the same few promotions recur on many SKUs:
    `described` keeps each one's words for the run, by object)."""
    words = []
    for entry in stretch.live:
        key = (id(entry.promotion), id(entry.benefit))
        text = described.get(key)
        if text is None:
            text = described[key] = _name(entry.promotion) + (f" {entry.benefit.text()}" if entry.benefit else "")
        words.append(text)
    return ", ".join(words)


def _stretch_findings(stretch: Stretch, product: Product | None, limits: Limits,
                      described: dict[tuple[int, int], str]) -> list[tuple[str, tuple[str, ...], Callable[[], str]]]:
    """(code, promotions involved, its reason when asked) for one stretch: the reasons are only
    written for the flags that are kept, as most stretches extend a flag already open."""
    found: list[tuple[str, tuple[str, ...], Callable[[], str]]] = []
    price = stretch.worst_price
    if price is not None and product is not None:
        floor, cost, listed = product.floor, product.unit_cost, product.list_price
        if floor is not None and price < floor:
            found.append(("below_floor", tuple(stretch.promotion_ids),
                          lambda: f"worst price {price:.2f} is under the floor {floor:.2f} "
                                  f"({product.floor_source}): {_live_text(stretch, described)}"))
        if cost is not None and price < cost:
            found.append(("below_cost", tuple(stretch.promotion_ids),
                          lambda: f"worst price {price:.2f} is under the unit cost {cost:.2f}: "
                                  f"{_live_text(stretch, described)}"))
        if not found and listed and price * 100 < listed * limits.min_share:
            found.append(("below_list_share", tuple(stretch.promotion_ids),
                          lambda: f"worst price {price:.2f} is {price * 100 / listed:.0f}% of the list price "
                                  f"{listed:.2f}, under the {limits.min_share}% set: {_live_text(stretch, described)}"))
    if len(stretch.live) > 1:
        coupons = [e.promotion for e in stretch.live if e.promotion.kind == COUPON]
        others = [e.promotion for e in stretch.live if e.promotion.kind in OVERLAPS_COUPON]
        if coupons and others:
            found.append(("coupon_overlap", tuple(p.id for p in others + coupons),
                          lambda: f"{', '.join(_name(p) for p in others)} overlaps {', '.join(_name(p) for p in coupons)} "
                                  "on this SKU: never let a promo code or deal overlap a coupon"))
    return found


def stretch_flags(result: Sweep, catalog: Catalog, limits: Limits) -> list[Flag]:
    """Flags per stretch. The same finding over back-to-back stretches of a SKU becomes one flag,
    and one over the same stretch on many SKUs (a store-wide stack) one flag naming them all."""
    flags: dict[tuple, Flag] = {}
    described: dict[tuple[int, int], str] = {}
    unpriced = []
    for sku, stretches in result.stretches.items():
        product = catalog.products.get(sku)
        running: dict[tuple[str, tuple[str, ...]], list] = {}  # finding -> [flag, its start, its end]
        found: list[list] = []
        for stretch in stretches:
            if stretch.worst_price is None:
                unpriced.append(sku)
            findings = _stretch_findings(stretch, product, limits, described)
            if not findings:
                running = {}
                continue
            following = {}
            for code, ids, reason in findings:
                stretch.flags.append(code)
                current = running.get((code, ids))
                if current is not None and current[2] == stretch.starts:
                    current[0].end, current[2] = stretch.end, stretch.ends
                else:
                    current = [Flag(code, reason(), list(ids), [sku], stretch.start, stretch.end), stretch.starts, stretch.ends]
                    found.append(current)
                following[(code, ids)] = current
            running = following
        for flag, starts, ends in found:
            same = flags.get((flag.code, tuple(flag.promotions), starts, ends))
            if same is None:
                flags[(flag.code, tuple(flag.promotions), starts, ends)] = flag
            else:
                same.skus.append(sku)
    for flag in flags.values():
        if len(flag.skus) > 1 and flag.code in SEVERITY or flag.code == "below_list_share" and len(flag.skus) > 1:
            flag.reason += f" (on {flag.skus[0]}; the same on {len(flag.skus) - 1} more SKUs)"
    result_flags = list(flags.values())
    if unpriced:
        skus = sorted(set(unpriced))
        result_flags.append(Flag("no_price", f"no list price known for {len(skus)} SKU(s) ({', '.join(skus[:5])}"
                                             f"{', ...' if len(skus) > 5 else ''}): give list_price in the prices file, "
                                             "or run live", [], skus))
    return result_flags


# -- per promotion ---------------------------------------------------------------------------

def promotion_flags(promotions: list[Promotion], catalog: Catalog, result: Sweep, limits: Limits) -> list[Flag]:
    names = Names(catalog)
    flags: list[Flag] = []
    covered_by: dict[str, set[str]] = defaultdict(set)
    for sku, lives in result.entries.items():
        for entry in lives:
            covered_by[entry.promotion.id].add(sku)
    for promotion in promotions:
        if ended(promotion, limits.at):
            continue
        if not promotion.is_promotion:
            continue
        flags += _selection_flags(promotion, names, covered_by[promotion.id])
        flags += _amazon_flags(promotion)
        missing = [what for what, present in (("a budget", promotion.budget), ("a per-customer limit", promotion.per_customer_uses))
                   if not present]
        if promotion.claim_code == "GROUP" and missing:
            flags.append(Flag("shared_code_unlimited", f"{_name(promotion)} has one claim code for everybody and no "
                                                       f"{' and no '.join(m[2:] if m.startswith('a ') else m for m in missing)}: "
                                                       "once the code is posted, nothing caps the orders", [promotion.id]))
    return flags


def _selection_flags(promotion: Promotion, names: Names, covered: set[str]) -> list[Flag]:
    flags = []
    if promotion.catalog:
        flags.append(Flag("catalog_selection", f"{_name(promotion)} applies to the whole catalogue "
                                               f"({len(covered)} products known, {len(promotion.excluded)} excluded)",
                          [promotion.id]))
    for what, text in (("title", promotion.title), ("'meant for' note", promotion.meant_for)):
        if not text or (what == "title" and text == promotion.id):
            continue
        wrong = names.wrong(text, covered)
        if wrong:
            products = ", ".join(sorted(covered)[:5]) + (", ..." if len(covered) > 5 else "")
            flags.append(Flag("wrong_product", f"{_name(promotion)}: its {what} '{text}' {wrong} ({products or 'none'})",
                              [promotion.id], sorted(covered)[:50]))
    return flags


def _amazon_flags(promotion: Promotion) -> list[Flag]:
    flags = []
    if promotion.issues:
        listed = "; ".join(f"{i.code} ({i.severity.lower()}{', ' + i.item if i.item else ''}): {i.message}"
                           for i in promotion.issues)
        flags.append(Flag("amazon_issue", f"Amazon reports on {_name(promotion)}: {listed}", [promotion.id]))
    if promotion.revision_status:
        said = "; ".join(f"{i.code}: {i.message}" for i in promotion.revision_issues)
        state = "FAILED" if promotion.revision_status == "FAILED" else "is still PROCESSING"
        flags.append(Flag("revision_pending", f"an edit of {_name(promotion)} {state} while the old version stays "
                                              f"live{': ' + said if said else ''}", [promotion.id]))
    return flags


def cooling_off(result: Sweep, limits: Limits) -> list[Flag]:
    """A promotion starting within N hours after another one on the same SKU was cancelled or
    ended: a cancelled promotion can stay live for hours and stack with it."""
    window = limits.cooling_off_hours * 3600
    now = limits.at.timestamp()
    stopped: dict[str, float | None] = {}  # per promotion: when it ended or was cancelled
    pairs: dict[tuple[str, str], Flag] = {}
    for sku, lives in result.entries.items():
        stops = []
        for index, entry in enumerate(lives):
            promotion = entry.promotion
            if promotion.id not in stopped:
                stop = promotion.stopped_at
                stopped[promotion.id] = None if stop is None or not promotion.is_promotion else stop.timestamp()
            if stopped[promotion.id] is not None:
                stops.append((stopped[promotion.id], index))
        if not stops:
            continue
        stops.sort()
        times = [t for t, _ in stops]
        for later in lives:
            begins = later.start
            if begins == -INF or later.end <= now or not later.promotion.is_promotion:
                continue
            for stop, index in stops[bisect.bisect_left(times, begins - window):bisect.bisect_right(times, begins)]:
                earlier = lives[index].promotion
                if earlier.id == later.promotion.id:
                    continue
                key = (earlier.id, later.promotion.id)
                if key in pairs:
                    pairs[key].skus.append(sku)
                    continue
                how = "was cancelled" if earlier.cancelled_at and earlier.cancelled_at == earlier.stopped_at else "ends"
                pairs[key] = Flag("cooling_off", f"{_name(later.promotion)} starts {(begins - stop) / 3600:.1f} h after "
                                                 f"{_name(earlier)} {how}, under the {limits.cooling_off_hours:g} h set: a "
                                                 "cancelled promotion can stay live for hours and stack with it",
                                  [later.promotion.id, earlier.id], [sku], moment(begins), moment(stop + window))
    return list(pairs.values())


def after_incident(result: Sweep, catalog: Catalog, incidents: list[IncidentPrice], limits: Limits) -> list[Flag]:
    """Amazon takes a deal or price discount only at or below the lowest price of the last 30
    days: after an incident, that is the incident's price."""
    flags = []
    for past in incidents:
        product = catalog.products.get(past.sku)
        until = past.at + timedelta(days=AFTER_INCIDENT_DAYS)
        for entry in result.entries.get(past.sku, []):
            promotion = entry.promotion
            if promotion.kind not in (DEAL, PRICE_DISCOUNT) or ended(promotion, limits.at):
                continue
            if not (entry.start < until.timestamp() and entry.end > past.at.timestamp()):
                continue
            price = entry.benefit.as_price(product.list_price if product else None) if entry.benefit else None
            if price is not None and price <= past.price:
                continue
            flags.append(Flag("after_incident", f"{_name(promotion)} sets {past.sku} at "
                                                f"{'an unknown price' if price is None else f'{price:.2f}'}, above "
                                                f"{past.price:.2f} at which incident {past.incident_id} sold it: Amazon "
                                                f"takes deals only at or below the lowest price of the last "
                                                f"{AFTER_INCIDENT_DAYS} days, so it will be refused until {until:%Y-%m-%d}",
                              [promotion.id], [past.sku], moment(max(entry.start, past.at.timestamp())), until))
    return flags
