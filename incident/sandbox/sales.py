"""The simulator's Sales API getOrderMetrics (sales.json): orders, units and sales of a SKU over
an interval, with Total granularity (one aggregate) or Hour (one per hour). Sales are what the
buyers paid (after promotions): whether Amazon's figure is before or after promotions is not
stated in the model, so incident reads only the counts as certain."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from incident.sandbox.wire import error, iso, parse_time

if TYPE_CHECKING:
    from incident.sandbox.server import Simulator


def _metrics(sim: Simulator, start, end, sku: str | None) -> dict:
    orders = units = items = 0
    sales = Decimal(0)
    with sim.lock:
        now = sim.now()
        for order in sim.orders.values():
            if not (start <= order.purchase_date < end) or not sim._visible(order, now) or order.status == "Cancelled":
                continue
            lines = [i for i in order.items if sku is None or i.product.sku == sku]
            if not lines:
                continue
            orders += 1
            items += len(lines)
            units += sum(i.quantity for i in lines)
            sales += sum((i.product.price * i.quantity - i.discount for i in lines), Decimal(0))
    currency = sim.marketplace.currency
    average = (sales / units).quantize(Decimal("0.01")) if units else Decimal(0)
    return {"interval": f"{iso(start)}--{iso(end)}", "unitCount": units, "orderItemCount": items, "orderCount": orders,
            "averageUnitPrice": {"amount": str(average), "currencyCode": currency},
            "totalSales": {"amount": str(sales), "currencyCode": currency}}


def _order_metrics(sim: Simulator, match, query, body, fault):
    try:
        start_text, end_text = str(query["interval"]).split("--")
        start, end = parse_time(start_text), parse_time(end_text)
    except (KeyError, ValueError):
        return 400, error("InvalidInput", "interval must be two ISO 8601 times separated by --.")
    granularity = query.get("granularity")
    if granularity not in ("Hour", "Total"):
        return 400, error("InvalidInput", "The simulator answers granularity Hour or Total.")
    sku = query.get("sku")
    if granularity == "Total":
        return 200, {"payload": [_metrics(sim, start, end, sku)]}
    result, moment = [], start.replace(minute=0, second=0, microsecond=0)
    while moment < end:
        result.append(_metrics(sim, max(moment, start), min(moment + timedelta(hours=1), end), sku))
        moment += timedelta(hours=1)
    return 200, {"payload": result}


ROUTES = [(r"/sales/v1/orderMetrics", "GET", "getOrderMetrics", _order_metrics)]
