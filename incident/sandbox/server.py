"""A local SP-API simulator: a real HTTP server that speaks enough of the Selling Partner API for
the whole incident flow (LWA tokens, Orders 2026-01-01 and v0, Tokens, Reports, Feeds, Messaging,
Listings Items), with Amazon's default token buckets, a clock that can be virtual, and faults
on demand. Used by `incident sandbox serve`, the tests, the benchmarks and `incident demo --live`.

It is a stand-in for Amazon, not a copy: where Amazon's behaviour is unconfirmed (the layout of
the cancellation feed's processing report, for one), it does what the reference file describes.
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from incident.ratelimits import DEFAULT_PLANS, RealClock, buckets
from incident.scenario import ALL_ORDERS_COLUMNS, UNSHIPPED_COLUMNS, Order, Scenario

CANCEL_FEED = "POST_FLAT_FILE_ORDER_ACKNOWLEDGEMENT_DATA"
_STATUS_2026 = {"Pending": "PENDING", "Unshipped": "UNSHIPPED", "PartiallyShipped": "PARTIALLY_SHIPPED",
                "Shipped": "SHIPPED", "Cancelled": "CANCELLED"}
_REASONS = {"PricingError", "GeneralAdjustment", "NoInventory", "ShippingAddressUndeliverable",
            "CustomerExchange", "CustomerReturn", "MerchandiseNotReceived", "BuyerCanceled"}


@dataclass
class Fault:
    """Misbehaviour for one operation: kind is 500, 503, throttle, slow, timeout, expired_token,
    bad_pagination or fatal_report. `after` calls go through first, then `times` misbehave."""

    operation: str
    kind: str
    times: int = 1
    after: int = 0
    seconds: float = 0.0
    retry_after: float | None = None
    seen: int = 0


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _error(code: str, message: str) -> dict:
    return {"errors": [{"code": code, "message": message, "details": ""}]}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a client that went away is normal
            super().handle_error(request, client_address)


class Simulator:
    """The simulated seller account and the HTTP server around it."""

    def __init__(self, scenario: Scenario | None = None, *, clock=None, seller_id: str = "A2SIMSELLER01",
                 processing_seconds: float = 2.0, plans: dict | None = None, throttle: bool = True,
                 page_latency: float = 0.0, pending_minutes: float | None = None):
        self.clock = clock or RealClock()
        self.seller_id = seller_id
        self.processing_seconds = processing_seconds
        self.throttle = throttle
        self.page_latency = page_latency
        self.pending_minutes = pending_minutes  # Pending orders turn Unshipped this long after purchase
        self.off_sale: dict[str, list[list]] = {}  # sku -> [stopped, restarted or None]: no MFN orders then
        self._pending: list[Order] = []
        self.lock = threading.RLock()
        self.plans = {**DEFAULT_PLANS, **(plans or {})}
        self.buckets = buckets(self.plans)
        self.faults: list[Fault] = []
        self.calls: list[tuple[str, dict]] = []  # (operation, query) for tests
        self.throttled: dict[str, int] = {}  # operation -> 429s answered by the token buckets
        self.orders: dict[str, Order] = {}
        self.marketplace = scenario.marketplace if scenario else None
        self.scenario = scenario
        self.listings: dict[str, int] = {}
        self.tokens: dict[str, float] = {}  # access token -> expiry (clock time)
        self.reports: dict[str, dict] = {}
        self.documents: dict[str, tuple[bytes, str, bool]] = {}  # id -> (bytes, content type, gzip)
        self.uploads: dict[str, bytes] = {}
        self.feeds: dict[str, dict] = {}
        self.messages: list[dict] = []
        self.reasons = set(_REASONS)  # reason codes the cancellation feed accepts
        self.orders_2026 = True  # False: the app has no access to Orders 2026-01-01
        if scenario:
            self.add_orders(scenario.orders())
            for product in scenario.catalog:
                self.listings[product.sku] = 500
        self._server: ThreadingHTTPServer | None = None

    # -- state ------------------------------------------------------------------------------

    def add_orders(self, orders) -> None:
        with self.lock:
            for order in orders:
                self.orders[order.order_id] = order
                if self.pending_minutes is not None and order.status == "Pending":
                    self._pending.append(order)

    def ripen(self) -> None:
        """Orders that were placed by now exist; Pending ones whose payment cleared turn Unshipped
        (their prices and item codes appear), as on Amazon a few minutes after the purchase."""
        if not self._pending:
            return
        now = self.now()
        with self.lock:
            delay = timedelta(minutes=self.pending_minutes or 0)
            for order in [o for o in self._pending if o.purchase_date + delay <= now]:
                order.status = "Unshipped"
                for item in order.items:
                    if item.status == "Pending":
                        item.status = "Unshipped"
                order.last_updated = max(order.last_updated, order.purchase_date + delay)
                self._pending.remove(order)

    def find(self, order_id: str) -> Order | None:
        """The order, if it exists yet in this marketplace."""
        order = self.orders.get(order_id)
        return order if order is not None and self._visible(order, self.now()) else None

    def inject(self, operation: str, kind: str, **options: Any) -> Fault:
        fault = Fault(operation, kind, **options)
        with self.lock:
            self.faults.append(fault)
        return fault

    def _fault(self, operation: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.operation == operation and fault.times > 0:
                    fault.seen += 1
                    if fault.seen > fault.after:
                        fault.times -= 1
                        return fault
        return None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # -- server -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        simulator = self

        class Handler(_Handler):
            sim = simulator

        self._server = _Server((host, port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def environment(self, secret: str = "sandbox") -> dict[str, str]:
        """The variables that point incident at this running simulator, with stand-in credentials."""
        return {"INCIDENT_SPAPI_ENDPOINT": self.url, "INCIDENT_LWA_ENDPOINT": f"{self.url}/auth/o2/token",
                "INCIDENT_SELLER_ID": self.seller_id, "SP_API_REFRESH_TOKEN": secret, "LWA_APP_ID": secret,
                "LWA_CLIENT_SECRET": secret}

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- orders in the two API shapes ---------------------------------------------------------

    def _visible(self, order: Order, now: datetime) -> bool:
        """Placed by now in this marketplace, and not while its seller-fulfilled offer had quantity 0."""
        if order.marketplace.code != (self.marketplace.code if self.marketplace else order.marketplace.code):
            return False
        if order.purchase_date > now:
            return False
        if self.off_sale and order.channel == "Merchant":
            for item in order.items:
                for stopped, restarted in self.off_sale.get(item.product.sku, ()):
                    if stopped <= order.purchase_date and (restarted is None or order.purchase_date < restarted):
                        return False
        return True

    def set_quantity(self, sku: str, quantity: int) -> None:
        with self.lock:
            intervals = self.off_sale.setdefault(sku, [])
            if quantity == 0 and self.listings.get(sku, 0) > 0:
                intervals.append([self.now(), None])
            elif quantity > 0 and intervals and intervals[-1][1] is None:
                intervals[-1][1] = self.now()
            self.listings[sku] = quantity

    def order_2026(self, order: Order, included: set[str]) -> dict:
        hidden = order.status == "Pending"
        items = []
        for item in order.items:
            line = item.product.price * item.quantity
            entry = {"orderItemId": item.order_item_id, "quantityOrdered": item.quantity,
                     "product": {"asin": item.product.asin, "title": item.product.name,
                                 "sellerSku": item.product.sku}}
            if not hidden:
                entry["product"]["price"] = {"unitPrice": {"amount": str(item.product.price),
                                                           "currencyCode": order.marketplace.currency}}
            if "PROCEEDS" in included and not hidden:
                breakdowns = [{"type": "ITEM", "subtotal": {"amount": str(line), "currencyCode": order.marketplace.currency}}]
                if item.discount:
                    breakdowns.append({"type": "DISCOUNT", "subtotal": {"amount": str(-item.discount),
                                                                        "currencyCode": order.marketplace.currency}})
                entry["proceeds"] = {"proceedsTotal": {"amount": str(line - item.discount),
                                                       "currencyCode": order.marketplace.currency},
                                     "breakdowns": breakdowns}
            if "PROMOTION" in included and item.promotion_ids and not hidden:
                entry["promotion"] = {"breakdowns": [{"promotionId": p} for p in item.promotion_ids.split()]}
            if "FULFILLMENT" in included:
                shipped = item.quantity if item.status == "Shipped" else 0
                entry["fulfillment"] = {"quantityFulfilled": shipped, "quantityUnfulfilled": item.quantity - shipped}
            if "CANCELLATION" in included and item.status == "Cancelled":
                entry["cancellation"] = {"cancellationExecution": {"cancelledBy": "MERCHANT"}}
            items.append(entry)
        result = {"orderId": order.order_id, "createdTime": _iso(order.purchase_date),
                  "lastUpdatedTime": _iso(order.last_updated),
                  "salesChannel": {"channelName": "AMAZON", "marketplaceId": order.marketplace.marketplace_id,
                                   "marketplaceName": order.marketplace.sales_channel},
                  "fulfillment": {"fulfillmentStatus": _STATUS_2026[order.status],
                                  "fulfilledBy": "MERCHANT" if order.channel == "Merchant" else "AMAZON"},
                  "orderItems": items}
        if "BUYER" in included:
            result["buyer"] = {"buyerName": order.buyer_name, "buyerEmail": order.buyer_email}
        if "RECIPIENT" in included:
            result["recipient"] = {"deliveryAddress": {"countryCode": order.marketplace.code.replace("UK", "GB"),
                                                       "city": order.city, "postalCode": order.postal_code}}
        return result

    def order_v0(self, order: Order) -> dict:
        return {"AmazonOrderId": order.order_id, "PurchaseDate": _iso(order.purchase_date),
                "LastUpdateDate": _iso(order.last_updated), "OrderStatus": order.status,
                "FulfillmentChannel": "MFN" if order.channel == "Merchant" else "AFN",
                "SalesChannel": order.marketplace.sales_channel,
                "MarketplaceId": order.marketplace.marketplace_id,
                "NumberOfItemsUnshipped": sum(i.quantity for i in order.items if i.status != "Shipped")}

    def items_v0(self, order: Order) -> list[dict]:
        hidden = order.status == "Pending"
        result = []
        for item in order.items:
            entry = {"OrderItemId": item.order_item_id, "SellerSKU": item.product.sku, "ASIN": item.product.asin,
                     "Title": item.product.name, "QuantityOrdered": item.quantity,
                     "QuantityShipped": item.quantity if item.status == "Shipped" else 0,
                     "PromotionIds": item.promotion_ids.split() if item.promotion_ids and not hidden else []}
            if not hidden:
                currency = order.marketplace.currency
                entry["ItemPrice"] = {"CurrencyCode": currency, "Amount": str(item.product.price * item.quantity)}
                entry["PromotionDiscount"] = {"CurrencyCode": currency, "Amount": str(item.discount)}
            result.append(entry)
        return result

    def _window(self, query: dict, after_key: str, before_key: str) -> list[Order]:
        after = _parse_time(query[after_key]) if after_key in query else None
        before = _parse_time(query[before_key]) if before_key in query else None
        with self.lock:
            now = self.now()
            chosen = [o for o in self.orders.values() if self._visible(o, now)
                      and (after is None or o.purchase_date >= after)
                      and (before is None or o.purchase_date <= before)]
        return sorted(chosen, key=lambda o: (o.purchase_date, o.order_id))

    # -- feeds ------------------------------------------------------------------------------

    def process_cancellation_feed(self, body: bytes) -> str:
        """Cancel what can be cancelled; a processing report with one error row per refusal."""
        lines = body.decode("utf-8", errors="replace").splitlines()
        rows = [l.split("\t") for l in lines[2:] if l.strip()]
        errors = []
        with self.lock:
            for number, row in enumerate(rows, start=1):
                order_id, reason, item_code = (row + ["", "", ""])[:3]
                order = self.find(order_id)
                problem = None
                if order is None:
                    problem = ("18028", f"The order id {order_id} was not found in our system.")
                elif reason not in self.reasons:
                    problem = ("90004", f"The cancellation-reason-code '{reason}' is invalid.")
                elif order.channel != "Merchant":
                    problem = ("18031", "This order is fulfilled by Amazon and cannot be cancelled by the seller.")
                elif order.status in ("Shipped", "PartiallyShipped"):
                    problem = ("18030", "The order has already shipped and cannot be cancelled.")
                else:
                    item = next((i for i in order.items if i.order_item_id == item_code), None)
                    if item_code and item is None:
                        problem = ("18029", f"The order item code {item_code} does not match the order.")
                    else:
                        for target in (order.items if not item_code else [item]):
                            target.status = "Cancelled"
                        if all(i.status == "Cancelled" for i in order.items):
                            order.status = "Cancelled"
                        order.last_updated = self.now()
                if problem:
                    errors.append(f"{number}\t{order_id}\t{item_code}\t{problem[0]}\tError\t{problem[1]}")
        summary = ["Feed Processing Summary:", f"\tNumber of records processed\t\t{len(rows)}",
                   f"\tNumber of records successful\t\t{len(rows) - len(errors)}", ""]
        header = "original-record-number\torder-id\torder-item-id\terror-code\terror-type\terror-message"
        return "\n".join(summary + ([header] + errors if errors else [])) + "\n"


class _Handler(BaseHTTPRequestHandler):
    sim: Simulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def log_message(self, *args: Any) -> None:  # buyer data must not reach a log
        pass

    # plumbing ----------------------------------------------------------------------------------
    def _send(self, status: int, body: Any = None, *, content_type="application/json", headers=None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", secrets.token_hex(8))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self): self._dispatch("GET")
    def do_POST(self): self._dispatch("POST")
    def do_PUT(self): self._dispatch("PUT")
    def do_PATCH(self): self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(url.query).items()}
        for pattern, verb, operation, handler in ROUTES:
            match = re.fullmatch(pattern, url.path)
            if match and verb == method:
                break
        else:
            return self._send(404, _error("NotFound", f"No such resource {method} {url.path}"))
        sim = self.sim
        body = self._body()
        if operation not in ("lwa", "upload", "download"):
            token = self.headers.get("x-amz-access-token", "")
            expiry = sim.tokens.get(token)
            if expiry is None or expiry < sim.clock.now():
                return self._send(403, _error("Unauthorized", "Access to requested resource is denied."))
        sim.calls.append((operation, dict(query)))
        sim.ripen()
        if not sim.orders_2026 and operation in ("searchOrders", "getOrder"):
            return self._send(403, _error("Unauthorized", "Access to requested resource is denied."))
        fault = sim._fault(operation)
        if fault:
            if fault.kind in ("500", "503"):
                return self._send(int(fault.kind), _error("InternalFailure" if fault.kind == "500" else "ServiceUnavailable",
                                                          "We encountered an internal error. Please try again."))
            if fault.kind == "throttle":
                extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return self._send(429, _error("QuotaExceeded", "You exceeded your quota for the requested resource."), headers=extra)
            if fault.kind in ("slow", "timeout"):
                time.sleep(fault.seconds)
            if fault.kind == "expired_token":
                sim.tokens.pop(self.headers.get("x-amz-access-token", ""), None)
                return self._send(403, _error("Unauthorized", "The access token you provided has expired."))
            if fault.kind == "bad_pagination" and ("paginationToken" in query or "NextToken" in query):
                return self._send(400, _error("InvalidInput", "Invalid pagination token."))
        if sim.throttle and operation in sim.buckets:
            with sim.lock:
                allowed = sim.buckets[operation].take(sim.clock.now())
                if not allowed:
                    sim.throttled[operation] = sim.throttled.get(operation, 0) + 1
            if not allowed:
                return self._send(429, _error("QuotaExceeded", "You exceeded your quota for the requested resource."))
        try:
            status, payload, *rest = handler(sim, match, query, body, fault)
        except KeyError as exc:
            return self._send(400, _error("InvalidInput", f"Missing or invalid parameter {exc}"))
        content_type = rest[0] if rest else "application/json"
        rate = sim.plans.get(operation)
        headers = {"x-amzn-RateLimit-Limit": str(rate[0])} if rate else {}
        self._send(status, payload, content_type=content_type, headers=headers)


# -- operations --------------------------------------------------------------------------------

def _lwa(sim: Simulator, match, query, body: bytes, fault):
    form = parse_qs(body.decode())
    if not form.get("refresh_token") or not form.get("client_id"):
        return 400, {"error": "invalid_request", "error_description": "refresh_token and client_id are required"}
    token = "Atza|" + secrets.token_hex(16)
    sim.tokens[token] = sim.clock.now() + 3600
    return 200, {"access_token": token, "token_type": "bearer", "expires_in": 3600,
                 "refresh_token": form["refresh_token"][0]}


def _page(items: list, query: dict, token_key: str, size: int) -> tuple[list, str | None]:
    start = int(query.get(token_key) or 0) if str(query.get(token_key) or "0").isdigit() else 0
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _search_orders(sim: Simulator, match, query, body, fault):
    if "createdAfter" not in query and "lastUpdatedAfter" not in query:
        return 400, _error("InvalidInput", "Exactly one of createdAfter and lastUpdatedAfter is required.")
    if "createdBefore" in query and _parse_time(query["createdBefore"]) > sim.now() - timedelta(minutes=2):
        return 400, _error("InvalidInput", "createdBefore must be at least two minutes before the request time.")
    size = min(100, int(query.get("maxResultsPerPage", 100)))
    included = set((query.get("includedData") or "").split(",")) if isinstance(query.get("includedData"), str) \
        else set(query.get("includedData") or [])
    orders = sim._window(query, "createdAfter", "createdBefore")
    statuses = query.get("fulfillmentStatuses")
    if statuses:
        wanted = set(statuses.split(",") if isinstance(statuses, str) else statuses)
        orders = [o for o in orders if _STATUS_2026[o.status] in wanted]
    page, token = _page(orders, query, "paginationToken", size)
    result = {"orders": [sim.order_2026(o, included) for o in page], "createdBefore": query.get("createdBefore")}
    if token:
        result["pagination"] = {"nextToken": token}
    return 200, result


def _get_order_2026(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, _error("NotFound", "Order not found.")
    included = set((query.get("includedData") or "").split(","))
    return 200, {"order": sim.order_2026(order, included)}


def _get_orders_v0(sim, match, query, body, fault):
    if "CreatedBefore" in query and _parse_time(query["CreatedBefore"]) > sim.now() - timedelta(minutes=2):
        return 400, _error("InvalidInput", "CreatedBefore must be at least two minutes before the request time.")
    orders = sim._window(query, "CreatedAfter", "CreatedBefore")
    page, token = _page(orders, query, "NextToken", min(100, int(query.get("MaxResultsPerPage", 100))))
    payload = {"Orders": [sim.order_v0(o) for o in page]}
    if token:
        payload["NextToken"] = token
    return 200, {"payload": payload}


def _get_order_items_v0(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, _error("NotFound", "Order not found.")
    return 200, {"payload": {"AmazonOrderId": order.order_id, "OrderItems": sim.items_v0(order)}}


def _buyer_info_v0(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, _error("NotFound", "Order not found.")
    return 200, {"payload": {"AmazonOrderId": order.order_id, "BuyerEmail": order.buyer_email,
                             "BuyerName": order.buyer_name}}


def _rdt(sim, match, query, body, fault):
    token = "Atz.sprdt|" + secrets.token_hex(16)
    sim.tokens[token] = sim.clock.now() + 3600
    return 200, {"restrictedDataToken": token, "expiresIn": 3600}


def _create_report(sim, match, query, body, fault):
    spec = json.loads(body or b"{}")
    report_id = str(len(sim.reports) + 50001)
    sim.reports[report_id] = {"reportId": report_id, "reportType": spec.get("reportType"),
                              "dataStartTime": spec.get("dataStartTime"), "dataEndTime": spec.get("dataEndTime"),
                              "created": sim.clock.now(), "fatal": fault is not None and fault.kind == "fatal_report"}
    return 202, {"reportId": report_id}


def _get_report(sim, match, query, body, fault):
    report = sim.reports.get(match.group(1))
    if report is None:
        return 404, _error("NotFound", "Report not found.")
    result = {"reportId": report["reportId"], "reportType": report["reportType"],
              "processingStatus": "IN_PROGRESS", "marketplaceIds": [sim.marketplace.marketplace_id]}
    if sim.clock.now() - report["created"] >= sim.processing_seconds:
        if report["fatal"]:
            result["processingStatus"] = "FATAL"
        else:
            result["processingStatus"] = "DONE"
            result["reportDocumentId"] = report.setdefault("document", _report_document(sim, report))
    return 200, result


def _report_document(sim: Simulator, report: dict) -> str:
    start = _parse_time(report["dataStartTime"]) if report.get("dataStartTime") else None
    end = _parse_time(report["dataEndTime"]) if report.get("dataEndTime") else None
    with sim.lock:
        now = sim.now()
        orders = [o for o in sim.orders.values() if sim._visible(o, now) and (start is None or o.purchase_date >= start)
                  and (end is None or o.purchase_date <= end)]
    orders.sort(key=lambda o: o.purchase_date)
    scenario = sim.scenario
    if report["reportType"] == "GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING":
        columns, rows = UNSHIPPED_COLUMNS, scenario.unshipped_rows(orders)
    else:
        columns, rows = ALL_ORDERS_COLUMNS, scenario.all_orders_rows(orders)
    encoding = "cp932" if sim.marketplace.code == "JP" else "utf-8"
    text = "\t".join(columns) + "\n" + "".join("\t".join(r.get(c, "") for c in columns) + "\n" for r in rows)
    document_id = "amzn1.tortuga.4." + secrets.token_hex(8)
    charset = "Shift_JIS" if encoding == "cp932" else "UTF-8"
    sim.documents[document_id] = (gzip.compress(text.encode(encoding)), f"text/plain; charset={charset}", True)
    return document_id


def _get_document(sim, match, query, body, fault):
    document_id = match.group(1)
    if document_id not in sim.documents:
        return 404, _error("NotFound", "Document not found.")
    _, _, compressed = sim.documents[document_id]
    result = {"reportDocumentId": document_id, "feedDocumentId": document_id,
              "url": f"{sim.url}/_documents/{document_id}"}
    if compressed:
        result["compressionAlgorithm"] = "GZIP"
    return 200, result


def _download(sim, match, query, body, fault):
    data, content_type, _ = sim.documents[match.group(1)]
    return 200, data, content_type


def _create_feed_document(sim, match, query, body, fault):
    spec = json.loads(body or b"{}")
    document_id = "amzn1.tortuga.3." + secrets.token_hex(8)
    sim.uploads[document_id] = b""
    return 201, {"feedDocumentId": document_id, "url": f"{sim.url}/_upload/{document_id}",
                 "contentType": spec.get("contentType")}


def _upload(sim, match, query, body, fault):
    if match.group(1) not in sim.uploads:
        return 403, _error("AccessDenied", "Request has expired")
    sim.uploads[match.group(1)] = body
    return 200, b"", "text/plain"


def _create_feed(sim, match, query, body, fault):
    spec = json.loads(body or b"{}")
    if spec.get("inputFeedDocumentId") not in sim.uploads:
        return 400, _error("InvalidInput", "Unknown inputFeedDocumentId.")
    feed_id = str(len(sim.feeds) + 70001)
    sim.feeds[feed_id] = {"feedId": feed_id, "feedType": spec.get("feedType"), "created": sim.clock.now(),
                          "inputFeedDocumentId": spec["inputFeedDocumentId"],
                          "createdTime": _iso(sim.now()), "processingStatus": "IN_QUEUE"}
    return 202, {"feedId": feed_id}


def _feed_view(sim: Simulator, feed: dict) -> dict:
    if feed["processingStatus"] != "DONE" and sim.clock.now() - feed["created"] >= sim.processing_seconds:
        report = sim.process_cancellation_feed(sim.uploads[feed["inputFeedDocumentId"]]) \
            if feed["feedType"] == CANCEL_FEED else "Feed Processing Summary:\n"
        document_id = "amzn1.tortuga.3." + secrets.token_hex(8)
        sim.documents[document_id] = (gzip.compress(report.encode()), "text/plain; charset=UTF-8", True)
        feed.update(processingStatus="DONE", resultFeedDocumentId=document_id)
    return {k: v for k, v in feed.items() if k != "created"}


def _get_feed(sim, match, query, body, fault):
    feed = sim.feeds.get(match.group(1))
    if feed is None:
        return 404, _error("NotFound", "Feed not found.")
    with sim.lock:
        return 200, _feed_view(sim, feed)


def _get_feeds(sim, match, query, body, fault):
    with sim.lock:
        feeds = [_feed_view(sim, f) for f in sim.feeds.values()]
    types = query.get("feedTypes")
    if types:
        feeds = [f for f in feeds if f["feedType"] in (types.split(",") if isinstance(types, str) else types)]
    return 200, {"feeds": feeds}


def _messaging_actions(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, _error("NotFound", "Order not found.")
    actions = {} if order.channel == "Amazon" and order.status == "Cancelled" else {
        "unexpectedProblem": {"href": f"/messaging/v1/orders/{order.order_id}/messages/unexpectedProblem",
                              "name": "unexpectedProblem"}}
    return 200, {"_links": {"actions": list(actions.values())}, "_embedded": {"actions": []}}


def buyer_locale(order: Order) -> str:
    """The buyer's language: the marketplace's, except one US buyer in eight who reads Spanish."""
    locale = order.marketplace.tag
    if locale == "en-US" and int(order.order_id[-3:]) % 8 == 0:
        return "es-US"
    return locale


def _attributes(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, _error("NotFound", "Order not found.")
    return 200, {"buyer": {"locale": buyer_locale(order)}}


def _unexpected_problem(sim, match, query, body, fault):
    text = json.loads(body or b"{}").get("text", "")
    if not 1 <= len(text) <= 2000:
        return 400, _error("InvalidInput", "text must be 1 to 2000 characters.")
    with sim.lock:
        sim.messages.append({"orderId": match.group(1), "text": text, "at": sim.clock.now()})
    return 201, {}


def _get_listing(sim, match, query, body, fault):
    sku = match.group(2)
    if sku not in sim.listings:
        return 404, _error("NotFound", f"SKU {sku} not found.")
    return 200, {"sku": sku, "fulfillmentAvailability": [
        {"fulfillmentChannelCode": "DEFAULT", "quantity": sim.listings[sku]}]}


def _patch_listing(sim, match, query, body, fault):
    sku = match.group(2)
    if sku not in sim.listings:
        return 404, _error("NotFound", f"SKU {sku} not found.")
    for patch in json.loads(body or b"{}").get("patches", []):
        if patch.get("path") == "/attributes/fulfillment_availability":
            sim.set_quantity(sku, int(patch["value"][0]["quantity"]))
    return 200, {"sku": sku, "status": "ACCEPTED", "submissionId": secrets.token_hex(8), "issues": []}


ROUTES: list[tuple[str, str, str, Callable]] = [
    (r"/auth/o2/token", "POST", "lwa", _lwa),
    (r"/orders/2026-01-01/orders", "GET", "searchOrders", _search_orders),
    (r"/orders/2026-01-01/orders/([\d-]+)", "GET", "getOrder", _get_order_2026),
    (r"/orders/v0/orders", "GET", "getOrders", _get_orders_v0),
    (r"/orders/v0/orders/([\d-]+)/orderItems", "GET", "getOrderItems", _get_order_items_v0),
    (r"/orders/v0/orders/([\d-]+)/buyerInfo", "GET", "getOrderBuyerInfo", _buyer_info_v0),
    (r"/tokens/2021-03-01/restrictedDataToken", "POST", "createRestrictedDataToken", _rdt),
    (r"/reports/2021-06-30/reports", "POST", "createReport", _create_report),
    (r"/reports/2021-06-30/reports/(\w+)", "GET", "getReport", _get_report),
    (r"/reports/2021-06-30/documents/([\w.]+)", "GET", "getReportDocument", _get_document),
    (r"/_documents/([\w.]+)", "GET", "download", _download),
    (r"/feeds/2021-06-30/documents", "POST", "createFeedDocument", _create_feed_document),
    (r"/_upload/([\w.]+)", "PUT", "upload", _upload),
    (r"/feeds/2021-06-30/feeds", "POST", "createFeed", _create_feed),
    (r"/feeds/2021-06-30/feeds", "GET", "getFeeds", _get_feeds),
    (r"/feeds/2021-06-30/feeds/(\w+)", "GET", "getFeed", _get_feed),
    (r"/feeds/2021-06-30/documents/([\w.]+)", "GET", "getFeedDocument", _get_document),
    (r"/messaging/v1/orders/([\d-]+)", "GET", "getMessagingActionsForOrder", _messaging_actions),
    (r"/messaging/v1/orders/([\d-]+)/attributes", "GET", "getAttributes", _attributes),
    (r"/messaging/v1/orders/([\d-]+)/messages/unexpectedProblem", "POST", "createUnexpectedProblem", _unexpected_problem),
    (r"/listings/2021-08-01/items/(\w+)/([^/]+)", "GET", "getListingsItem", _get_listing),
    (r"/listings/2021-08-01/items/(\w+)/([^/]+)", "PATCH", "patchListingsItem", _patch_listing),
]
