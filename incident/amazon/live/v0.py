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
            "MaxResultsPerPage": PAGE, "MarketplaceIds": [api.settings.marketplace.marketplace_id]}
        response = api.call("getOrders", session.orders_v0.get_orders, **kwargs)
        page = response.payload.get("Orders") or []
        lines = []
        for order in page:
            lines += lines_from_v0(order, order_items(session, order["AmazonOrderId"]), session.skus)
        cursor = response.next_token
        session.save_page(result, pull_id, lines, cursor, len(page))
        if cursor is None:
            return


def order_items(session: Session, order_id: str) -> list[dict]:
    """Every item of the order: getOrderItems answers a long order in pages (NextToken)."""
    items: list[dict] = []
    token = None
    while True:
        kwargs = {"NextToken": token} if token else {}
        response = session.connection.call("getOrderItems", session.orders_v0.get_order_items, order_id, **kwargs)
        items += response.payload.get("OrderItems") or []
        token = response.next_token
        if not token:
            return items
