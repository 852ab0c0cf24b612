"""The fallback where Orders 2026-01-01 is not open to the app: Orders v0 getOrders, then
getOrderItems for every order of the page."""

from __future__ import annotations

from incident.amazon.live.convert import lines_from_v0
from incident.amazon.live.plan import LiveResult
from incident.amazon.live.session import PAGE, Session
from incident.timeutil import iso_utc


def run(session: Session, result: LiveResult, pull_id: int, cursor: str | None) -> None:
    api = session.connection
    while True:
        kwargs = {"NextToken": cursor} if cursor else {
            "CreatedAfter": iso_utc(session.incident.window_start), "CreatedBefore": result.plan.created_before,
            "MaxResultsPerPage": PAGE}
        response = api.call("getOrders", session.orders_v0.get_orders, **kwargs)
        page = response.payload.get("Orders") or []
        lines = []
        for order in page:
            items = api.call("getOrderItems", session.orders_v0.get_order_items, order["AmazonOrderId"])
            lines += lines_from_v0(order, items.payload.get("OrderItems") or [], session.skus)
        cursor = response.next_token
        session.save_page(result, pull_id, lines, cursor, len(page))
        if cursor is None:
            return
