"""The main way: Orders 2026-01-01 searchOrders, 100 orders with their items per page. Switches
to the All Orders report by itself when the rest of a busy window would page slower."""

from __future__ import annotations

from collections import deque
from typing import Any

from incident.amazon.live import report
from incident.amazon.live.convert import lines_from_2026, needs_item_codes
from incident.amazon.live.plan import LiveResult, estimate_seconds
from incident.amazon.live.session import Session
from incident.timeutil import iso_utc, parse_iso


def run(session: Session, result: LiveResult, pull_id: int, cursor: str | None, probe: Any) -> None:
    created_before = result.plan.created_before
    response = probe
    recent: deque = deque(maxlen=5)  # the last pages, to judge the window's density by
    while True:
        if response is None:
            response = session.search(cursor, created_before)
        page = response.payload.get("orders") or []
        lines = [line for order in page for line in lines_from_2026(order, session.skus)]
        cursor = response.next_token
        session.save_page(result, pull_id, lines, cursor, len(page))
        if cursor is None:
            return
        recent.append((page, lines))
        if session.adaptive and _report_is_cheaper(session, recent, created_before):
            since = page[-1]["createdTime"]
            result.plan.notes.append(f"switched to the All Orders report after {result.pages} pages: "
                                     "paging the rest of this busy window would take longer")
            result.plan.strategy = "report"
            return report.run(session, result, pull_id, None, since=iso_utc(parse_iso(since)))
        response = None


def _report_is_cheaper(session: Session, recent: deque, created_before: str) -> bool:
    """Once the searchOrders burst is spent, extrapolate the last pages' order density over
    the rest of the window and compare both ways' remaining time."""
    bucket = session.connection._buckets.get("searchOrders")
    if bucket is None or bucket.tokens >= 1 or len(recent) < 3:
        return False
    first, last = parse_iso(recent[0][0][0]["createdTime"]), parse_iso(recent[-1][0][-1]["createdTime"])
    covered = max((last - first).total_seconds(), 1.0)
    orders = sum(len(page) for page, _ in recent)
    left = (parse_iso(created_before) - last).total_seconds() * orders / covered
    candidates = sum(1 for _, lines in recent for l in lines if needs_item_codes(l.fields)) * left / orders
    seconds = estimate_seconds(int(left), int(candidates))
    return seconds["report"] < seconds["search"]
