"""Deciding what is unusual: per SKU, the rate over the last minutes against its baseline
(velocity: first, since notifications carry no price), and any priced line under the floor, or
under a share of list price where no floor is known (price: the confirmation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from incident.watch.settings import WatchSettings
from incident.watch.state import WatchDB

VELOCITY, PRICE = "velocity", "price"


@dataclass
class Signal:
    sku: str
    kind: str
    first_at: str  # purchase time of the first order it stands on (iso_utc)
    count: float = 0.0  # orders in the window
    threshold: float = 0.0
    baseline_per_hour: float = 0.0
    net_unit: Decimal | None = None
    list_unit: Decimal | None = None
    currency: str | None = None
    limit: Decimal | None = None  # the floor, or the share of list price, it fell under
    source: str = "orders"  # orders (the watch's own order lines) or metrics (getOrderMetrics)


def threshold(settings: WatchSettings, per_minute: float) -> float:
    base = max(per_minute, settings.min_baseline_per_hour / 60)
    return max(settings.factor * base * settings.window_minutes, float(settings.min_orders))


def bad_price(settings: WatchSettings, sku: str, net_unit: Decimal, list_unit: Decimal | None) -> Decimal | None:
    """The limit the price fell under, or None when it is fine."""
    floor = settings.floor(sku)
    if floor is not None:
        return floor if net_unit < floor else None
    if list_unit:
        limit = (list_unit * Decimal(str(settings.price_share))).quantize(Decimal("0.01"))
        return limit if net_unit < limit else None
    return None


def signals(db: WatchDB, settings: WatchSettings, now: datetime) -> list[Signal]:
    since = now - timedelta(minutes=settings.window_minutes)
    lookback = now - timedelta(minutes=settings.quiet_minutes)
    baselines = db.baselines()
    found = []
    # the busiest SKU first: the other items in its buyers' baskets ride along with it, and are
    # judged on the orders without it, so one stacked product raises one episode, not four
    counted = sorted(((db.rate(sku, since, until=now)[0], sku) for sku in db.active_skus(lookback, now)), reverse=True)
    signalling: list[str] = []
    for _, sku in counted:
        count, first = db.rate(sku, since, signalling, now)
        per_minute = baselines.get(sku, 0.0)
        needed = threshold(settings, per_minute)
        if first and count >= needed:
            signalling.append(sku)
            found.append(Signal(sku, VELOCITY, first, count, needed, max(per_minute, settings.min_baseline_per_hour / 60) * 60))
        for row in db.priced_since(sku, lookback, now):
            net, listed = Decimal(row["net_unit"]), Decimal(row["list_unit"]) if row["list_unit"] else None
            limit = bad_price(settings, sku, net, listed)
            if limit is not None:
                found.append(Signal(sku, PRICE, row["purchase_date"], count, needed, per_minute * 60, net, listed,
                                    row["currency"], limit))
                break
    return found


def first_bad(db: WatchDB, settings: WatchSettings, sku: str, first: datetime, now: datetime) -> datetime:
    """The first order after the last one known to be at a good price: the stacked price began
    somewhere after it, and the orders between (Pending ones hide their price; polled v0 orders
    not read have no SKU) may be bad."""
    from incident.timeutil import iso_utc, parse_iso

    lookback = iso_utc(now - timedelta(minutes=settings.quiet_minutes))
    rows = db.conn.execute("SELECT purchase_date, net_unit, list_unit FROM orders WHERE sku IN (?, '?') "
                           "AND purchase_date >= ? AND purchase_date < ? ORDER BY purchase_date DESC",
                           (sku, lookback, iso_utc(first))).fetchall()
    for row in rows:
        if row["net_unit"] is not None and bad_price(settings, sku, Decimal(row["net_unit"]),
                                                     Decimal(row["list_unit"]) if row["list_unit"] else None) is None:
            break
        first = parse_iso(row["purchase_date"])
    return first
