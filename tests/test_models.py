"""The simulator against Amazon's published SP-API models (shared/spapi-models), and Amazon's own
x-amzn-api-sandbox examples through the client. Every answer of every test is also checked by the
autouse fixture in conftest.py; here, what that cannot see: the operations a normal run does not
reach, required parameters, the checker itself, and the examples."""

from __future__ import annotations

import copy
import importlib.util
import random
import re
from decimal import Decimal
from pathlib import Path

import fastjsonschema
import httpx
import pytest
import spapi_models
from conftest import use_simulator

from incident.amazon import processing
from incident.amazon.live.convert import lines_from_2026, lines_from_v0
from incident.amazon.ratelimits import VirtualClock
from incident.sandbox import seeded
from incident.sandbox.operations import REQUIRED_QUERY, ROUTES


@pytest.fixture
def sim(monkeypatch):
    simulator = seeded("us", clock=VirtualClock(), processing_seconds=0, throttle=False)
    simulator.start()
    use_simulator(monkeypatch, simulator)
    yield simulator
    simulator.stop()


def _model_operation(name: str, pattern: str) -> spapi_models.Operation:
    """The model operation a simulator route serves, by name and path."""
    literal = re.sub(r"\(.*?\)", "{x}", pattern).replace("\\", "")
    for operation in spapi_models.operations():
        sample = re.sub(r"\{x\}", "X", literal)
        if operation.operation_id.lower() == name.lower() and operation.pattern.fullmatch(sample):
            return operation
    raise AssertionError(f"no model operation for route {name} {pattern}")


@pytest.mark.parametrize("route", [r for r in ROUTES if not r[0].startswith(("/_", "/auth"))], ids=lambda r: r[2])
def test_every_route_is_an_operation_of_amazons_models_and_enforces_its_required_query(route):
    pattern, verb, name, _ = route
    operation = _model_operation(name, pattern)
    assert operation.method == verb
    required = {p["name"] for p in operation.parameters if p.get("in") == "query" and p.get("required")}
    assert set(REQUIRED_QUERY.get(name, ())) == required


def _token(sim) -> str:
    form = {"grant_type": "refresh_token", "refresh_token": "r", "client_id": "c", "client_secret": "s"}
    return httpx.post(f"{sim.url}/auth/o2/token", data=form).json()["access_token"]


@pytest.mark.parametrize("path, query", [
    ("/orders/v0/orders", {"CreatedAfter": "2026-11-20T00:00:00Z"}),
    ("/listings/2021-08-01/items/A2SIMSELLER01/SONIC-HP-BLK", {}),
    ("/messaging/v1/orders/111-0000000-0000000", {}),
    ("/orders/2026-01-01/orders", {"maxResultsPerPage": "500", "createdAfter": "2026-11-20T00:00:00Z"}),
    ("/orders/2026-01-01/orders", {"createdAfter": "2026-11-20T00:00:00Z", "lastUpdatedAfter": "2026-11-20T00:00:00Z"}),
    ("/feeds/2021-06-30/feeds", {}),
    ("/feeds/2021-06-30/feeds", {"nextToken": "abc", "feedTypes": "X"}),
    ("/feeds/2021-06-30/feeds", {"feedTypes": "X", "pageSize": "101"}),
])
def test_a_bad_request_gets_amazons_400_error_body(sim, path, query):
    answer = httpx.get(sim.url + path, params=query, headers={"x-amz-access-token": _token(sim)})
    assert answer.status_code == 400
    assert spapi_models.problems("GET", path, 400, answer.json()) == []
    assert answer.json()["errors"][0]["code"] == "InvalidInput"


def test_the_checker_refuses_a_field_amazon_never_sends():
    feed = {"feedId": "1", "feedType": "X", "createdTime": "2026-11-20T00:00:00Z", "processingStatus": "DONE"}
    assert spapi_models.problems("GET", "/feeds/2021-06-30/feeds/1", 200, feed) == []
    found = spapi_models.problems("GET", "/feeds/2021-06-30/feeds/1", 200, {**feed, "inputFeedDocumentId": "d"})
    assert found and "inputFeedDocumentId" in found[0]
    found = spapi_models.problems("GET", "/orders/v0/orders", 200, {"payload": {"Orders": [{
        "AmazonOrderId": "1", "PurchaseDate": "2026-11-20T00:00:00Z", "LastUpdateDate": "2026-11-20T00:00:00Z",
        "OrderStatus": "Cancelled"}]}})
    assert found and "Canceled" in found[0]


def _broken(answer, rng: random.Random):
    """`answer` with one thing wrong somewhere: a field added or taken away, a value of another
    type, an impossible date, a word outside an enum."""
    answer = copy.deepcopy(answer)
    places = []

    def walk(node, parent, key):
        places.append((node, parent, key))
        for k, v in (node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()):
            walk(v, node, k)

    walk(answer, None, None)
    node, parent, key = rng.choice(places)
    if isinstance(node, dict) and (rng.random() < 0.5 or not node):
        node["unheardOf"] = 1
    elif isinstance(node, dict):
        node.pop(rng.choice(list(node)))
    elif parent is not None:
        parent[key] = rng.choice([7, 1.5, True, None, [], {}, "x", "2026-13-45T25:00:00Z", "NOT_AN_ENUM_WORD"])
    return answer


@pytest.mark.long
def test_the_quick_check_never_passes_an_answer_the_full_check_refuses():
    """problems() skips jsonschema when fastjsonschema passes an answer: that is only sound if
    the quick check is never the laxer one. Amazon's examples and broken copies of them decide."""
    rng, compared = random.Random(10), 0
    for operation in spapi_models.operations():
        for status in operation.responses:
            examples = spapi_models.sandbox_examples(operation.model, operation.operation_id, status)
            full = spapi_models._validator(operation.model, operation.operation_id, operation.method, status)
            if not examples or full is None:
                continue
            quick = spapi_models.quick_check(operation.model, operation.operation_id, operation.method, status)
            for answer in [e for example in examples for e in [example] + [_broken(example, rng) for _ in range(8)]]:
                try:
                    quick(answer)
                except fastjsonschema.JsonSchemaException:
                    continue
                compared += 1
                assert full.is_valid(answer), (operation.operation_id, answer)
    assert compared > 300


def test_getfeeds_pages_with_a_top_level_token_sent_alone(sim):
    token = _token(sim)
    for _ in range(25):
        sim.feeds[str(len(sim.feeds) + 1)] = {
            "feedId": str(len(sim.feeds) + 1), "feedType": "POST_FLAT_FILE_ORDER_ACKNOWLEDGEMENT_DATA",
            "created": sim.clock.now(), "createdTime": "2026-11-20T22:40:00Z", "marketplaceIds": ["ATVPDKIKX0DER"],
            "processingStatus": "CANCELLED", "mode": None, "input": ""}
    headers = {"x-amz-access-token": token}
    page = httpx.get(f"{sim.url}/feeds/2021-06-30/feeds", headers=headers,
                     params={"feedTypes": "POST_FLAT_FILE_ORDER_ACKNOWLEDGEMENT_DATA",
                             "createdSince": "2026-11-20T00:00:00Z"}).json()
    seen = len(page["feeds"])
    assert seen == 10 and "nextToken" in page  # pageSize defaults to 10
    while "nextToken" in page:
        page = httpx.get(f"{sim.url}/feeds/2021-06-30/feeds", headers=headers,
                         params={"nextToken": page["nextToken"]}).json()
        seen += len(page["feeds"])
    assert seen == 25


# -- Amazon's own examples through the client -------------------------------------------------

def test_amazons_search_orders_examples_parse():
    for example in spapi_models.sandbox_examples("orders_2026-01-01", "searchOrders"):
        for order in example["orders"]:
            skus = {i["product"]["sellerSku"] for i in order["orderItems"] if "sellerSku" in i.get("product", {})}
            lines = lines_from_2026(order, skus)
            assert len(lines) == len([i for i in order["orderItems"] if i.get("product", {}).get("sellerSku")])
            for line in lines:
                assert line.fields["purchase_date"].endswith("Z") and line.fields["item_price"] is not None


def test_amazons_get_order_examples_parse():
    for example in spapi_models.sandbox_examples("orders_2026-01-01", "getOrder"):
        order = example["order"]
        skus = {i["product"].get("sellerSku") for i in order["orderItems"]}
        assert lines_from_2026(order, skus)


def test_amazons_v0_order_items_example_parses():
    for example in spapi_models.sandbox_examples("ordersV0", "getOrderItems"):
        items = example["payload"]["OrderItems"]
        order = {"AmazonOrderId": example["payload"]["AmazonOrderId"], "PurchaseDate": "2026-11-20T00:00:00Z",
                 "OrderStatus": "Canceled"}
        lines = lines_from_v0(order, items, {i["SellerSKU"] for i in items})
        assert lines and all(line.fields["order_status"] == "Cancelled" for line in lines)


def test_amazons_listings_patch_examples_are_read_by_status():
    from incident.amazon.listings import _Listings

    class Answer:
        def __init__(self, payload):
            self.payload = payload

    listings = _Listings.__new__(_Listings)
    for example in spapi_models.sandbox_examples("listingsItems_2021-08-01", "patchListingsItem"):
        listings.connection = type("C", (), {"call": lambda self, op, fn, *a, **k: Answer(example)})()
        listings.client, listings.seller, listings.market = type("L", (), {"patch_listings_item": None})(), "S", ["M"]
        refused = listings.patch(example["sku"], "LUGGAGE", 0)
        assert (refused is None) == (example["status"] == "ACCEPTED"), example["status"]


def test_amazons_get_feeds_example_has_what_recovery_reads():
    for example in spapi_models.sandbox_examples("feeds_2021-06-30", "getFeeds"):
        for feed in example["feeds"]:
            assert {"feedId", "feedType", "createdTime", "processingStatus"} <= set(feed)
            assert "inputFeedDocumentId" not in feed  # why recovery cannot match on it


def test_money_is_a_decimal_string_and_read_without_loss(sim):
    order = next(o for o in sim.orders.values() if o.status == "Unshipped" and o.items[0].discount)
    from incident.sandbox import shapes

    shaped = shapes.order_2026(order, {"PROCEEDS"})
    line = lines_from_2026(shaped, {order.items[0].product.sku})[0]
    assert isinstance(line.fields["item_promotion_discount"], Decimal)
    assert line.fields["item_promotion_discount"] == order.items[0].discount


def test_processing_report_words_are_not_english_only():
    text = ("Zusammenfassung:\n\tAnzahl verarbeiteter Datensätze\t\t2\n\tAnzahl erfolgreicher Datensätze\t\t1\n\n"
            "ursprüngliche-datensatznummer\tbestellnummer\tposition\tfehlercode\tfehlertyp\tfehlermeldung\n"
            "2\t111-1\t123\t18030\tFehler\tBereits versandt\n")
    report = processing.parse_processing_report(text)
    assert (report.processed, report.successful) == (2, 1) and list(report.refusals) == [2]
    assert report.problems(2) == []


def test_the_carried_models_are_what_derive_py_makes_of_amazons_published_ones():
    spec = importlib.util.spec_from_file_location("derive", Path(__file__).parent / "amazon" / "derive.py")
    derive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(derive)
    if not derive.PUBLISHED.is_dir():
        pytest.skip("../shared/spapi-models is not beside the repository: nothing to compare the carried copy with")
    assert derive.derive() == derive.carried(), "run python tests/amazon/derive.py and commit tests/amazon/models"
