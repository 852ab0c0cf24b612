"""A local SP-API simulator: a real HTTP server that speaks enough of the Selling Partner API for
the whole incident flow (LWA tokens, Orders 2026-01-01 and v0, Tokens, Reports, Feeds, Messaging,
Listings Items, Promotions), with Amazon's default token buckets, a clock that can be virtual, and faults
on demand. Used by `incident sandbox serve`, the tests, the benchmarks and `incident demo --live`.

It is a stand-in for Amazon, not a copy: where Amazon's behaviour is unconfirmed (the layout of
the cancellation feed's processing report, for one), it does what the reference file describes.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

from incident.amazon.ratelimits import DEFAULT_PLANS, RealClock, buckets
from incident.sandbox import promotions
from incident.sandbox.operations import REQUIRED_QUERY, ROUTES
from incident.sandbox.scenario import Order, Scenario
from incident.sandbox.wire import REASONS, error, parse_time


@dataclass
class Fault:
    """Misbehaviour for one operation: kind is 500, 503, throttle, slow, timeout, expired_token,
    bad_pagination, fatal_report (createReport), or, on createFeed, fatal_feed (the feed ends FATAL
    after applying its rows), feed_warnings (warning rows in the processing report) and
    feed_file_error (a report whose only row names no record). `after` calls go through first,
    then `times` misbehave."""

    operation: str
    kind: str
    times: int = 1
    after: int = 0
    seconds: float = 0.0
    retry_after: float | None = None
    seen: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # a client that went away is normal
            super().handle_error(request, client_address)


class Simulator:
    """The simulated seller account and the HTTP server around it. Long because the account's
    state (orders, listings, feeds, promotions, faults, clock) is set up, served and stopped as one;
    each API's answers live in their own modules (operations, shapes, feeds, listings, promotions)."""

    # called with (method, path, status, body, content type) for every answer of every simulator:
    # the tests check each one against Amazon's published models
    answer_hooks: ClassVar[list[Callable[[str, str, int, Any, str], None]]] = []

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
        self.plans = {**DEFAULT_PLANS, **promotions.PLANS, **(plans or {})}
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
        self.reasons = set(REASONS)  # reason codes the cancellation feed accepts
        self.orders_2026 = True  # False: the app has no access to Orders 2026-01-01
        self.page_tokens: dict[str, tuple[dict, str]] = {}  # opaque v0 NextToken -> (first query, offset)
        # seconds a searchOrders paginationToken lives (Amazon: 24 hours) once set: tokens are then
        # opaque, and an expired or altered one is refused with 400 InvalidInput; None: plain offsets
        self.token_lifetime: float | None = None
        self.search_tokens: dict[str, tuple[str, float]] = {}  # opaque token -> (offset, issued)
        self.report_delay_minutes = 0.0  # orders enter order reports this long after purchase (Amazon: ~30)
        self.fatal_reason: str | None = None  # a FATAL report's document says this (errorDetails)
        # Messaging: orders whose getMessagingActionsForOrder leaves out unexpectedProblem; orders
        # offered it but refused at send (403, as when it is no longer allowed); False: no role at all
        self.messaging_not_offered: set[str] = set()
        self.messaging_refused: set[str] = set()
        self.messaging_role = True
        self.delivery_role = True  # False: Orders 2026-01-01 withholds buyer, name, street and postal code
        self.order_items_page = 100  # getOrderItems (v0) items per page, then NextToken
        self.refuse_login: str | None = None  # invalid_grant or invalid_client: LWA refuses the credentials
        self.refused_listings: set[str] = set()  # SKUs whose patch Amazon answers INVALID
        self.unapplied_listings: set[str] = set()  # SKUs whose ACCEPTED patch never takes effect
        self.promotions = promotions.Book() if scenario is None else promotions.book(
            scenario.catalog, self.now(), scenario.marketplace.currency)
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
        # stop() waits for the loop to see the request to shut down: look every 50 ms, not 500
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
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

    def _window(self, query: dict, after_key: str, before_key: str, updated: bool = False) -> list[Order]:
        """Orders created (or, `updated`, last updated) inside the query's window, oldest first."""
        after = parse_time(query[after_key]) if after_key in query else None
        before = parse_time(query[before_key]) if before_key in query else None
        moment = (lambda o: o.last_updated) if updated else (lambda o: o.purchase_date)
        with self.lock:
            now = self.now()
            chosen = [o for o in self.orders.values() if self._visible(o, now)
                      and (after is None or moment(o) >= after)
                      and (before is None or moment(o) <= before)]
        return sorted(chosen, key=lambda o: (moment(o), o.order_id))


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
        for hook in Simulator.answer_hooks:
            hook(self.command, urlparse(self.path).path, status, body, content_type)

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
            return self._send(404, error("NotFound", f"No such resource {method} {url.path}"))
        sim = self.sim
        body = self._body()
        if operation not in ("lwa", "upload", "download"):
            token = self.headers.get("x-amz-access-token", "")
            expiry = sim.tokens.get(token)
            if expiry is None or expiry < sim.clock.now():
                return self._send(403, error("Unauthorized", "Access to requested resource is denied."))
        sim.calls.append((operation, dict(query)))
        sim.ripen()
        if not sim.orders_2026 and operation in ("searchOrders", "getOrder"):
            return self._send(403, error("Unauthorized", "Access to requested resource is denied."))
        fault = sim._fault(operation)
        if fault:
            if fault.kind in ("500", "503"):
                return self._send(int(fault.kind), error("InternalFailure" if fault.kind == "500" else "ServiceUnavailable",
                                                          "We encountered an internal error. Please try again."))
            if fault.kind == "throttle":
                extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return self._send(429, error("QuotaExceeded", "You exceeded your quota for the requested resource."), headers=extra)
            if fault.kind in ("slow", "timeout"):
                time.sleep(fault.seconds)
            if fault.kind == "expired_token":
                sim.tokens.pop(self.headers.get("x-amz-access-token", ""), None)
                return self._send(403, error("Unauthorized", "The access token you provided has expired."))
            if fault.kind == "bad_pagination" and ("paginationToken" in query or "NextToken" in query):
                return self._send(400, error("InvalidInput", "Invalid pagination token."))
        if sim.throttle and operation in sim.buckets:
            with sim.lock:
                allowed = sim.buckets[operation].take(sim.clock.now())
                if not allowed:
                    sim.throttled[operation] = sim.throttled.get(operation, 0) + 1
            if not allowed:
                return self._send(429, error("QuotaExceeded", "You exceeded your quota for the requested resource."))
        missing = [name for name in REQUIRED_QUERY.get(operation, ()) if not query.get(name)]
        if missing:
            return self._send(400, error("InvalidInput", f"Missing required parameter: {missing[0]}."))
        try:
            extra = {"headers": self.headers} if operation == "upload" else {}
            status, payload, *rest = handler(sim, match, query, body, fault, **extra)
        except KeyError as exc:
            return self._send(400, error("InvalidInput", f"Missing or invalid parameter {exc}"))
        content_type = rest[0] if rest else "application/json"
        rate = sim.plans.get(operation)
        headers = {"x-amzn-RateLimit-Limit": str(rate[0])} if rate else {}
        self._send(status, payload, content_type=content_type, headers=headers)
