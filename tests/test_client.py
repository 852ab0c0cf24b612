"""The client reading what Amazon's models say it sends: discounts split per promotion, buyer
cancellation requests, paged order items, Japanese report documents, stop-sales answers, and
refused logins in words that say what to check."""

from __future__ import annotations

import dataclasses
import json
import os
from decimal import Decimal

import pytest
from conftest import SAMPLES, use_simulator
from processes import Run

from incident import cancellation, scope
from incident.amazon import live, spapi
from incident.amazon.live.convert import lines_from_2026, lines_from_v0
from incident.amazon.ratelimits import RealClock, VirtualClock
from incident.sandbox import seeded
from incident.sandbox.scenario import Item
from incident.timeutil import iso_utc
from incident.workspace import store

SPEC = json.loads((SAMPLES / "us" / "scope.json").read_text())


@pytest.fixture
def sim(monkeypatch):
    simulator = seeded("us", clock=VirtualClock(), processing_seconds=0)
    simulator.start()
    use_simulator(monkeypatch, simulator)
    yield simulator
    simulator.stop()


@pytest.fixture
def opened(cli, home, sim):
    cli("open", "--sku", SPEC["skus"][0], "--start", SPEC["start"], "--end", SPEC["end"], "--floor", SPEC["floor"],
        "--marketplace", "US")
    with store.open_store(home) as incident_store:
        yield incident_store


def connect(sim, code: str = "US") -> spapi.Connection:
    return spapi.Connection(spapi.load_settings(code), clock=sim.clock)


def _item(**proceeds) -> dict:
    return {"orderItemId": "1", "quantityOrdered": 1,
            "product": {"sellerSku": "S", "price": {"unitPrice": {"amount": "249.99", "currencyCode": "USD"}}},
            **proceeds}


def _order(*items) -> dict:
    return {"orderId": "111-1", "createdTime": "2026-11-20T22:10:00Z", "orderItems": list(items),
            "fulfillment": {"fulfillmentStatus": "UNSHIPPED", "fulfilledBy": "MERCHANT"}}


def _usd(amount: str) -> dict:
    return {"amount": amount, "currencyCode": "USD"}


def test_every_discount_breakdown_of_the_item_counts_and_the_shipping_part_is_apart():
    item = _item(proceeds={"breakdowns": [
        {"type": "ITEM", "subtotal": _usd("249.99")},
        {"type": "SHIPPING", "subtotal": _usd("5.99")},
        {"type": "TAX", "subtotal": _usd("1.49"), "detailedBreakdowns": [
            {"subtype": "ITEM", "value": _usd("1.00")}, {"subtype": "SHIPPING", "value": _usd("0.49")}]},
        {"type": "DISCOUNT", "subtotal": _usd("-245.99"), "detailedBreakdowns": [
            {"subtype": "ITEM", "value": _usd("-240.00")}, {"subtype": "SHIPPING", "value": _usd("-5.99")}]},
        {"type": "DISCOUNT", "subtotal": _usd("-4.99")}]})
    fields = lines_from_2026(_order(item), {"S"})[0].fields
    assert fields["item_promotion_discount"] == Decimal("244.99")  # not the last one (4.99)
    assert fields["ship_promotion_discount"] == Decimal("5.99")
    assert (fields["item_price"], fields["shipping_price"]) == (Decimal("249.99"), Decimal("5.99"))
    assert (fields["item_tax"], fields["shipping_tax"]) == (Decimal("1.00"), Decimal("0.49"))


def test_a_buyers_cancellation_request_is_not_a_cancellation():
    requested = _item(cancellation={"cancellationRequest": {"requester": "BUYER", "cancelReason": "Ordered by mistake"}})
    done = _item(cancellation={"cancellationRequest": {"requester": "BUYER"},
                               "cancellationExecution": {"cancelledBy": "BUYER"}})
    open_line = lines_from_2026(_order(requested), {"S"})[0].fields
    assert open_line["item_status"] is None and open_line["cancel_requested"] == "1"
    assert open_line["cancelled_by"] is None
    closed = lines_from_2026(_order(done), {"S"})[0].fields
    assert closed["item_status"] == "Cancelled" and closed["cancelled_by"] == "BUYER"


def test_v0_reads_the_buyers_request_and_the_charges():
    order = {"AmazonOrderId": "111-1", "PurchaseDate": "2026-11-20T22:10:00Z", "OrderStatus": "Unshipped"}
    money = lambda amount: {"CurrencyCode": "USD", "Amount": amount}
    item = {"OrderItemId": "1", "SellerSKU": "S", "ASIN": "B", "QuantityOrdered": 1, "ItemPrice": money("249.99"),
            "PromotionDiscount": money("244.99"), "ItemTax": money("0.41"), "ShippingPrice": money("5.99"),
            "ShippingTax": money("0.49"), "ShippingDiscount": money("5.99"),
            "BuyerInfo": {"GiftWrapPrice": money("2.99"), "GiftWrapTax": money("0.25")},
            "BuyerRequestedCancel": {"IsBuyerRequestedCancel": "true", "BuyerCancelReason": "Ordered by mistake"}}
    fields = lines_from_v0(order, [item], {"S"})[0].fields
    assert fields["cancel_requested"] == "1" and fields["order_status"] == "Unshipped"
    assert (fields["item_tax"], fields["shipping_price"], fields["shipping_tax"], fields["ship_promotion_discount"],
            fields["gift_wrap_price"], fields["gift_wrap_tax"]) == tuple(
        Decimal(v) for v in ("0.41", "5.99", "0.49", "5.99", "2.99", "0.25"))


@pytest.mark.parametrize("strategy", ["search", "v0", "report"])
def test_orders_the_buyer_asked_to_cancel_are_still_cancelled_by_the_seller(sim, opened, strategy):
    asked = {o.order_id for o in sim.orders.values() if o.channel == "Merchant" and o.status == "Unshipped"
             and any(i.cancel_request and i.product.sku == SPEC["skus"][0] for i in o.items) and opened.incident().in_window(
                 iso_utc(o.purchase_date))}
    assert asked  # the simulator sends buyer cancellation requests
    live.LivePull(opened, connect(sim), "t").run(force=strategy)
    buckets = {d.line.order_id: d.bucket for d in scope.sort_store(opened)}
    assert {buckets[o] for o in asked} == {"cancellable_mfn"}
    rows = cancellation.build_rows(scope.sort_store(opened), "PricingError")
    assert asked <= {r[0] for r in rows}
    if strategy != "report":  # the report path reads these orders from getOrder too
        assert {l.order_id for l in opened.lines() if l.cancel_requested == "1"} >= asked


def test_the_discount_split_over_two_promotions_keeps_the_order_in_scope(sim, opened):
    live.LivePull(opened, connect(sim), "t").run(force="search")
    line = next(l for l in opened.lines() if l.promotion_ids and " " in l.promotion_ids)
    order = sim.orders[line.order_id]
    assert len(order.items[0].discount_parts) == 2
    assert line.item_promotion_discount == order.items[0].discount


def test_v0_order_items_are_read_over_every_page(sim, opened):
    sim.orders_2026 = False
    sim.order_items_page = 1
    order = next(o for o in sim.orders.values() if o.channel == "Merchant" and o.status == "Unshipped"
                 and opened.incident().in_window(iso_utc(o.purchase_date)))
    first = order.items[0]
    order.items += [Item(f"{n:014d}", first.product, 1, first.discount, first.promotion_ids, "Unshipped")
                    for n in range(1, 5)]
    live.LivePull(opened, connect(sim), "t").run(force="v0")
    assert len([l for l in opened.lines() if l.order_id == order.order_id]) == 5


def test_a_japanese_document_labelled_shift_jis_with_cp932_characters(monkeypatch, cli, home):
    spec = json.loads((SAMPLES / "jp" / "scope.json").read_text())
    simulator = seeded("jp", clock=VirtualClock(), processing_seconds=0)
    product = simulator.scenario.incident_product
    renamed = dataclasses.replace(product, name=product.name + " ①")  # in cp932, not in Shift_JIS
    for order in simulator.orders.values():
        for item in order.items:
            if item.product is product:
                item.product = renamed
    simulator.start()
    use_simulator(monkeypatch, simulator)
    cli("open", "--sku", spec["skus"][0], "--start", spec["start"], "--end", spec["end"], "--floor", spec["floor"],
        "--marketplace", "JP")
    with store.open_store(home) as s:
        live.LivePull(s, connect(simulator, "JP"), "t").run(force="report")
        names = {l.product_name for l in s.lines()}
    simulator.stop()
    assert "ソニック ノイズキャンセリング ヘッドホン ブラック ①" in names


def test_an_empty_window_in_the_report_path_is_zero_orders_not_an_error(monkeypatch, cli, home):
    simulator = seeded("us", clock=VirtualClock(), processing_seconds=0)
    simulator.start()
    use_simulator(monkeypatch, simulator)
    cli("open", "--sku", "NO-SUCH-SKU", "--start", "2026-11-19T10:00:00Z", "--end", "2026-11-19T11:00:00Z",
        "--marketplace", "US")
    with store.open_store(home) as s:
        result = live.LivePull(s, connect(simulator), "t").run(force="report")
    simulator.stop()
    assert result.pages == 1 and result.new_lines == 0


# -- stop-sales --------------------------------------------------------------------------------

def test_stop_sales_says_per_sku_what_happened_and_one_failure_stops_nothing(sim, cli):
    cli("open", "--sku", "SONIC-HP-BLK", "--sku", "NOT-A-SKU", "--sku", "CABLE-USBC-2M", "--sku", "CASE-HP-GRY",
        "--start", SPEC["start"], "--end", SPEC["end"], "--marketplace", "US")
    sim.refused_listings.add("CABLE-USBC-2M")
    sim.unapplied_listings.add("CASE-HP-GRY")
    result = cli("stop-sales", code=6)
    assert "SONIC-HP-BLK: stopped: quantity 500 -> 0" in result.stdout
    assert "NOT-A-SKU: NOT changed" in result.stderr and "no listing for this SKU" in result.stderr
    assert "CABLE-USBC-2M: NOT changed" in result.stderr and "INVALID" in result.stderr
    assert "CASE-HP-GRY: NOT confirmed" in result.stderr and "still shows 500" in result.stderr
    assert sim.listings["SONIC-HP-BLK"] == 0 and sim.listings["CABLE-USBC-2M"] == 500
    assert "Advertising > Promotions" in result.stdout and "NOT-A-SKU: set the quantity to 0" in result.stdout
    undone = cli("stop-sales", "--undo").stdout
    assert "SONIC-HP-BLK: restored: quantity 0 -> 500" in undone
    assert "CASE-HP-GRY: restored: quantity 500 -> 500" in undone  # the stop never applied: never said to be 0
    assert sim.listings["SONIC-HP-BLK"] == 500


def test_stop_sales_undo_reads_amazons_answer(sim, cli):
    cli("open", "--sku", "SONIC-HP-BLK", "--start", SPEC["start"], "--end", SPEC["end"], "--marketplace", "US")
    cli("stop-sales")
    sim.refused_listings.add("SONIC-HP-BLK")
    assert "SONIC-HP-BLK: NOT changed" in cli("stop-sales", "--undo", code=6).stderr
    sim.refused_listings.clear()
    assert "restored: quantity 0 -> 500" in cli("stop-sales", "--undo").stdout


@pytest.mark.long
@pytest.mark.parametrize("runs", [2, 4])
def test_people_stopping_sales_at_once_patch_each_sku_once(cli, home, monkeypatch, runs):
    simulator = seeded("us", clock=RealClock())
    simulator.start()
    use_simulator(monkeypatch, simulator)
    cli("open", "--sku", "SONIC-HP-BLK", "--sku", "SONIC-HP-WHT", "--start", SPEC["start"], "--end", SPEC["end"],
        "--marketplace", "US")
    simulator.inject("getListingsItem", "slow", seconds=0.25, times=runs)
    env = {**os.environ, **simulator.environment("x")}
    processes = [Run("stop-sales", env=env) for _ in range(runs)]
    outputs = [p.communicate(60) for p in processes]
    simulator.stop()
    patches = [q for op, q in simulator.calls if op == "patchListingsItem"]
    assert len(patches) == 2, outputs
    assert all(code == 0 or "another `incident stop-sales` is running" in err for code, _, err in outputs)
    with store.open_store(home) as s:
        saved = {r["sku"]: r["previous_quantity"] for r in s.conn.execute("SELECT * FROM stop_sales")}
    assert saved == {"SONIC-HP-BLK": 500, "SONIC-HP-WHT": 500}


# -- refused logins ------------------------------------------------------------------------------

@pytest.mark.parametrize("trusted", [False, True])
def test_every_client_shares_one_tls_context_that_still_checks_the_certificate(monkeypatch, tmp_path, trusted):
    """Amazon's login over HTTPS: a certificate from an authority nobody trusts is refused; trusted
    through SSL_CERT_FILE, as a company proxy's would be, it is accepted."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx
    import trustme
    from sp_api.api import Orders

    class Login(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"access_token": "Atza|t", "expires_in": 3600, "token_type": "bearer", "refresh_token": "r"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    authority = trustme.CA()
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_side)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Login)
    server.socket = server_side.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    for name, value in {"INCIDENT_SPAPI_ENDPOINT": url, "INCIDENT_LWA_ENDPOINT": f"{url}/auth/o2/token",
                        "SP_API_REFRESH_TOKEN": "Atzr|x", "LWA_APP_ID": "x", "LWA_CLIENT_SECRET": "x"}.items():
        monkeypatch.setenv(name, value)
    if trusted:
        authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    spapi.tls_context.cache_clear()
    try:
        connection = spapi.Connection(spapi.load_settings("US"))
        orders, login = connection.client(Orders), connection.client(Orders, version="v0")._auth
        assert orders.verify is spapi.tls_context() is login.verify
        if trusted:
            assert login.get_auth().access_token == "Atza|t"
        else:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                login.get_auth()
    finally:
        spapi.tls_context.cache_clear()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("refusal, setting", [("invalid_grant", "SP_API_REFRESH_TOKEN"),
                                              ("invalid_client", "LWA_APP_ID and LWA_CLIENT_SECRET")])
def test_a_refused_login_says_which_setting_to_check(sim, cli, refusal, setting):
    sim.refuse_login = refusal
    result = cli("doctor", "--marketplace", "US", code=1)
    assert f"Amazon refused the login ({refusal}): check" in result.stderr and setting in result.stderr
    assert "searchOrders" not in result.stderr and "no details" not in result.stderr


def test_a_refused_smtp_login_says_so_not_that_the_server_is_unreachable(cli, monkeypatch):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    from conftest import free_port

    class OnlyOAuth:  # a provider that takes no password login: the login is refused, the server is there
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

        async def auth_XOAUTH2(self, server, args):
            return AuthResult(success=False, handled=False)

    controller = Controller(OnlyOAuth(), hostname="127.0.0.1", port=free_port(), auth_require_tls=False,
                            auth_exclude_mechanism=["LOGIN", "PLAIN"])
    controller.start()
    for key, value in {"HOST": "127.0.0.1", "PORT": str(controller.port), "FROM": "care@example.com",
                       "TLS": "none", "USER": "seller", "PASSWORD": "app-password"}.items():
        monkeypatch.setenv(f"INCIDENT_SMTP_{key}", value)
    result = cli("doctor", "--smtp", code=5)
    controller.stop()
    assert "refused the login of 'seller'" in result.stderr and "cannot reach" not in result.stderr
    assert "app-password" not in result.stderr
