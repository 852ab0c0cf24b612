"""Poll, for sellers without AWS: the orders updated since the last poll, by searchOrders
(Orders 2026-01-01, with items and prices) or Orders v0 getOrders (no items), whichever the token
buckets allow sooner. v0 orders carry no SKU: a sample of them is read by getOrder, each standing
for its share of the new orders, so the rate per SKU is an estimate there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from incident.amazon.live.convert import lines_from_2026
from incident.amazon.spapi import Connection
from incident.timeutil import iso_utc, parse_iso
from incident.watch.prices import unit_prices
from incident.watch.state import SeenOrder, WatchDB

OVERLAP = timedelta(seconds=90)  # Amazon's lastUpdated can lag: ask a little before the last poll
CURSOR = "poll_last_updated_after"
UNKNOWN_SKU = "?"  # an order listed by v0 but not read: its SKU is not known
_CHANNEL = {"MERCHANT": "Merchant", "AMAZON": "Amazon", "MFN": "Merchant", "AFN": "Amazon"}


@dataclass
class Polled:
    operation: str
    orders: int = 0
    new_lines: int = 0
    sampled: int = 0


SEARCH_RESERVE = 6  # searchOrders tokens left for the incident's own pull (one per 3 minutes once spent)


def choose(connection: Connection) -> str:
    """searchOrders (it has items and prices) while its bucket holds more than the reserve the
    pull will need; otherwise whichever has a token sooner."""
    now = connection.clock.now()
    search, orders_v0 = connection._buckets["searchOrders"], connection._buckets["getOrders"]
    waits = {"searchOrders": search.wait_time(now), "getOrders": orders_v0.wait_time(now)}
    if search.tokens >= SEARCH_RESERVE + 1:
        return "searchOrders"
    if waits["getOrders"] == 0:
        return "getOrders"
    return "searchOrders" if waits["searchOrders"] <= waits["getOrders"] else "getOrders"


def poll_once(db: WatchDB, connection: Connection, now: datetime, who: str, sample: int = 10,
              skus_2026: bool = True) -> Polled:
    from sp_api.api import Orders

    since_text = db.cursor(CURSOR)
    since = parse_iso(since_text) - OVERLAP if since_text else now - timedelta(minutes=10)
    operation = choose(connection) if skus_2026 else "getOrders"
    result = Polled(operation)
    seen: list[SeenOrder] = []
    prices: list[tuple] = []
    if operation == "searchOrders":
        client = connection.client(Orders, version="2026-01-01")
        token = None
        while True:
            kwargs = {"lastUpdatedAfter": iso_utc(since), "includedData": ["PROCEEDS", "FULFILLMENT"],
                      "maxResultsPerPage": 100}
            if token:
                kwargs["paginationToken"] = token
            answer = connection.call("searchOrders", client.search_orders, **kwargs)
            for order in answer.payload.get("orders") or []:
                result.orders += 1
                skus = {l.sku for l in lines_from_2026(order, _skus(order))}
                for sku in skus:
                    line = _line_2026(order, sku)
                    seen.append(line)
                    prices.append((line, *unit_prices(order, sku)))
            token = answer.next_token
            bucket = connection._buckets["searchOrders"]
            if not token or bucket.wait_time(connection.clock.now()) > 0:
                break  # the rest comes with the next poll (the cursor stays at this poll's start)
    else:
        v0 = connection.client(Orders, version="v0")
        answer = connection.call("getOrders", v0.get_orders, LastUpdatedAfter=iso_utc(since))
        listed = answer.payload.get("Orders") or []
        result.orders = len(listed)
        known = {r[0] for r in db.conn.execute("SELECT DISTINCT order_id FROM orders")}
        fresh = [o for o in listed if o["AmazonOrderId"] not in known]
        chosen = fresh[-sample:] if len(fresh) > sample else fresh
        weight = len(fresh) / len(chosen) if chosen else 1.0
        client = connection.client(Orders, version="2026-01-01")
        for summary in chosen:
            order = connection.call("getOrder", client.get_order, summary["AmazonOrderId"],
                                    includedData=["PROCEEDS", "FULFILLMENT"]).payload
            order = order.get("order") or order
            for sku in _skus(order):
                line = _line_2026(order, sku, weight)
                seen.append(line)
                prices.append((line, *unit_prices(order, sku)))
        result.sampled = len(chosen)
        for summary in fresh[:len(fresh) - len(chosen)]:  # not read: kept, unweighted, for when a spike began
            seen.append(SeenOrder(order_id=summary["AmazonOrderId"], sku=UNKNOWN_SKU, weight=0.0, source="poll",
                                  purchase_date=iso_utc(parse_iso(summary["PurchaseDate"])),
                                  channel=_CHANNEL.get(summary.get("FulfillmentChannel")),
                                  status=summary.get("OrderStatus")))
    details = {"operation": operation, "orders": result.orders, "since": iso_utc(since)}
    with db.change(who, "poll", details) as conn:
        result.new_lines = db.save_orders(conn, seen, now)
        for line, list_unit, net_unit, currency, status in prices:
            db.save_price(conn, line.order_id, line.sku, list_unit, net_unit, currency, status, now)
        db.set_cursor(conn, CURSOR, iso_utc(now))
        details["new_lines"] = result.new_lines
    return result


def _skus(order: dict) -> set[str]:
    return {((i.get("product") or {}).get("sellerSku")) for i in order.get("orderItems") or []} - {None}


def _line_2026(order: dict, sku: str, weight: float = 1.0) -> SeenOrder:
    lines = lines_from_2026(order, {sku})
    fields = lines[0].fields
    return SeenOrder(order_id=order["orderId"], sku=sku, purchase_date=fields["purchase_date"], source="poll",
                     order_item_id=fields.get("order_item_id"), channel=fields.get("fulfillment_channel"),
                     status=fields.get("order_status"), quantity=sum(l.fields.get("quantity") or 0 for l in lines),
                     weight=weight)
