"""Weighing the three ways of pulling before the pull: the least time each can take under
Amazon's token buckets, from the first searchOrders page (kept for the pull)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from incident.amazon.live.convert import lines_from_2026, needs_item_codes
from incident.amazon.live.session import PAGE, Session
from incident.amazon.ratelimits import DEFAULT_PLANS
from incident.amazon.spapi import ApiError
from incident.timeutil import parse_iso

ASSUMED_REPORT_SECONDS = 120.0  # Amazon gives no promise; a busy All Orders report takes minutes


@dataclass
class Plan:
    strategy: str
    estimated_orders: int
    estimated_affected: int
    seconds: dict[str, float]
    created_before: str
    notes: list[str] = field(default_factory=list)

    @property
    def estimate(self) -> float:
        return self.seconds[self.strategy]


@dataclass
class LiveResult:
    plan: Plan
    pages: int = 0
    orders_seen: int = 0
    new_lines: int = 0
    updated_lines: int = 0
    resumed: bool = False
    api_calls: int = 0


def _after_burst(calls: float, operation: str, plans=DEFAULT_PLANS) -> float:
    rate, burst = plans[operation]
    return max(0.0, calls - burst) / rate


def estimate_seconds(orders: int, candidates: int, report_seconds: float = ASSUMED_REPORT_SECONDS,
                     plans=DEFAULT_PLANS) -> dict[str, float]:
    """The least time each way can take under the token buckets, for `orders` in the window of
    which `candidates` are seller-fulfilled and unshipped (the report path asks getOrder for their
    item codes only)."""
    pages = max(1, math.ceil(orders / PAGE))
    return {
        "search": _after_burst(pages, "searchOrders", plans),
        "v0": max(_after_burst(pages, "getOrders", plans), _after_burst(orders, "getOrderItems", plans)),
        "report": report_seconds + _after_burst(candidates, "getOrder", plans),
    }


def make_plan(session: Session, force: str | None = None) -> tuple[Plan, Any]:
    """Probe with the first searchOrders page (kept for the pull), then weigh the three ways."""
    created_before, notes = session.created_before()
    probe = None
    try:
        probe = session.search(None, created_before)
    except ApiError as exc:
        if exc.status not in (401, 403, 404):
            raise
        notes.append(f"Orders 2026-01-01 is not available to this app ({exc.status}): using Orders v0")
    if probe is None:
        estimated = affected = PAGE
    else:
        page, token = probe.payload.get("orders") or [], probe.next_token
        estimated = len(page)
        if token and page:
            start = session.incident.window_start.timestamp()
            covered = parse_iso(page[-1]["createdTime"]).timestamp() - start
            span = parse_iso(created_before).timestamp() - start
            estimated = max(len(page) + 1, int(len(page) * span / max(covered, 1.0)))
        share = sum(1 for o in page if any(needs_item_codes(l.fields) for l in lines_from_2026(o, session.skus))) \
            / len(page) if page else 1.0
        affected = math.ceil(estimated * share)
    seconds = estimate_seconds(estimated, affected)
    if probe is None:
        seconds["search"] = math.inf
    # searchOrders' burst pages cost nothing and the search switches to the report by itself
    # once paging gets slower: with the probe in hand, search first is never the worse start
    strategy = force or ("search" if probe is not None else min(seconds, key=seconds.get))
    return Plan(strategy, estimated, affected, seconds, created_before, notes), probe
