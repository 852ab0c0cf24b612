"""Pulling the incident's orders live from the Selling Partner API.

Three ways, chosen by a plan made before pulling:
- `search`: Orders 2026-01-01 searchOrders, 100 orders with their items, buyer and promotions per
  call (the main path);
- `v0`: Orders v0 getOrders + getOrderItems per order, where 2026-01-01 is not open to the app;
- `report`: for windows so busy that paging searchOrders would take longer, the All Orders report
  plus getOrder for the affected orders only.
Every page is saved with its pagination token in one transaction, so a killed pull resumes
where it stopped, never losing or repeating a saved page.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

from incident import orders as orders_mod
from incident.errors import StateError
from incident.ratelimits import DEFAULT_PLANS
from incident.reports import ReportLine, read_report
from incident.spapi import ApiError, Connection
from incident.store import Store, write_private
from incident.timeutil import iso_utc, parse_iso

PULL_COMMAND = "pull"
PAGE = 100
REPORT_TYPE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
INCLUDED = ["BUYER", "RECIPIENT", "PROCEEDS", "PROMOTION", "CANCELLATION", "FULFILLMENT"]
ASSUMED_REPORT_SECONDS = 120.0  # Amazon gives no promise; a busy All Orders report takes minutes
_STATUS = {"PENDING": "Pending", "PENDING_AVAILABILITY": "PendingAvailability", "UNSHIPPED": "Unshipped",
           "PARTIALLY_SHIPPED": "PartiallyShipped", "SHIPPED": "Shipped", "CANCELLED": "Cancelled",
           "UNFULFILLABLE": "Unfulfillable", "Canceled": "Cancelled"}


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


# -- converting API orders to report-shaped lines --------------------------------------------


def _money(value: Any) -> Decimal | None:
    if not value or value.get("amount") in (None, ""):
        return None
    return Decimal(str(value["amount"]))


def lines_from_2026(order: dict, skus: set[str]) -> list[ReportLine]:
    result, seen = [], {}
    fulfillment = order.get("fulfillment") or {}
    buyer = order.get("buyer") or {}
    for item in order.get("orderItems") or []:
        product = item.get("product") or {}
        sku = product.get("sellerSku")
        if sku not in skus:
            continue
        unit = _money((product.get("price") or {}).get("unitPrice"))
        quantity = int(item.get("quantityOrdered") or 0)
        discount = None
        for part in (item.get("proceeds") or {}).get("breakdowns") or []:
            if part.get("type") == "DISCOUNT":
                discount = abs(_money(part.get("subtotal")) or Decimal(0))
        promotions = [p.get("promotionId") for p in (item.get("promotion") or {}).get("breakdowns") or []]
        item_fulfillment = item.get("fulfillment") or {}
        fields = {
            "order_item_id": item.get("orderItemId"), "asin": product.get("asin"),
            "product_name": product.get("title"),
            "purchase_date": iso_utc(parse_iso(order["createdTime"])),
            "last_updated": iso_utc(parse_iso(order.get("lastUpdatedTime") or order["createdTime"])),
            "order_status": _STATUS.get(fulfillment.get("fulfillmentStatus"), fulfillment.get("fulfillmentStatus")),
            "item_status": "Cancelled" if item.get("cancellation") else None,
            "fulfillment_channel": {"MERCHANT": "Merchant", "AMAZON": "Amazon"}.get(fulfillment.get("fulfilledBy")),
            "sales_channel": (order.get("salesChannel") or {}).get("marketplaceName"),
            "quantity": quantity, "quantity_shipped": item_fulfillment.get("quantityFulfilled"),
            "currency": ((product.get("price") or {}).get("unitPrice") or {}).get("currencyCode"),
            "item_price": unit * quantity if unit is not None else None,
            "item_promotion_discount": discount,
            "promotion_ids": " ".join(p for p in promotions if p) or None,
            "ship_country": (((order.get("recipient") or {}).get("deliveryAddress")) or {}).get("countryCode"),
            "buyer_email": buyer.get("buyerEmail"), "buyer_name": buyer.get("buyerName"),
        }
        seq = seen.get(sku, 0)
        seen[sku] = seq + 1
        result.append(ReportLine(order["orderId"], sku, seq, fields))
    return result


def lines_from_v0(order: dict, items: list[dict], skus: set[str]) -> list[ReportLine]:
    result, seen = [], {}
    for item in items:
        sku = item.get("SellerSKU")
        if sku not in skus:
            continue
        price = item.get("ItemPrice") or {}
        discount = item.get("PromotionDiscount") or {}
        fields = {
            "order_item_id": item.get("OrderItemId"), "asin": item.get("ASIN"), "product_name": item.get("Title"),
            "purchase_date": iso_utc(parse_iso(order["PurchaseDate"])),
            "last_updated": iso_utc(parse_iso(order.get("LastUpdateDate") or order["PurchaseDate"])),
            "order_status": _STATUS.get(order.get("OrderStatus"), order.get("OrderStatus")),
            "fulfillment_channel": {"MFN": "Merchant", "AFN": "Amazon"}.get(order.get("FulfillmentChannel")),
            "sales_channel": order.get("SalesChannel"), "quantity": int(item.get("QuantityOrdered") or 0),
            "quantity_shipped": item.get("QuantityShipped"), "currency": price.get("CurrencyCode"),
            "item_price": Decimal(price["Amount"]) if price.get("Amount") else None,
            "item_promotion_discount": abs(Decimal(discount["Amount"])) if discount.get("Amount") else None,
            "promotion_ids": " ".join(item.get("PromotionIds") or []) or None,
        }
        seq = seen.get(sku, 0)
        seen[sku] = seq + 1
        result.append(ReportLine(order["AmazonOrderId"], sku, seq, fields))
    return result


def _needs_item_codes(fields: dict) -> bool:
    """Lines the cancellation needs the order itself for: seller-fulfilled and not yet shipped."""
    return fields.get("fulfillment_channel") == "Merchant" and fields.get("order_status") in (
        "Pending", "Unshipped", "PartiallyShipped", None)


# -- the pull ------------------------------------------------------------------------------------


class LivePull:
    def __init__(self, store: Store, connection: Connection, who: str,
                 progress: Callable[[int, int, int], None] | None = None):
        self.store, self.conn, self.who = store, connection, who
        self.incident = store.incident()
        self.skus = set(self.incident.skus)
        self.progress = progress or (lambda pages, total, orders: None)
        self.adaptive = True
        from sp_api.api import Orders

        self.orders_2026 = connection.client(Orders, version="2026-01-01")
        self.orders_v0 = connection.client(Orders, version="v0")

    def _created_before(self) -> tuple[str, list[str]]:
        latest = self.conn_now() - timedelta(minutes=2, seconds=5)
        notes = []
        end = self.incident.window_end
        if end > latest:
            end = latest
            notes.append("orders of the last two minutes are not searchable yet: pull again (or use --repeat)")
        if end <= self.incident.window_start:
            raise StateError("the window started less than two minutes ago: Amazon cannot be asked yet, try again shortly")
        return iso_utc(end), notes

    def conn_now(self):
        from datetime import datetime

        return datetime.fromtimestamp(self.conn.clock.now(), UTC)

    def _search(self, cursor: str | None, created_before: str) -> Any:
        kwargs: dict[str, Any] = dict(createdAfter=iso_utc(self.incident.window_start), createdBefore=created_before,
                                      includedData=INCLUDED, maxResultsPerPage=PAGE)
        if cursor:
            kwargs["paginationToken"] = cursor
        return self.conn.call("searchOrders", self.orders_2026.search_orders, **kwargs)

    def make_plan(self, force: str | None = None) -> tuple[Plan, Any]:
        """Probe with the first searchOrders page (kept for the pull), then weigh the three ways."""
        created_before, notes = self._created_before()
        probe = None
        try:
            probe = self._search(None, created_before)
        except ApiError as exc:
            if exc.status not in (401, 403, 404):
                raise
            notes.append(f"Orders 2026-01-01 is not available to this app ({exc.status}): using Orders v0")
        if probe is None:
            page, token = [], "unknown"
            estimated = PAGE
            affected = PAGE
        else:
            page, token = probe.payload.get("orders") or [], probe.next_token
            estimated = len(page)
            if token and page:
                start = self.incident.window_start.timestamp()
                covered = parse_iso(page[-1]["createdTime"]).timestamp() - start
                span = parse_iso(created_before).timestamp() - start
                estimated = max(len(page) + 1, int(len(page) * span / max(covered, 1.0)))
            share = sum(1 for o in page if any(_needs_item_codes(l.fields) for l in lines_from_2026(o, self.skus))) \
                / len(page) if page else 1.0
            affected = math.ceil(estimated * share)
        seconds = estimate_seconds(estimated, affected)
        if probe is None:
            seconds["search"] = math.inf
        # searchOrders' burst pages cost nothing and the search switches to the report by itself
        # once paging gets slower: with the probe in hand, search first is never the worse start
        strategy = force or ("search" if probe is not None else min(seconds, key=seconds.get))
        self.adaptive = force is None
        plan = Plan(strategy, estimated, affected, seconds, created_before, notes)
        return plan, probe

    def run(self, force: str | None = None, plan_only: bool = False) -> LiveResult:
        calls_before = self.conn.calls
        result = self._start(force, plan_only)
        result.api_calls = self.conn.calls - calls_before
        return result

    def _start(self, force: str | None, plan_only: bool) -> LiveResult:
        resumable = self.store.conn.execute(
            "SELECT * FROM live_pulls WHERE done = 0 AND created_after = ? ORDER BY id DESC LIMIT 1",
            (iso_utc(self.incident.window_start),)).fetchone()
        if resumable and not plan_only and (force is None or force == resumable["strategy"]):
            plan = Plan(resumable["strategy"], 0, 0, {resumable["strategy"]: 0.0}, resumable["created_before"],
                        [f"resuming the pull started {resumable['started_at']} after {resumable['pages']} pages"])
            result = LiveResult(plan, resumed=True, pages=resumable["pages"], orders_seen=resumable["orders"])
            self._run(result, resumable["id"], resumable["cursor"], None)
            return result
        plan, probe = self.make_plan(force)
        result = LiveResult(plan)
        if plan_only:
            return result
        with self.store.change(self.who, "live_pull_start", {"strategy": plan.strategy,
                                                             "estimated_orders": plan.estimated_orders,
                                                             "estimated_seconds": round(plan.estimate, 1)}) as conn:
            pull_id = conn.execute("INSERT INTO live_pulls (strategy, created_after, created_before, started_at) "
                                   "VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                                   (plan.strategy, iso_utc(self.incident.window_start), plan.created_before)).lastrowid
        self._run(result, pull_id, None, probe if plan.strategy == "search" else None)
        return result

    def _run(self, result: LiveResult, pull_id: int, cursor: str | None, probe: Any) -> None:
        strategy = result.plan.strategy
        if strategy == "search":
            self._run_search(result, pull_id, cursor, probe)
        elif strategy == "v0":
            self._run_v0(result, pull_id, cursor)
        else:
            self._run_report(result, pull_id, cursor)

    def _save_page(self, result: LiveResult, pull_id: int, lines: list[ReportLine], cursor: str | None,
                   orders: int, action: str = "live_page") -> None:
        details = {"pull": pull_id, "page": result.pages + 1, "orders": orders, "more": cursor is not None}
        with self.store.change(self.who, action, details) as conn:
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
                self.store.tick_step(conn, PULL_COMMAND, self.who)
        total = result.pages + (1 if cursor else 0)
        if result.plan.estimated_orders:
            total = max(total, math.ceil(result.plan.estimated_orders / PAGE))
        self.progress(result.pages, total, result.orders_seen)

    def _run_search(self, result: LiveResult, pull_id: int, cursor: str | None, probe: Any) -> None:
        created_before = result.plan.created_before
        response = probe
        recent: deque = deque(maxlen=5)  # the last pages, to judge the window's density by
        while True:
            if response is None:
                response = self._search(cursor, created_before)
            page = response.payload.get("orders") or []
            lines = [line for order in page for line in lines_from_2026(order, self.skus)]
            cursor = response.next_token
            self._save_page(result, pull_id, lines, cursor, len(page))
            if cursor is None:
                return
            recent.append((page, lines))
            if self.adaptive and self._report_is_cheaper(recent, created_before):
                since = page[-1]["createdTime"]
                result.plan.notes.append(f"switched to the All Orders report after {result.pages} pages: "
                                         "paging the rest of this busy window would take longer")
                result.plan.strategy = "report"
                return self._run_report(result, pull_id, None, since=iso_utc(parse_iso(since)))
            response = None

    def _report_is_cheaper(self, recent: deque, created_before: str) -> bool:
        """Once the searchOrders burst is spent, extrapolate the last pages' order density over
        the rest of the window and compare both ways' remaining time."""
        bucket = self.conn._buckets.get("searchOrders")
        if bucket is None or bucket.tokens >= 1 or len(recent) < 3:
            return False
        first, last = parse_iso(recent[0][0][0]["createdTime"]), parse_iso(recent[-1][0][-1]["createdTime"])
        covered = max((last - first).total_seconds(), 1.0)
        orders = sum(len(page) for page, _ in recent)
        left = (parse_iso(created_before) - last).total_seconds() * orders / covered
        candidates = sum(1 for _, lines in recent for l in lines if _needs_item_codes(l.fields)) * left / orders
        seconds = estimate_seconds(int(left), int(candidates))
        return seconds["report"] < seconds["search"]

    def _run_v0(self, result: LiveResult, pull_id: int, cursor: str | None) -> None:
        while True:
            kwargs = {"NextToken": cursor} if cursor else {
                "CreatedAfter": iso_utc(self.incident.window_start), "CreatedBefore": result.plan.created_before,
                "MaxResultsPerPage": PAGE}
            response = self.conn.call("getOrders", self.orders_v0.get_orders, **kwargs)
            page = response.payload.get("Orders") or []
            lines = []
            for order in page:
                items = self.conn.call("getOrderItems", self.orders_v0.get_order_items, order["AmazonOrderId"])
                lines += lines_from_v0(order, items.payload.get("OrderItems") or [], self.skus)
            cursor = response.next_token
            self._save_page(result, pull_id, lines, cursor, len(page))
            if cursor is None:
                return

    def _run_report(self, result: LiveResult, pull_id: int, cursor: str | None, since: str | None = None) -> None:
        """`since`: only orders from then on (a search that switched to the report)."""
        from sp_api.api import Reports

        reports = self.conn.client(Reports)
        report_id = cursor
        if report_id is None:
            created = self.conn.call("createReport", reports.create_report, reportType=REPORT_TYPE,
                                     dataStartTime=since or iso_utc(self.incident.window_start),
                                     dataEndTime=result.plan.created_before)
            report_id = created.payload["reportId"]
            with self.store.change(self.who, "live_report_requested", {"pull": pull_id, "report_id": report_id}) as conn:
                conn.execute("UPDATE live_pulls SET strategy = 'report', cursor = ? WHERE id = ?", (report_id, pull_id))
        while True:
            state = self.conn.call("getReport", reports.get_report, report_id).payload
            status = state.get("processingStatus")
            if status == "DONE":
                break
            if status in ("FATAL", "CANCELLED"):
                with self.store.change(self.who, "live_report_failed", {"report_id": report_id, "status": status}) as conn:
                    conn.execute("UPDATE live_pulls SET done = 1 WHERE id = ?", (pull_id,))
                raise ApiError("getReport", None, f"the All Orders report ended {status}; pull again "
                               "(`incident pull --live --strategy search`) or download it by hand")
            self.conn.clock.sleep(15.0)
        document = self.conn.call("getReportDocument", reports.get_report_document,
                                  state["reportDocumentId"], download=True).payload["document"]
        path = self.store.folder / "downloads" / f"all-orders-{report_id}.txt"
        write_private(path, document.encode("utf-8"))
        report = read_report(path, self.skus, "utf-8")
        window = [l for l in report.lines if self.incident.in_window(l.fields.get("purchase_date"))
                  and (since is None or l.fields.get("purchase_date") >= since)]
        wanted = sorted({l.order_id for l in window if _needs_item_codes(l.fields)})
        lines = list(window)
        for order_id in wanted:  # item codes and buyers come only from the order itself
            order = self.conn.call("getOrder", self.orders_2026.get_order, order_id, includedData=INCLUDED)
            lines += lines_from_2026(order.payload.get("order") or order.payload, self.skus)
        self._save_page(result, pull_id, lines, None, report.rows_read)
