"""A cheap signal for the SKUs that matter most: the Sales API's getOrderMetrics (0.5/s, burst 15)
gives a SKU's orders and average unit price over the last minutes in one call, without paging
orders or reading them one by one. Asked only for the SKUs listed in `metrics_skus`, and only
with a token in hand. The count is a velocity signal; the average unit price is a price signal
against the SKU's floor (whether Amazon's sales figure is net of promotions is not documented,
so only a floor set by the seller is compared, never a share of a list price)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from incident.amazon.spapi import Connection
from incident.timeutil import iso_utc
from incident.watch.detect import PRICE, VELOCITY, Signal, threshold
from incident.watch.settings import WatchSettings


def signals(connection: Connection, settings: WatchSettings, baselines: dict[str, float], now: datetime) -> list[Signal]:
    from sp_api.api import Sales
    from sp_api.base import Granularity

    client = connection.client(Sales)
    bucket = connection._buckets.get("getOrderMetrics")
    start = now - timedelta(minutes=settings.window_minutes)
    found = []
    for sku in settings.metrics_skus:
        if bucket is not None and bucket.wait_time(connection.clock.now()) > 0:
            break  # the rest next round: this signal never waits
        answer = connection.call("getOrderMetrics", client.get_order_metrics, (iso_utc(start), iso_utc(now)),
                                 Granularity.TOTAL, sku=sku)
        metrics = (answer.payload or [{}])[0]
        count = float(metrics.get("orderCount") or 0)
        per_minute = baselines.get(sku, 0.0)
        needed = threshold(settings, per_minute)
        if count >= needed:
            found.append(Signal(sku, VELOCITY, iso_utc(start), count, needed, per_minute * 60, source="metrics"))
        average = (metrics.get("averageUnitPrice") or {}).get("amount")
        floor = settings.floor(sku)
        if floor is not None and metrics.get("unitCount") and average is not None and Decimal(str(average)) < floor:
            found.append(Signal(sku, PRICE, iso_utc(start), count, needed, per_minute * 60, Decimal(str(average)),
                                None, (metrics.get("averageUnitPrice") or {}).get("currencyCode"), floor, "metrics"))
    return found
