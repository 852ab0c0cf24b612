"""Baselines: per SKU, the orders per minute of ordinary days, learnt from past orders, either an
All Orders report the manager pulled or the API (searchOrders over the last days, inside its
burst: the span actually covered is what the rate is divided by)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from incident.amazon.live.convert import lines_from_2026
from incident.amazon.reports import read_report
from incident.amazon.spapi import Connection
from incident.timeutil import iso_utc, parse_iso
from incident.watch.state import WatchDB

MAX_PAGES = 10  # half of searchOrders' burst: the baseline never waits, and leaves the rest for a pull


def _save(db: WatchDB, counts: Counter, minutes: float, source: str, now: datetime, who: str) -> dict[str, float]:
    minutes = max(minutes, 60.0)
    rates = {sku: count / minutes for sku, count in counts.items()}
    with db.change(who, "baseline_learnt", {"source": source, "skus": len(rates), "minutes": round(minutes)}) as conn:
        conn.executemany("INSERT INTO baselines (sku, per_minute, orders, minutes, source, learned_at) "
                         "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sku) DO UPDATE SET per_minute = excluded.per_minute, "
                         "orders = excluded.orders, minutes = excluded.minutes, source = excluded.source, "
                         "learned_at = excluded.learned_at",
                         [(sku, rate, counts[sku], minutes, source, iso_utc(now)) for sku, rate in rates.items()])
    return rates


def from_api(db: WatchDB, connection: Connection, now: datetime, who: str, days: float) -> dict[str, float]:
    from sp_api.api import Orders

    client = connection.client(Orders, version="2026-01-01")
    after = now - timedelta(days=days)
    before = now - timedelta(minutes=2, seconds=5)  # Amazon's *Before must be two minutes old
    counts: Counter = Counter()
    first, last = before, after
    token = None
    for _ in range(MAX_PAGES):
        kwargs = {"createdAfter": iso_utc(after), "createdBefore": iso_utc(before), "maxResultsPerPage": 100}
        if token:
            kwargs["paginationToken"] = token
        answer = connection.call("searchOrders", client.search_orders, **kwargs)
        for order in answer.payload.get("orders") or []:
            skus = {((i.get("product") or {}).get("sellerSku")) for i in order.get("orderItems") or []} - {None}
            for line in lines_from_2026(order, skus):
                if line.seq == 0:
                    counts[line.sku] += 1
            created = parse_iso(order["createdTime"])
            first, last = min(first, created), max(last, created)
        token = answer.next_token
        if not token:
            last = before
            break
    # a younger account (or the simulator) has less history than asked for: divide by what there is
    return _save(db, counts, (last - min(first, last)).total_seconds() / 60, "api", now, who)


def from_report(db: WatchDB, path: Path, now: datetime, who: str) -> dict[str, float]:
    """An All Orders report of ordinary days (any SKUs)."""
    report = read_report(path)
    counts: Counter = Counter()
    dates = []
    for line in report.lines:
        if line.seq == 0:
            counts[line.sku] += 1
        if line.fields.get("purchase_date"):
            dates.append(line.fields["purchase_date"])
    minutes = (parse_iso(max(dates)) - parse_iso(min(dates))).total_seconds() / 60 if dates else 0.0
    return _save(db, counts, minutes, f"report {path.name}", now, who)
