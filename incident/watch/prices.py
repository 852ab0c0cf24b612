"""Confirming on price: notifications carry none, so the watch asks getOrder for a sample of new
order lines, the SKUs under a velocity signal first, and only with tokens the bucket has now (it
never waits, and keeps a few for the next round)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from incident.amazon.live.convert import lines_from_2026
from incident.amazon.spapi import ApiError, Connection
from incident.watch.state import WatchDB

RESERVE = 3  # getOrder tokens kept for the next round's SKUs under a signal
RECHECK = timedelta(minutes=2)  # a Pending order hides its price: ask again after this


def unit_prices(order: dict[str, Any], sku: str) -> tuple[Decimal | None, Decimal | None, str | None, str | None]:
    """(list unit price, net unit price, currency, status) of `sku` in an Orders 2026-01-01 order."""
    for line in lines_from_2026(order, {sku}):
        fields = line.fields
        quantity = fields.get("quantity") or 0
        if fields.get("item_price") is None or not quantity:
            return None, None, None, fields.get("order_status")
        paid = fields["item_price"] - abs(fields.get("item_promotion_discount") or Decimal(0))
        return fields["item_price"] / quantity, paid / quantity, fields.get("currency"), fields.get("order_status")
    return None, None, None, None


def check(db: WatchDB, connection: Connection, now: datetime, who: str, suspects: list[str], limit: int) -> int:
    """Price up to `limit` unpriced order lines; the number priced."""
    from sp_api.api import Orders

    bucket = connection._buckets.get("getOrder")
    budget = limit
    if bucket is not None:
        tokens = int(bucket.tokens) if bucket.wait_time(connection.clock.now()) == 0 else 0
        budget = min(limit, tokens if suspects else tokens - RESERVE)  # a signal may spend the reserve
    if budget <= 0:
        return 0
    client = connection.client(Orders, version="2026-01-01")
    priced = 0
    for row in db.unpriced(budget, now - RECHECK, suspects):
        try:
            answer = connection.call("getOrder", client.get_order, row["order_id"], includedData=["PROCEEDS"])
        except ApiError as exc:
            if exc.status == 404:  # not visible yet to the API: try again later
                with db.change(who, "price_unavailable", {"order_id": row["order_id"]}) as conn:
                    db.save_price(conn, row["order_id"], row["sku"], None, None, None, None, now)
                continue
            raise
        order = answer.payload.get("order") or answer.payload
        list_unit, net_unit, currency, status = unit_prices(order, row["sku"])
        with db.change(who, "price_checked", {"order_id": row["order_id"], "sku": row["sku"],
                                              "priced": net_unit is not None}) as conn:
            db.save_price(conn, row["order_id"], row["sku"], list_unit, net_unit, currency, status, now)
        priced += net_unit is not None
    return priced
