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

from incident.sandbox import shapes
from incident.sandbox.scenario import ALL_ORDERS_COLUMNS, UNSHIPPED_COLUMNS, Order
from incident.sandbox.wire import CANCEL_FEED, STATUS_2026, error, iso, parse_time

if TYPE_CHECKING:
    from incident.sandbox.server import Simulator

# -- operations --------------------------------------------------------------------------------

def _lwa(sim: Simulator, match, query, body: bytes, fault):
    form = parse_qs(body.decode())
    grantless = form.get("grant_type") == ["client_credentials"] and form.get("scope")  # Notifications destinations
    if not grantless and not form.get("refresh_token") or not form.get("client_id"):
        return 400, {"error": "invalid_request", "error_description": "refresh_token and client_id are required"}
    token = "Atza|" + secrets.token_hex(16)
    sim.tokens[token] = sim.clock.now() + 3600
    return 200, {"access_token": token, "token_type": "bearer", "expires_in": 3600,
                 **({} if grantless else {"refresh_token": form["refresh_token"][0]})}


def _page(items: list, query: dict, token_key: str, size: int) -> tuple[list, str | None]:
    start = int(query.get(token_key) or 0) if str(query.get(token_key) or "0").isdigit() else 0
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _search_orders(sim: Simulator, match, query, body, fault):
    if "createdAfter" not in query and "lastUpdatedAfter" not in query:
        return 400, error("InvalidInput", "Exactly one of createdAfter and lastUpdatedAfter is required.")
    if "createdBefore" in query and parse_time(query["createdBefore"]) > sim.now() - timedelta(minutes=2):
        return 400, error("InvalidInput", "createdBefore must be at least two minutes before the request time.")
    size = min(100, int(query.get("maxResultsPerPage", 100)))
    included = set((query.get("includedData") or "").split(",")) if isinstance(query.get("includedData"), str) \
        else set(query.get("includedData") or [])
    orders = sim._window(query, "createdAfter", "createdBefore")
    if "lastUpdatedAfter" in query:  # incident watch polls by last update
        orders = [o for o in orders if o.last_updated >= parse_time(query["lastUpdatedAfter"])]
    statuses = query.get("fulfillmentStatuses")
    if statuses:
        wanted = set(statuses.split(",") if isinstance(statuses, str) else statuses)
        orders = [o for o in orders if STATUS_2026[o.status] in wanted]
    page, token = _page(orders, query, "paginationToken", size)
    result = {"orders": [shapes.order_2026(o, included) for o in page], "createdBefore": query.get("createdBefore")}
    if token:
        result["pagination"] = {"nextToken": token}
    return 200, result


def _get_order_2026(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, error("NotFound", "Order not found.")
    included = set((query.get("includedData") or "").split(","))
    return 200, {"order": shapes.order_2026(order, included)}


def _get_orders_v0(sim, match, query, body, fault):
    if "CreatedBefore" in query and parse_time(query["CreatedBefore"]) > sim.now() - timedelta(minutes=2):
        return 400, error("InvalidInput", "CreatedBefore must be at least two minutes before the request time.")
    orders = sim._window(query, "CreatedAfter", "CreatedBefore")
    if "LastUpdatedAfter" in query:
        orders = [o for o in orders if o.last_updated >= parse_time(query["LastUpdatedAfter"])]
    page, token = _page(orders, query, "NextToken", min(100, int(query.get("MaxResultsPerPage", 100))))
    payload = {"Orders": [shapes.order_v0(o) for o in page]}
    if token:
        payload["NextToken"] = token
    return 200, {"payload": payload}


def _get_order_items_v0(sim, match, query, body, fault):
    order = sim.find(match.group(1))
    if order is None:
        return 404, error("NotFound", "Order not found.")
    return 200, {"payload": {"AmazonOrderId": order.order_id, "OrderItems": shapes.items_v0(order)}}


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
    report_id = str(len(sim.reports) + 50001)
    sim.reports[report_id] = {"reportId": report_id, "reportType": spec.get("reportType"),
                              "dataStartTime": spec.get("dataStartTime"), "dataEndTime": spec.get("dataEndTime"),
                              "created": sim.clock.now(), "fatal": fault is not None and fault.kind == "fatal_report"}
    return 202, {"reportId": report_id}


def _get_report(sim, match, query, body, fault):
    report = sim.reports.get(match.group(1))
    if report is None:
        return 404, error("NotFound", "Report not found.")
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
    start = parse_time(report["dataStartTime"]) if report.get("dataStartTime") else None
    end = parse_time(report["dataEndTime"]) if report.get("dataEndTime") else None
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
        return 404, error("NotFound", "Document not found.")
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
        return 403, error("AccessDenied", "Request has expired")
    sim.uploads[match.group(1)] = body
    return 200, b"", "text/plain"


def _create_feed(sim, match, query, body, fault):
    spec = json.loads(body or b"{}")
    if spec.get("inputFeedDocumentId") not in sim.uploads:
        return 400, error("InvalidInput", "Unknown inputFeedDocumentId.")
    feed_id = str(len(sim.feeds) + 70001)
    sim.feeds[feed_id] = {"feedId": feed_id, "feedType": spec.get("feedType"), "created": sim.clock.now(),
                          "inputFeedDocumentId": spec["inputFeedDocumentId"],
                          "createdTime": iso(sim.now()), "processingStatus": "IN_QUEUE"}
    return 202, {"feedId": feed_id}


def _feed_view(sim: Simulator, feed: dict) -> dict:
    if feed["processingStatus"] != "DONE" and sim.clock.now() - feed["created"] >= sim.processing_seconds:
        report = process_cancellation_feed(sim, sim.uploads[feed["inputFeedDocumentId"]]) \
            if feed["feedType"] == CANCEL_FEED else "Feed Processing Summary:\n"
        document_id = "amzn1.tortuga.3." + secrets.token_hex(8)
        sim.documents[document_id] = (gzip.compress(report.encode()), "text/plain; charset=UTF-8", True)
        feed.update(processingStatus="DONE", resultFeedDocumentId=document_id)
    return {k: v for k, v in feed.items() if k != "created"}


def _get_feed(sim, match, query, body, fault):
    feed = sim.feeds.get(match.group(1))
    if feed is None:
        return 404, error("NotFound", "Feed not found.")
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
        return 404, error("NotFound", "Order not found.")
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
        return 404, error("NotFound", "Order not found.")
    return 200, {"buyer": {"locale": buyer_locale(order)}}


def _unexpected_problem(sim, match, query, body, fault):
    text = json.loads(body or b"{}").get("text", "")
    if not 1 <= len(text) <= 2000:
        return 400, error("InvalidInput", "text must be 1 to 2000 characters.")
    with sim.lock:
        sim.messages.append({"orderId": match.group(1), "text": text, "at": sim.clock.now()})
    return 201, {}


def _get_listing(sim, match, query, body, fault):
    sku = match.group(2)
    if sku not in sim.listings:
        return 404, error("NotFound", f"SKU {sku} not found.")
    return 200, {"sku": sku, "fulfillmentAvailability": [
        {"fulfillmentChannelCode": "DEFAULT", "quantity": sim.listings[sku]}]}


def _patch_listing(sim, match, query, body, fault):
    sku = match.group(2)
    if sku not in sim.listings:
        return 404, error("NotFound", f"SKU {sku} not found.")
    for patch in json.loads(body or b"{}").get("patches", []):
        if patch.get("path") == "/attributes/fulfillment_availability":
            sim.set_quantity(sku, int(patch["value"][0]["quantity"]))
    return 200, {"sku": sku, "status": "ACCEPTED", "submissionId": secrets.token_hex(8), "issues": []}


def process_cancellation_feed(sim: Simulator, body: bytes) -> str:
    """Cancel what can be cancelled; a processing report with one error row per refusal."""
    lines = body.decode("utf-8", errors="replace").splitlines()
    rows = [l.split("\t") for l in lines[2:] if l.strip()]
    errors = []
    with sim.lock:
        for number, row in enumerate(rows, start=1):
            order_id, reason, item_code = (row + ["", "", ""])[:3]
            order = sim.find(order_id)
            problem = None
            if order is None:
                problem = ("18028", f"The order id {order_id} was not found in our system.")
            elif reason not in sim.reasons:
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
                    order.last_updated = sim.now()
            if problem:
                errors.append(f"{number}\t{order_id}\t{item_code}\t{problem[0]}\tError\t{problem[1]}")
    summary = ["Feed Processing Summary:", f"\tNumber of records processed\t\t{len(rows)}",
               f"\tNumber of records successful\t\t{len(rows) - len(errors)}", ""]
    header = "original-record-number\torder-id\torder-item-id\terror-code\terror-type\terror-message"
    return "\n".join(summary + ([header] + errors if errors else [])) + "\n"


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

from incident.sandbox.notifications import ROUTES as _NOTIFICATIONS  # noqa: E402 - incident watch's simulator side
from incident.sandbox.sales import ROUTES as _SALES  # noqa: E402

ROUTES += _NOTIFICATIONS + _SALES
