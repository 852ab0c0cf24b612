"""Made-up but realistic incidents: orders over a time range with a stacked-discount burst on one
SKU inside it, written as Seller Central report files. Used for samples/, tests, benchmarks."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from incident.amazon.marketplaces import BY_CODE, Marketplace

ALL_ORDERS_COLUMNS = [
    "amazon-order-id", "merchant-order-id", "purchase-date", "last-updated-date", "order-status",
    "fulfillment-channel", "sales-channel", "order-channel", "url", "ship-service-level",
    "product-name", "sku", "asin", "item-status", "quantity", "currency", "item-price", "item-tax",
    "shipping-price", "shipping-tax", "gift-wrap-price", "gift-wrap-tax",
    "item-promotion-discount", "ship-promotion-discount", "ship-city", "ship-state",
    "ship-postal-code", "ship-country", "promotion-ids", "cpf", "is-business-order",
    "purchase-order-number", "price-designation",
]
UNSHIPPED_COLUMNS = [
    "order-id", "order-item-id", "purchase-date", "payments-date", "reporting-date",
    "promise-date", "days-past-promise", "buyer-email", "buyer-name", "buyer-phone-number", "sku",
    "product-name", "quantity-purchased", "quantity-shipped", "quantity-to-ship",
    "ship-service-level", "recipient-name", "ship-address-1", "ship-address-2", "ship-address-3",
    "ship-city", "ship-state", "ship-postal-code", "ship-country", "is-business-order",
    "purchase-order-number", "price-designation", "is-prime",
]
LEGACY_COLUMNS = [
    "order-id", "order-item-id", "purchase-date", "payments-date", "buyer-email", "buyer-name",
    "buyer-phone-number", "sku", "product-name", "quantity-purchased", "currency", "item-price",
    "item-tax", "shipping-price", "shipping-tax", "ship-service-level", "recipient-name",
    "ship-address-1", "ship-address-2", "ship-address-3", "ship-city", "ship-state",
    "ship-postal-code", "ship-country", "ship-phone-number", "item-promotion-discount",
    "item-promotion-id", "ship-promotion-discount", "ship-promotion-id", "delivery-start-date",
    "delivery-end-date", "delivery-time-zone", "delivery-Instructions", "sales-channel",
]


@dataclass
class Product:
    sku: str
    asin: str
    name: str
    price: Decimal


@dataclass
class Item:
    order_item_id: str
    product: Product
    quantity: int
    discount: Decimal  # line total promotion discount
    promotion_ids: str
    status: str
    # what the Orders API states beyond the All Orders report's columns (see Scenario._details)
    discount_parts: list[Decimal] = field(default_factory=list)  # one DISCOUNT breakdown per promotion
    shipping: Decimal = Decimal(0)
    shipping_discount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    shipping_tax: Decimal = Decimal(0)
    gift_wrap: Decimal = Decimal(0)
    gift_wrap_tax: Decimal = Decimal(0)
    cancel_request: str | None = None  # the buyer's reason, while a cancellation request is open
    cancelled_by: str | None = None  # BUYER, MERCHANT or AMAZON once cancelled


@dataclass
class Order:
    order_id: str
    purchase_date: datetime
    last_updated: datetime
    status: str
    channel: str  # Merchant or Amazon
    marketplace: Marketplace
    buyer_email: str
    buyer_name: str
    city: str
    postal_code: str
    items: list[Item] = field(default_factory=list)


_SHIPPING = {"USD": Decimal("5.99"), "CAD": Decimal("7.99"), "GBP": Decimal("3.99"), "EUR": Decimal("4.99"),
             "JPY": Decimal(500)}
_SALES_TAX = {"US": Decimal("0.0825")}  # elsewhere the price includes VAT or consumption tax

CATALOG = {
    "US": [Product("SONIC-HP-BLK", "B0CX1HP001", "Sonic Pro Noise-Cancelling Headphones, Black", Decimal("249.99")),
           Product("SONIC-HP-WHT", "B0CX1HP002", "Sonic Pro Noise-Cancelling Headphones, White", Decimal("249.99")),
           Product("CABLE-USBC-2M", "B0CX1CB010", "USB-C Cable 2 m \"braided\"", Decimal("12.99")),
           Product("CASE-HP-GRY", "B0CX1CS020", "Hard Case for Headphones – Grey", Decimal("29.99")),
           Product("CAFE-MUG-CREME", "B0CX1MG030", "Café Crème Mug, 350 ml", Decimal("18.50"))],
    "JP": [Product("JP-HP-BLK", "B0DJ1HP001", "ソニック ノイズキャンセリング ヘッドホン ブラック", Decimal(34800)),
           Product("JP-CABLE-2M", "B0DJ1CB010", "USB-C ケーブル 2m（編組）", Decimal(1480)),
           Product("JP-CASE-GRY", "B0DJ1CS020", "ヘッドホン用ハードケース グレー", Decimal(3980))],
}
_NAMES = {"US": ["Alex Miller", "Jordan Lee", "Sam García", "Taylor Brooks", "Chris Nguyen", "Renée Dubois"],
          "JP": ["山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健"]}
_CITIES = {"US": [("Seattle", "WA", "98101"), ("Austin", "TX", "73301"), ("Denver", "CO", "80202")],
           "JP": [("渋谷区", "東京都", "150-0002"), ("大阪市", "大阪府", "530-0001")]}


class Scenario:
    """Orders for one marketplace: background sales over [begin, finish) and a burst of orders
    for `incident_sku` at a stacked price inside [window_start, window_end)."""

    def __init__(self, marketplace: str = "US", seed: int = 7, *, begin: datetime,
                 finish: datetime, window_start: datetime, window_end: datetime,
                 incident_sku: str | None = None, burst_orders: int = 260,
                 background_orders: int = 120, promotion_ids: str = "SOCIAL-PROMO-20 COUPON-40",
                 mfn_share: float = 0.6, incident_share: float = 0.3, extra_skus: int = 0,
                 busy_orders: int = 0):
        self.marketplace = BY_CODE[marketplace]
        self.random = random.Random(seed)
        self.catalog = list(CATALOG.get(marketplace, CATALOG["US"]))
        self.catalog += [Product(f"SKU-{n:05d}", f"B0GEN{n:05d}", f"Catalogue item {n}",
                                 Decimal(self.random.randrange(500, 20000)) / 100)
                         for n in range(extra_skus)]
        self.incident_product = next(p for p in self.catalog if p.sku == (incident_sku or self.catalog[0].sku))
        self.begin, self.finish = begin, finish
        self.window_start, self.window_end = window_start, window_end
        self.burst_orders, self.background_orders = burst_orders, background_orders
        self.promotion_ids = promotion_ids
        self.mfn_share = mfn_share
        self.incident_share = incident_share
        self.busy_orders = busy_orders  # other products' orders inside the window
        self._ids: set[str] = set()
        self.reported_at = window_end + timedelta(minutes=25)

    # ids -----------------------------------------------------------------------------------
    def _order_id(self) -> str:
        while True:
            prefix = "249" if self.marketplace.code == "JP" else self.random.choice(["111", "112", "113", "114"])
            value = f"{prefix}-{self.random.randrange(10**7):07d}-{self.random.randrange(10**7):07d}"
            if value not in self._ids:
                self._ids.add(value)
                return value

    def _item_id(self) -> str:
        # some codes start with 0: a spreadsheet drops those zeros, which the reader must catch
        return f"{self.random.randrange(10**14):014d}"

    # orders --------------------------------------------------------------------------------
    def orders(self) -> Iterator[Order]:
        for order in self._orders():
            api_details(order)
            yield order

    def _orders(self) -> Iterator[Order]:
        for _ in range(self.burst_orders):
            moment = self.window_start + (self.window_end - self.window_start) * self.random.random() ** 2
            yield self._order(moment, burst=True)
        others = [p for p in self.catalog if p is not self.incident_product]
        for _ in range(self.busy_orders):
            moment = self.window_start + (self.window_end - self.window_start) * self.random.random()
            order = self._order(moment, burst=False)
            order.items[0].product = self.random.choice(others)
            yield order
        for _ in range(self.background_orders):
            moment = self.begin + (self.finish - self.begin) * self.random.random()
            if self.window_start <= moment < self.window_end:
                moment = self.window_end + timedelta(minutes=self.random.randrange(5, 90))
            yield self._order(moment, burst=False)

    def _order(self, moment: datetime, burst: bool) -> Order:
        rnd = self.random
        channel = "Merchant" if rnd.random() < self.mfn_share else "Amazon"
        roll = rnd.random()
        if channel == "Merchant":
            status = ("Unshipped" if roll < 0.70 else "Pending" if roll < 0.80 else
                      "Shipped" if roll < 0.90 else "Cancelled" if roll < 0.95 else "PartiallyShipped")
        else:
            status = ("Unshipped" if roll < 0.45 else "Pending" if roll < 0.70 else
                      "Shipped" if roll < 0.92 else "Cancelled")
        city = rnd.choice(_CITIES.get(self.marketplace.code, _CITIES["US"]))
        name = rnd.choice(_NAMES.get(self.marketplace.code, _NAMES["US"]))
        tld = {"US": "com", "JP": "co.jp", "UK": "co.uk"}.get(self.marketplace.code, self.marketplace.code.lower())
        moment = moment.replace(microsecond=0)
        order = Order(order_id=self._order_id(), purchase_date=moment,
                      last_updated=moment + timedelta(minutes=rnd.randrange(1, 20)), status=status,
                      channel=channel, marketplace=self.marketplace,
                      buyer_email=f"{rnd.randrange(16**12):012x}@marketplace.amazon.{tld}",
                      buyer_name=name, city=city[0], postal_code=city[2])
        product = self.incident_product if burst or rnd.random() < self.incident_share else rnd.choice(self.catalog)
        order.items.append(self._item(product, status, burst))
        if rnd.random() < 0.12 or status == "PartiallyShipped":
            extra = rnd.choice([p for p in self.catalog if p is not product])
            extra_status = "Shipped" if status == "PartiallyShipped" else status
            order.items.append(self._item(extra, extra_status, False))
        return order

    def _item(self, product: Product, status: str, stacked: bool) -> Item:
        quantity = 1 if self.random.random() < 0.8 else self.random.randrange(2, 4)
        line_price = product.price * quantity
        if stacked:
            cents = Decimal(1).scaleb(product.price.as_tuple().exponent)
            discount = (line_price * Decimal("0.98")).quantize(cents)
            promotions = self.promotion_ids
        else:
            discount, promotions = Decimal(0), ""
        item_status = {"PartiallyShipped": "Unshipped"}.get(status, status)
        return Item(self._item_id(), product, quantity, discount, promotions, item_status)

    # report files ----------------------------------------------------------------------------
    def all_orders_rows(self, orders: Iterable[Order]) -> Iterator[dict[str, str]]:
        tz = ZoneInfo(self.marketplace.timezone)
        for order in orders:
            for item in order.items:
                hidden = order.status == "Pending" and order.channel == "Merchant"
                yield {
                    "amazon-order-id": order.order_id, "merchant-order-id": "",
                    "purchase-date": order.purchase_date.astimezone(tz).isoformat(),
                    "last-updated-date": order.last_updated.astimezone(tz).isoformat(),
                    "order-status": order.status, "fulfillment-channel": order.channel,
                    "sales-channel": order.marketplace.sales_channel, "order-channel": "",
                    "url": "", "ship-service-level": "Standard", "product-name": item.product.name,
                    "sku": item.product.sku, "asin": item.product.asin, "item-status": item.status,
                    "quantity": str(item.quantity), "currency": order.marketplace.currency,
                    "item-price": "" if hidden else str(item.product.price * item.quantity),
                    "item-tax": _cell(item.tax, hidden), "shipping-price": _cell(item.shipping, hidden),
                    "shipping-tax": _cell(item.shipping_tax, hidden), "gift-wrap-price": _cell(item.gift_wrap, hidden),
                    "gift-wrap-tax": _cell(item.gift_wrap_tax, hidden),
                    "item-promotion-discount": "" if hidden or not item.discount else f"-{item.discount}",
                    "ship-promotion-discount": "" if hidden or not item.shipping_discount else f"-{item.shipping_discount}",
                    "ship-city": order.city, "ship-state": "",
                    "ship-postal-code": order.postal_code, "ship-country": order.marketplace.code.replace("UK", "GB"),
                    "promotion-ids": "" if hidden else item.promotion_ids, "cpf": "",
                    "is-business-order": "false", "purchase-order-number": "",
                    "price-designation": "",
                }

    def unshipped_rows(self, orders: Iterable[Order]) -> Iterator[dict[str, str]]:
        """MFN orders whose payment cleared (no Pending), still waiting to ship."""
        for order in orders:
            if order.channel != "Merchant" or order.status not in ("Unshipped", "PartiallyShipped"):
                continue
            for item in order.items:
                shipped = item.quantity if item.status == "Shipped" else 0
                if shipped == item.quantity:
                    continue
                yield {
                    "order-id": order.order_id, "order-item-id": item.order_item_id,
                    "purchase-date": order.purchase_date.isoformat(),
                    "payments-date": order.purchase_date.isoformat(),
                    "reporting-date": self.reported_at.isoformat(), "promise-date": "",
                    "days-past-promise": "0", "buyer-email": order.buyer_email,
                    "buyer-name": order.buyer_name, "buyer-phone-number": "", "sku": item.product.sku,
                    "product-name": item.product.name, "quantity-purchased": str(item.quantity),
                    "quantity-shipped": str(shipped), "quantity-to-ship": str(item.quantity - shipped),
                    "ship-service-level": "Standard", "recipient-name": order.buyer_name,
                    "ship-address-1": "1 Example Street", "ship-address-2": "", "ship-address-3": "",
                    "ship-city": order.city, "ship-state": "", "ship-postal-code": order.postal_code,
                    "ship-country": order.marketplace.code.replace("UK", "GB"),
                    "is-business-order": "false", "purchase-order-number": "", "price-designation": "",
                    "is-prime": "false",
                }


def _cell(amount: Decimal, hidden: bool) -> str:
    """An amount as the All Orders report writes it: empty when zero or not shown yet."""
    return "" if hidden or not amount else str(amount)


def api_details(order: Order) -> None:
    """What the Orders API says beyond the report's columns: the discount split per promotion,
    shipping (some with a free-shipping promotion), sales tax, gift wrap, who cancelled a
    cancelled item, and open buyer cancellation requests. Drawn from the order id, not from the
    scenario's random stream, so the report files of a seed stay as they were."""
    rnd = random.Random(order.order_id)
    currency = order.marketplace.currency
    charge = _SHIPPING.get(currency, Decimal(0))
    rate = _SALES_TAX.get(order.marketplace.code, Decimal(0))
    for item in order.items:
        cents = Decimal(1).scaleb(item.product.price.as_tuple().exponent)
        promotions = item.promotion_ids.split()
        if item.discount and len(promotions) > 1:  # the promo code takes most, the coupon the rest
            coupon = min(item.discount, (item.product.price * item.quantity * Decimal("0.02")).quantize(cents))
            item.discount_parts = [item.discount - coupon, coupon]
        elif item.discount:
            item.discount_parts = [item.discount]
        if order.channel == "Merchant" and charge and rnd.random() < 0.35:
            item.shipping = charge
            if rnd.random() < 0.5:
                item.shipping_discount = charge
        if order.channel == "Merchant" and charge and rnd.random() < 0.05:
            item.gift_wrap = (charge * Decimal("0.5")).quantize(cents)
        if rate:
            item.tax = ((item.product.price * item.quantity - item.discount) * rate).quantize(cents)
            item.shipping_tax = ((item.shipping - item.shipping_discount) * rate).quantize(cents)
            item.gift_wrap_tax = (item.gift_wrap * rate).quantize(cents)
        if item.status == "Cancelled":
            # cancelled before the seller acted (the seller's own cancellations come by feed)
            item.cancelled_by = rnd.choice(["BUYER", "AMAZON"])
            if item.cancelled_by == "BUYER":
                item.cancel_request = "Changed mind about purchase"
        elif order.channel == "Merchant" and item.status in ("Unshipped", "Pending") and rnd.random() < 0.1:
            item.cancel_request = "Ordered by mistake"


def from_spec(spec: dict) -> Scenario:
    """The scenario a samples/*/scope.json describes (the same orders every time)."""
    return Scenario(spec["marketplace"], spec["seed"], begin=datetime.fromisoformat(spec["begin"]),
                    finish=datetime.fromisoformat(spec["finish"]),
                    window_start=datetime.fromisoformat(spec["start"]),
                    window_end=datetime.fromisoformat(spec["end"]),
                    burst_orders=spec["burst_orders"], background_orders=spec["background_orders"])


def cancellable_reports(folder: Path, count: int, start: datetime, end: datetime,
                        marketplace: str = "US") -> tuple[Scenario, list[Order], list[Path]]:
    """`count` seller-fulfilled one-item orders inside [start, end), all Unshipped (every one
    cancellable), written to `folder` as an All Orders and an Unshipped report."""
    scenario = Scenario(marketplace, 5, begin=start, finish=end, window_start=start, window_end=end,
                        burst_orders=count, background_orders=0, mfn_share=1.0)
    generated = list(scenario.orders())
    for order in generated:
        order.status, order.items = "Unshipped", order.items[:1]
        order.items[0].status = "Unshipped"
    paths = [folder / "all.txt", folder / "unshipped.txt"]
    write_report(paths[0], ALL_ORDERS_COLUMNS, scenario.all_orders_rows(generated))
    write_report(paths[1], UNSHIPPED_COLUMNS, scenario.unshipped_rows(generated))
    return scenario, generated, paths


def busy_reports(folder: Path, start: datetime, end: datetime, seed: int = 7,
                 burst_orders: int = 120) -> tuple[Scenario, list[Path]]:
    """An All Orders and an Unshipped report with orders inside and outside [start, end), several
    SKUs, FBA and seller-fulfilled, multi-line orders, written to `folder`."""
    scenario = Scenario("US", seed, begin=start.replace(hour=12), finish=end.replace(hour=16), window_start=start,
                        window_end=end, burst_orders=burst_orders, background_orders=200, extra_skus=5)
    orders = list(scenario.orders())
    paths = [folder / "all.txt", folder / "unshipped.txt"]
    write_report(paths[0], ALL_ORDERS_COLUMNS, scenario.all_orders_rows(orders))
    write_report(paths[1], UNSHIPPED_COLUMNS, scenario.unshipped_rows(orders))
    return scenario, paths


def write_report(path: Path, columns: list[str], rows: Iterable[dict[str, str]],
                 encoding: str = "utf-8", newline: str = "\n") -> int:
    """Tab-delimited, the way Seller Central writes it. Returns the number of data rows."""
    count = 0
    with open(path, "w", encoding=encoding, newline="") as handle:
        handle.write("\t".join(columns) + newline)
        buffer = []
        for row in rows:
            buffer.append("\t".join(row.get(c, "") for c in columns))
            count += 1
            if len(buffer) >= 10000:
                handle.write(newline.join(buffer) + newline)
                buffer.clear()
        if buffer:
            handle.write(newline.join(buffer) + newline)
    return count
