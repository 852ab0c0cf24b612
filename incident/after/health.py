"""The cancellation-rate what-if: will the account be all right?

Amazon's rule (Account Health): seller-cancelled seller-fulfilled orders divided by all
seller-fulfilled orders placed in a 7-day window, at most 2.5% (India: under 2%, 7 and 30 days).
A `PricingError` reason does not keep a cancellation out; only a buyer's own request does. Two
seller cancellations of an offer within 30 days can deactivate it. Amazon decides; this is
arithmetic on what we know, stated with its assumptions.

The account's other orders come from an All Orders report of the last 7 days or are entered;
either way they are taken as steady (the same business every day), and each of the incident's
orders leaves the window 7 days after it was placed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from incident.after.record import cancelled_by_seller, seller_fulfilled
from incident.errors import UsageError
from incident.scope import sort_store
from incident.timeutil import iso_utc, now_utc, parse_iso
from incident.workspace.store import Store

WINDOW_DAYS = 7
LIMIT = Decimal("0.025")
LIMITS = {"IN": Decimal("0.02")}
OFFER_RISK_CANCELLATIONS = 2  # seller cancellations of one offer within 30 days
RULES = [
    "Cancellation rate = seller-fulfilled orders the seller cancelled / all seller-fulfilled orders placed in the "
    "last 7 days; it must stay at or under 2.5% (India: under 2%, over 7 and 30 days).",
    "The reason code does not matter: a PricingError cancellation counts like any other seller cancellation. "
    "Only a buyer's own cancellation request through Amazon is left out; Amazon's automatic cancellations count.",
    "FBA orders are not in the rate: Amazon fulfils them.",
    "Two seller cancellations of the same offer within 30 days can deactivate the offer.",
    "Amazon decides. Seller Support may annotate the account after a pricing error when asked with evidence "
    "(`incident support annotation`); nothing promises it. This is a what-if, not Amazon's figure.",
]


@dataclass
class Day:
    date: str
    orders: int
    cancellations: int
    rate: Decimal
    leaving: int  # the incident's cancellations that leave the window that day


@dataclass
class Health:
    source: str
    other_orders: int
    other_cancellations: int
    incident_orders: int
    incident_cancellations: int
    limit: Decimal
    days: list[Day] = field(default_factory=list)
    offers_at_risk: dict[str, int] = field(default_factory=dict)
    rules: list[str] = field(default_factory=lambda: list(RULES))

    @property
    def orders(self) -> int:
        return self.other_orders + self.incident_orders

    @property
    def cancellations(self) -> int:
        return self.other_cancellations + self.incident_cancellations

    @property
    def rate(self) -> Decimal:
        return Decimal(self.cancellations) / Decimal(self.orders) if self.orders else Decimal(0)

    @property
    def over(self) -> bool:
        return self.rate > self.limit

    @property
    def dilution_orders(self) -> int:
        """Ordinary orders, none cancelled, that would bring the rate to the limit within the window."""
        return max(0, math.ceil(Decimal(self.cancellations) / self.limit) - self.orders)

    @property
    def back_under(self) -> str | None:
        """The first day the rate is at or under the limit again (None: it never went over)."""
        if not self.over:
            return None
        return next((day.date for day in self.days if day.rate <= self.limit), None)

    def as_dict(self) -> dict:
        return {"source": self.source, "orders": self.orders, "cancellations": self.cancellations,
                "other_orders": self.other_orders, "other_cancellations": self.other_cancellations,
                "incident_orders": self.incident_orders, "incident_cancellations": self.incident_cancellations,
                "rate": f"{self.rate:.4f}", "limit": f"{self.limit:.4f}", "over": self.over,
                "back_under_on": self.back_under, "dilution_orders": self.dilution_orders,
                "days": [{"date": d.date, "orders": d.orders, "cancellations": d.cancellations, "rate": f"{d.rate:.4f}",
                          "leaving": d.leaving} for d in self.days],
                "offers_at_risk": self.offers_at_risk, "rules": self.rules}


def _from_report(path: Path, exclude: set[str], as_of: datetime) -> tuple[int, int]:
    """Seller-fulfilled orders and cancelled ones placed in the 7 days before `as_of`, the
    incident's own orders left out (they are counted from the incident). A report cannot tell a
    buyer's request from a seller's cancellation: every cancelled order counts, the worst case."""
    from incident.amazon.reports import ALL_ORDERS, read_report

    report = read_report(path)
    if report.kind != ALL_ORDERS:
        raise UsageError(f"--report {path} is an {report.title}: the what-if needs the All Orders report of the last 7 days")
    since = as_of - timedelta(days=WINDOW_DAYS)
    orders: set[str] = set()
    cancelled: set[str] = set()
    for line in report.lines:
        placed = line.fields.get("purchase_date")
        channel = str(line.fields.get("fulfillment_channel") or "").lower()
        if line.order_id in exclude or channel not in ("merchant", "mfn") or not placed:
            continue
        if not since <= parse_iso(str(placed)) < as_of:
            continue
        orders.add(line.order_id)
        if str(line.fields.get("order_status") or "").lower() in ("cancelled", "canceled"):
            cancelled.add(line.order_id)
    return len(orders), len(cancelled)


def what_if(store: Store, *, report: Path | None = None, orders: int | None = None, cancellations: int | None = None,
            as_of: datetime | None = None) -> Health:
    as_of = as_of or now_utc()
    decisions = sort_store(store)
    ours = cancelled_by_seller(store, decisions)
    mfn = [d for d in decisions if seller_fulfilled(d)]
    mfn_orders = {d.line.order_id: d.line.purchase_date for d in mfn}
    cancelled = {d.line.order_id: d.line.purchase_date for d in ours}
    if report is not None:
        other_orders, other_cancellations = _from_report(report, set(mfn_orders), as_of)
        source = f"All Orders report {Path(report).name} (7 days to {iso_utc(as_of)}), this incident's orders added"
    elif orders is not None:
        if orders < 0 or (cancellations or 0) < 0 or (cancellations or 0) > orders:
            raise UsageError("--orders and --cancellations must be whole numbers, cancellations no more than orders")
        other_orders, other_cancellations = orders, cancellations or 0
        source = "figures entered (the last 7 days without this incident), this incident's orders added"
    else:
        raise UsageError("give --report (an All Orders report of the last 7 days) or --orders N "
                         "[--cancellations N] (seller-fulfilled orders in the last 7 days, without this incident)")
    market = store.incident().marketplace or ""
    health = Health(source=source, other_orders=other_orders, other_cancellations=other_cancellations,
                    incident_orders=len(mfn_orders), incident_cancellations=len(cancelled),
                    limit=LIMITS.get(market, LIMIT))
    if market in LIMITS:
        health.rules.insert(1, "This marketplace's limit is stricter: under 2%, and Amazon also looks at 30 days.")
    for offset in range(WINDOW_DAYS + 2):
        day = (as_of + timedelta(days=offset)).date()
        moment = as_of if offset == 0 else datetime.combine(day, datetime.min.time(), tzinfo=as_of.tzinfo)
        since = moment - timedelta(days=WINDOW_DAYS)
        inside = lambda placed: placed is not None and parse_iso(placed) >= since  # noqa: E731
        day_orders = other_orders + sum(1 for placed in mfn_orders.values() if inside(placed))
        day_cancelled = other_cancellations + sum(1 for placed in cancelled.values() if inside(placed))
        previous = health.days[-1].cancellations if health.days else day_cancelled
        health.days.append(Day(date=day.isoformat(), orders=day_orders, cancellations=day_cancelled,
                               rate=Decimal(day_cancelled) / Decimal(day_orders) if day_orders else Decimal(0),
                               leaving=previous - day_cancelled))
    per_sku: dict[str, set[str]] = {}
    for d in ours:
        per_sku.setdefault(d.line.sku, set()).add(d.line.order_id)
    health.offers_at_risk = {sku: len(ids) for sku, ids in sorted(per_sku.items()) if len(ids) >= OFFER_RISK_CANCELLATIONS}
    return health
