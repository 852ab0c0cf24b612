"""The simulator's operations: one function per SP-API operation it answers, and ROUTES, the
table the HTTP handler dispatches by (path pattern, method, operation name, function). Each
function takes the simulator, the path match, the query, the body and the fault in force, and
returns (status, payload[, content type])."""

from __future__ import annotations

import gzip
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from incident.sandbox import feeds, listings, notifications, promotions, sales, shapes
from incident.sandbox.scenario import ALL_ORDERS_COLUMNS, UNSHIPPED_COLUMNS, Order
from incident.sandbox.wire import STATUS_2026, document_answer, error, iso, parse_time

if TYPE_CHECKING:
    from incident.sandbox.server import Simulator

# -- operations --------------------------------------------------------------------------------

def _lwa(sim: Simulator, match, query, body: bytes, fault):
    form = parse_qs(body.decode())
    grantless = form.get("grant_type") == ["client_credentials"] and form.get("scope")  # Notifications destinations
    if not grantless and not form.get("refresh_token") or not form.get("client_id"):
        return 400, {"error": "invalid_request", "error_description": "refresh_token and client_id are required"}
    if sim.refuse_login == "invalid_grant":  # Login with Amazon's words for a revoked or mistyped refresh token
        return 400, {"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"}
    if sim.refuse_login == "invalid_client":
        return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}
    token = "Atza|" + secrets.token_hex(16)
    sim.tokens[token] = sim.clock.now() + 3600
    return 200, {"access_token": token, "token_type": "bearer", "expires_in": 3600,
                 **({} if grantless else {"refresh_token": form["refresh_token"][0]})}


def _page(items: list, query: dict, token_key: str, size: int) -> tuple[list, str | None]:
    start = int(query.get(token_key) or 0) if str(query.get(token_key) or "0").isdigit() else 0
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _listed(query: dict, key: str) -> set[str]:
    value = query.get(key) or []
    return {v for item in (value if isinstance(value, list) else [value]) for v in item.split(",") if v}


def _search_orders(sim: Simulator, match, query, body, fault):
    created, updated = "createdAfter" in query, "lastUpdatedAfter" in query
    if created == updated or (created and ({"lastUpdatedAfter", "lastUpdatedBefore"} & set(query))) \
            or (updated and "createdBefore" in query):
        return 400, error("InvalidInput", "Exactly one of createdAfter and lastUpdatedAfter is required, "
                                          "with its own Before.")
    after_key, before_key = ("createdAfter", "createdBefore") if created else ("lastUpdatedAfter", "lastUpdatedBefore")
    latest = sim.now() - timedelta(minutes=2)
    before = parse_time(query[before_key]) if before_key in query else latest
    if before > latest:
        return 400, error("InvalidInput", f"{before_key} must be at least two minutes before the request time.")
    if before < parse_time(query[after_key]):
        return 400, error("InvalidInput", f"{before_key} must be after {after_key}.")
    size = int(query.get("maxResultsPerPage", 100))
    if not 1 <= size <= 100:
        return 400, error("InvalidInput", "maxResultsPerPage must be between 1 and 100.")
    included = _listed(query, "includedData")
    orders = sim._window({after_key: query[after_key], before_key: iso(before)}, after_key, before_key,
                         updated=updated)
    statuses, channels, markets = (_listed(query, k) for k in ("fulfillmentStatuses", "fulfilledBy", "marketplaceIds"))
    orders = [o for o in orders if (not statuses or STATUS_2026[o.status] in statuses)
              and (not channels or ("MERCHANT" if o.channel == "Merchant" else "AMAZON") in channels)
              and (not markets or o.marketplace.marketplace_id in markets)]
    if sim.token_lifetime is not None:  # opaque tokens that expire, as Amazon's do
        refused = _opaque_offset(sim, query)
        if isinstance(refused, tuple):
            return refused
        page, token = _page(orders, {"paginationToken": refused}, "paginationToken", size)
        token = token and _opaque_token(sim, token)
    else:
        page, token = _page(orders, query, "paginationToken", size)
    result = {"orders": [shapes.order_2026(o, included, sim.delivery_role) for o in page], before_key: iso(before)}
    if token:
        result["pagination"] = {"nextToken": token}
    return 200, result


def _opaque_token(sim: Simulator, offset: str) -> str:
    opaque = secrets.token_urlsafe(24)
    sim.search_tokens[opaque] = (offset, sim.clock.now())
    return opaque


def _opaque_offset(sim: Simulator, query: dict) -> str | tuple[int, dict]:
    """The offset an opaque paginationToken stands for, or Amazon's refusal of an altered or
    expired one (Amazon: a token lives 24 hours)."""
    if "paginationToken" not in query:
        return "0"
    saved = sim.search_tokens.get(query["paginationToken"])
    if saved is None:
        return 400, error("InvalidInput", "Invalid paginationToken.")
    if sim.clock.now() - saved[1] > sim.token_lifetime:
        return 400, error("InvalidInput", "Invalid paginationToken: the token has expired.")
    return saved[0]


def _get_order_2026(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, error("NotFound", "Order not found.")
    return 200, {"order": shapes.order_2026(order, _listed(query, "includedData"), sim.delivery_role)}


def _get_orders_v0(sim, match, query, body, fault):
    if "NextToken" in query:  # v0 takes the token alone: it stands for the first call's filters
        saved = sim.page_tokens.get(query["NextToken"])
        if saved is None:
            return 400, error("InvalidInput", "Invalid NextToken.")
        query = {**saved[0], "NextToken": saved[1]}
    elif ("CreatedAfter" in query) == ("LastUpdatedAfter" in query):
        return 400, error("InvalidInput", "Exactly one of CreatedAfter and LastUpdatedAfter is required.")
    before_key = "CreatedBefore" if "CreatedAfter" in query else "LastUpdatedBefore"
    if before_key in query and parse_time(query[before_key]) > sim.now() - timedelta(minutes=2):
        return 400, error("InvalidInput", f"{before_key} must be at least two minutes before the request time.")
    orders = sim._window(query, "CreatedAfter", "CreatedBefore") if before_key == "CreatedBefore" \
        else sim._window(query, "LastUpdatedAfter", "LastUpdatedBefore", updated=True)
    statuses, channels = _listed(query, "OrderStatuses"), _listed(query, "FulfillmentChannels")
    orders = [o for o in orders if (not statuses or shapes.order_v0(o)["OrderStatus"] in statuses)
              and (not channels or ("MFN" if o.channel == "Merchant" else "AFN") in channels)]
    page, token = _page(orders, query, "NextToken", min(100, int(query.get("MaxResultsPerPage", 100))))
    payload = {"Orders": [shapes.order_v0(o) for o in page]}
    if token:
        opaque = secrets.token_urlsafe(24)
        sim.page_tokens[opaque] = ({k: v for k, v in query.items() if k != "NextToken"}, token)
        payload["NextToken"] = opaque
    if before_key in query:
        payload[before_key] = query[before_key]
    return 200, {"payload": payload}


def _get_order_items_v0(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, error("NotFound", "Order not found.")
    page, token = _page(shapes.items_v0(order), query, "NextToken", sim.order_items_page)
    payload = {"AmazonOrderId": order.order_id, "OrderItems": page}
    if token:
        payload["NextToken"] = token
    return 200, {"payload": payload}


def _buyer_info_v0(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, error("NotFound", "Order not found.")
    return 200, {"payload": {"AmazonOrderId": order.order_id, "BuyerEmail": order.buyer_email,
                             "BuyerName": order.buyer_name}}


def _rdt(sim, match, query, body, fault):
    token = "Atz.sprdt|" + secrets.token_hex(16)
    sim.tokens[token] = sim.clock.now() + 3600
    return 200, {"restrictedDataToken": token, "expiresIn": 3600}


def _create_report(sim, match, query, body, fault):
    spec = json.loads(body or b"{}")
    if not spec.get("reportType") or not spec.get("marketplaceIds"):
        return 400, error("InvalidInput", "reportType and marketplaceIds are required.")
    report_id = str(len(sim.reports) + 50001)
    sim.reports[report_id] = {"reportId": report_id, "reportType": spec["reportType"],
                              "dataStartTime": spec.get("dataStartTime"), "dataEndTime": spec.get("dataEndTime"),
                              "marketplaceIds": spec["marketplaceIds"], "createdTime": iso(sim.now()),
                              "created": sim.clock.now(), "fatal": fault is not None and fault.kind == "fatal_report"}
    return 202, {"reportId": report_id}


def _get_report(sim, match, query, body, fault):
    report = sim.reports.get(match.group(1))
    if report is None:
        return 404, error("NotFound", "Report not found.")
    result = {k: report[k] for k in ("reportId", "reportType", "marketplaceIds", "createdTime", "dataStartTime",
                                     "dataEndTime") if report.get(k)}
    elapsed = sim.clock.now() - report["created"]
    result["processingStatus"] = "IN_QUEUE" if elapsed < sim.processing_seconds / 2 else "IN_PROGRESS"
    if elapsed >= sim.processing_seconds / 2:
        result["processingStartTime"] = report.setdefault("started", iso(sim.now()))
    if elapsed >= sim.processing_seconds:
        result["processingEndTime"] = report.setdefault("ended", iso(sim.now()))
        if report["fatal"]:
            result["processingStatus"] = "FATAL"
            if sim.fatal_reason:  # Amazon may attach a document saying why
                result["reportDocumentId"] = report.setdefault("document", _fatal_document(sim))
        elif report.setdefault("document", _report_document(sim, report)) is None:
            result["processingStatus"] = "CANCELLED"  # Amazon cancels a report that has no data
        else:
            result["processingStatus"] = "DONE"
            result["reportDocumentId"] = report["document"]
    return 200, result


def _fatal_document(sim: Simulator) -> str:
    document_id = "amzn1.tortuga.4." + secrets.token_hex(8)
    text = json.dumps({"errorDetails": sim.fatal_reason})
    sim.documents[document_id] = (text.encode(), "application/json; charset=UTF-8", False)
    return document_id


def _report_document(sim: Simulator, report: dict) -> str | None:
    start = parse_time(report["dataStartTime"]) if report.get("dataStartTime") else None
    end = parse_time(report["dataEndTime"]) if report.get("dataEndTime") else None
    with sim.lock:
        now = sim.now()
        # Amazon: orders enter the order reports about 30 minutes after purchase
        eligible = now - timedelta(minutes=sim.report_delay_minutes)
        orders = [o for o in sim.orders.values() if sim._visible(o, now) and (start is None or o.purchase_date >= start)
                  and (end is None or o.purchase_date <= end) and o.purchase_date <= eligible]
    orders.sort(key=lambda o: o.purchase_date)
    scenario = sim.scenario
    if report["reportType"] == "GET_FLAT_FILE_ACTIONABLE_ORDER_DATA_SHIPPING":
        columns, rows = UNSHIPPED_COLUMNS, list(scenario.unshipped_rows(orders))
    else:
        columns, rows = ALL_ORDERS_COLUMNS, list(scenario.all_orders_rows(orders))
    if not rows:
        return None
    # Amazon.co.jp labels its documents Shift_JIS and writes them in Windows' superset of it (cp932)
    encoding, charset = ("cp932", "Shift_JIS") if sim.marketplace.code == "JP" else ("utf-8", "UTF-8")
    text = "\t".join(columns) + "\n" + "".join("\t".join(r.get(c, "") for c in columns) + "\n" for r in rows)
    document_id = "amzn1.tortuga.4." + secrets.token_hex(8)
    sim.documents[document_id] = (gzip.compress(text.encode(encoding)), f"text/plain; charset={charset}", True)
    return document_id


def _get_report_document(sim, match, query, body, fault):
    return document_answer(sim, match.group(1), "amzn1.tortuga.4.", "reportDocumentId")


def _download(sim, match, query, body, fault):
    document = sim.documents.get(match.group(1))
    if document is None:
        return 403, b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>' \
                    b'<Message>Access Denied</Message></Error>', "application/xml"
    data, content_type, _ = document
    return 200, data, content_type


_HAL = "application/hal+json"


def _messaging_actions(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, error("NotFound", "Order not found.")
    base = f"/messaging/v1/orders/{order.order_id}"
    markets = f"?marketplaceIds={order.marketplace.marketplace_id}"
    actions = [] if not _messaging_allowed(sim, order) or order.order_id in sim.messaging_not_offered else [
        {"href": f"{base}/messages/unexpectedProblem{markets}", "name": "unexpectedProblem"}]
    actions.append({"href": f"{base}/attributes{markets}", "name": "attributes"})
    return 200, {"_links": {"actions": actions, "self": {"href": base + markets}}}, _HAL


def buyer_locale(order: Order) -> str:
    """The buyer's language: the marketplace's, except one US buyer in eight who reads Spanish."""
    locale = order.marketplace.tag
    if locale == "en-US" and int(order.order_id[-3:]) % 8 == 0:
        return "es-US"
    return locale


def _attributes(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, error("NotFound", "Order not found.")
    return 200, {"buyer": {"locale": buyer_locale(order)}}, _HAL


def _messaging_allowed(sim, order: Order) -> bool:
    return not (order.channel == "Amazon" and order.status == "Cancelled")


def _unexpected_problem(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, error("NotFound", "Order not found.")
    if not sim.messaging_role:  # the app lacks the Buyer Communication role: every order refused
        return 403, error("Unauthorized", "Access to requested resource is denied.")
    if not _messaging_allowed(sim, order) or order.order_id in sim.messaging_not_offered | sim.messaging_refused:
        # Amazon's answer to a message type the order does not (or no longer) allow
        return 403, error("Unauthorized", "Invalid amazonOrderId and template combination.")
    text = json.loads(body or b"{}").get("text", "")
    if not 1 <= len(text) <= 2000:
        return 400, error("InvalidInput", "text must be 1 to 2000 characters.")
    with sim.lock:
        sim.messages.append({"orderId": match.group(1), "text": text, "at": sim.clock.now()})
    return 201, {}, _HAL


# query parameters Amazon's models mark required (tests/test_models.py holds the two together);
# a request without one gets Amazon's 400 error body
REQUIRED_QUERY: dict[str, tuple[str, ...]] = {
    "getOrders": ("MarketplaceIds",),
    "getMessagingActionsForOrder": ("marketplaceIds",),
    "getAttributes": ("marketplaceIds",),
    "createUnexpectedProblem": ("marketplaceIds",),
    "getListingsItem": ("marketplaceIds",),
    "patchListingsItem": ("marketplaceIds",),
    "searchPromotions": ("marketplaceIds",),
    "getSelection": ("revisionId",),
    "getOrderMetrics": ("marketplaceIds", "interval", "granularity"),
}

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
    (r"/reports/2021-06-30/documents/([\w.]+)", "GET", "getReportDocument", _get_report_document),
    (r"/_documents/([\w.]+)", "GET", "download", _download),
    (r"/feeds/2021-06-30/documents", "POST", "createFeedDocument", feeds.create_feed_document),
    (r"/_upload/([\w.]+)", "PUT", "upload", feeds.upload),
    (r"/feeds/2021-06-30/feeds", "POST", "createFeed", feeds.create_feed),
    (r"/feeds/2021-06-30/feeds", "GET", "getFeeds", feeds.get_feeds),
    (r"/feeds/2021-06-30/feeds/(\w+)", "GET", "getFeed", feeds.get_feed),
    (r"/feeds/2021-06-30/documents/([\w.]+)", "GET", "getFeedDocument", feeds.get_feed_document),
    (r"/messaging/v1/orders/([\d-]+)", "GET", "getMessagingActionsForOrder", _messaging_actions),
    (r"/messaging/v1/orders/([\d-]+)/attributes", "GET", "getAttributes", _attributes),
    (r"/messaging/v1/orders/([\d-]+)/messages/unexpectedProblem", "POST", "createUnexpectedProblem", _unexpected_problem),
    (r"/listings/2021-08-01/items/(\w+)/([^/]+)", "GET", "getListingsItem", listings.get_listing),
    (r"/listings/2021-08-01/items/(\w+)/([^/]+)", "PATCH", "patchListingsItem", listings.patch_listing),
]
ROUTES += promotions.ROUTES  # Promotions API 2025-12-01: incident/sandbox/promotions.py
ROUTES += notifications.ROUTES + sales.ROUTES  # incident watch's simulator side
