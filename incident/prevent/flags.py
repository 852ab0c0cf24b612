"""The flags: what preflight found, each with its reason, the promotions involved and the stretch
of time. Critical flags (a worst price under the floor or the unit cost) make `incident
preflight` exit 1; the rest are warnings a second person should look at before anything goes live.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from incident.prevent.model import COUPON, DEAL, ENDED, PRICE_DISCOUNT, Catalog, Promotion
from incident.prevent.naming import Names
from incident.prevent.sweep import INF, Live, Stretch, Sweep, moment, seconds

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

def _stretch_findings(stretch: Stretch, catalog: Catalog, limits: Limits) -> list[tuple[str, tuple[str, ...], str]]:
    """(code, promotions involved, reason) for one stretch."""
    found = []
    product = catalog.products.get(stretch.sku)
    price, ids = stretch.worst_price, tuple(stretch.promotion_ids)
    if price is not None and product is not None:
        live = ", ".join(_name(e.promotion) + (f" {e.benefit.text()}" if e.benefit else "") for e in stretch.live)
        if product.floor is not None and price < product.floor:
            found.append(("below_floor", ids, f"worst price {price:.2f} is under the floor {product.floor} "
                                              f"({product.floor_source}): {live}"))
        if product.unit_cost is not None and price < product.unit_cost:
            found.append(("below_cost", ids, f"worst price {price:.2f} is under the unit cost {product.unit_cost}: {live}"))
        critical = bool(found)
        if not critical and product.list_price and price * 100 < product.list_price * limits.min_share:
            share = price * 100 / product.list_price
            found.append(("below_list_share", ids, f"worst price {price:.2f} is {share:.0f}% of the list price "
                                                   f"{product.list_price}, under the {limits.min_share}% set: {live}"))
    coupons = [e.promotion for e in stretch.live if e.promotion.kind == COUPON]
    others = [e.promotion for e in stretch.live if e.promotion.kind in OVERLAPS_COUPON]
    if coupons and others:
        found.append(("coupon_overlap", tuple(p.id for p in others + coupons),
                      f"{', '.join(_name(p) for p in others)} overlaps {', '.join(_name(p) for p in coupons)} "
                      "on this SKU: never let a promo code or deal overlap a coupon"))
    return found


def stretch_flags(result: Sweep, catalog: Catalog, limits: Limits) -> list[Flag]:
    """Flags per stretch; the same finding over back-to-back stretches becomes one flag."""
    flags: list[Flag] = []
    unpriced = []
    for sku, stretches in result.stretches.items():
        running: dict[tuple[str, tuple[str, ...]], Flag] = {}
        for stretch in stretches:
            if stretch.worst_price is None:
                unpriced.append(sku)
            seen = set()
            for code, ids, reason in _stretch_findings(stretch, catalog, limits):
                stretch.flags.append(code)
                open_flag = running.get((code, ids))
                if open_flag is not None and open_flag.end == stretch.start:
                    open_flag.end = stretch.end
                else:
                    open_flag = running[(code, ids)] = Flag(code, reason, list(ids), [sku], stretch.start, stretch.end)
                    flags.append(open_flag)
                seen.add((code, ids))
            for finished in [k for k in running if k not in seen]:
                del running[finished]
    if unpriced:
        skus = sorted(set(unpriced))
        flags.append(Flag("no_price", f"no list price known for {len(skus)} SKU(s) ({', '.join(skus[:5])}"
                                      f"{', ...' if len(skus) > 5 else ''}): give list_price in the prices file, or run live",
                          [], skus))
    return flags


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
    ended: a cancelled promotion can stay live for hours and stack with the new one."""
    window = limits.cooling_off_hours * 3600
    now = limits.at.timestamp()
    pairs: dict[tuple[str, str], Flag] = {}
    for sku, lives in result.entries.items():
        stops = sorted((seconds(e.promotion.stopped_at, INF), i) for i, e in enumerate(lives)
                       if e.promotion.is_promotion and e.promotion.stopped_at is not None)
        times = [t for t, _ in stops]
        for later in lives:
            begins = seconds(later.promotion.start, -INF)
            if not later.promotion.is_promotion or begins == -INF or later.end <= now:
                continue
            low = bisect.bisect_left(times, begins - window)
            high = bisect.bisect_right(times, begins)
            for stop, index in stops[low:high]:
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


def live_ids(lives: list[Live]) -> list[str]:
    return [entry.promotion.id for entry in lives]
