"""The main way: Orders 2026-01-01 searchOrders, 100 orders with their items per page. Switches
to the All Orders report by itself when the rest of a busy window would page slower."""

from __future__ import annotations

from collections import deque
from typing import Any

from incident.amazon.live import report
from incident.amazon.live.convert import lines_from_2026, needs_item_codes, withheld_buyers
from incident.amazon.live.plan import LiveResult, estimate_seconds
from incident.amazon.live.session import Session
from incident.amazon.spapi import ApiError
from incident.timeutil import iso_utc, parse_iso


def run(session: Session, result: LiveResult, pull_id: int, cursor: str | None, probe: Any) -> None:
    created_before = result.plan.created_before
    response = probe
    recent: deque = deque(maxlen=5)  # the last pages, to judge the window's density by
    if cursor:  # resuming: the saved token belongs to the search that made it
        session.since = session.last_page(pull_id).get("since")
    started_over = False
    while True:
        if response is None:
            try:
                response = session.search(cursor, created_before)
            except ApiError as exc:
                if cursor is None or exc.status != 400 or started_over:
                    raise
                response = _start_over(session, result, pull_id, created_before, exc)
                started_over = True
        page = response.payload.get("orders") or []
        lines = [line for order in page for line in lines_from_2026(order, session.skus)]
        if withheld_buyers(page) and not any(WITHHELD in note for note in result.plan.notes):
            result.plan.notes.append(WITHHELD_NOTE)
        cursor = response.next_token
        last = iso_utc(parse_iso(page[-1]["createdTime"])) if page else None
        session.save_page(result, pull_id, lines, cursor, len(page), last_created=last)
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


WITHHELD = "Amazon withheld the buyers' e-mail and name"
WITHHELD_NOTE = (f"{WITHHELD} (and the recipient's name, street and postal code) of seller-fulfilled orders: "
                 "this app lacks Amazon's Direct-to-Consumer Delivery role; `notify send --via spapi` or the "
                 "Unshipped Orders report (`incident pull --report`) reaches those buyers")


def _start_over(session: Session, result: LiveResult, pull_id: int, created_before: str, refusal: ApiError) -> Any:
    """Amazon refused the saved pagination token (it expires after 24 hours; an altered one is
    refused too): ask again without it, from the last order time already saved (or the window's
    start). The merge takes an order seen twice once."""
    saved = session.last_page(pull_id)
    session.since = saved.get("last_created") or saved.get("since")
    where = f"the last order saved ({session.since})" if session.since else "the window's start"
    result.plan.notes.append(f"Amazon refused the saved pagination token ({refusal.reason}): "
                             f"started over from {where}, without duplicates")
    return session.search(None, created_before)


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
