"""What one live pull shares (the incident, the connection, the Orders clients), and saving a
page: its lines, its pagination token and its event in one transaction, so a killed pull resumes
at the page where it stopped."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from incident import orders as orders_mod
from incident.amazon.reports import ReportLine
from incident.amazon.spapi import Connection
from incident.errors import StateError
from incident.timeutil import iso_utc
from incident.workspace.store import Incident, Store

if TYPE_CHECKING:
    from incident.amazon.live.plan import LiveResult

PAGE = 100
INCLUDED = ["BUYER", "RECIPIENT", "PROCEEDS", "PROMOTION", "CANCELLATION", "FULFILLMENT"]


@dataclass
class Session:
    store: Store
    connection: Connection
    who: str
    progress: Callable[[int, int, int], None] = lambda pages, total, orders: None
    adaptive: bool = True  # the search may switch to the report when paging gets slower
    # a search that started over after Amazon refused its saved token asks from this order time on
    since: str | None = None
    incident: Incident = field(init=False)
    skus: set[str] = field(init=False)
    orders_2026: Any = field(init=False)
    orders_v0: Any = field(init=False)

    def __post_init__(self) -> None:
        from sp_api.api import Orders

        self.incident = self.store.incident()
        self.skus = set(self.incident.skus)
        self.orders_2026 = self.connection.client(Orders, version="2026-01-01")
        self.orders_v0 = self.connection.client(Orders, version="v0")

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.connection.clock.now(), UTC)

    def created_before(self) -> tuple[str, list[str]]:
        """The window's end, or two minutes ago when that is sooner: Amazon cannot be asked for
        orders younger than that."""
        latest = self.now() - timedelta(minutes=2, seconds=5)
        notes = []
        end = self.incident.window_end
        if end > latest:
            end = latest
            notes.append("orders of the last two minutes are not searchable yet: pull again (or use --repeat)")
        if end <= self.incident.window_start:
            raise StateError("the window started less than two minutes ago: Amazon cannot be asked yet, try again shortly")
        return iso_utc(end), notes

    def search(self, cursor: str | None, created_before: str) -> Any:
        kwargs: dict[str, Any] = dict(createdAfter=self.since or iso_utc(self.incident.window_start),
                                      createdBefore=created_before,
                                      includedData=INCLUDED, maxResultsPerPage=PAGE,
                                      # named as the model names it: else the library adds four spellings
                                      marketplaceIds=[self.connection.settings.marketplace.marketplace_id])
        if cursor:
            kwargs["paginationToken"] = cursor
        return self.connection.call("searchOrders", self.orders_2026.search_orders, **kwargs)

    def last_page(self, pull_id: int) -> dict[str, Any]:
        """What the pull's last saved page recorded (its `since`, its last order time), or {}."""
        row = self.store.conn.execute(
            "SELECT details FROM events WHERE action = 'live_page' AND json_extract(details, '$.pull') = ? "
            "ORDER BY seq DESC LIMIT 1", (pull_id,)).fetchone()
        return json.loads(row["details"]) if row else {}

    def save_page(self, result: LiveResult, pull_id: int, lines: list[ReportLine], cursor: str | None,
                  orders: int, last_created: str | None = None) -> None:
        """`last_created`: the page's last order time (searchOrders answers oldest first), where a
        search asks again from if Amazon later refuses the saved token."""
        details: dict[str, Any] = {"pull": pull_id, "page": result.pages + 1, "orders": orders,
                                   "more": cursor is not None}
        if last_created:
            details["last_created"] = last_created
        if self.since:
            details["since"] = self.since
        with self.store.change(self.who, "live_page", details) as conn:
            new, updated = orders_mod.merge_into(self.store, conn, self.incident, lines)
            result.pages += 1
            result.orders_seen += orders
            result.new_lines += new
            result.updated_lines += updated
            details.update(new_lines=new, updated_lines=updated)
            done = 1 if cursor is None else 0
            conn.execute("UPDATE live_pulls SET cursor = ?, pages = pages + 1, orders = orders + ?, done = ? "
                         "WHERE id = ?", (cursor, orders, done, pull_id))
            if done:
                self.store.tick_step(conn, orders_mod.PULL_COMMAND, self.who)
        total = result.pages + (1 if cursor else 0)
        if result.plan.estimated_orders:
            total = max(total, math.ceil(result.plan.estimated_orders / PAGE))
        self.progress(result.pages, total, result.orders_seen)
