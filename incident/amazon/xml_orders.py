"""Read the XML order report (`<AmazonEnvelope>` of `OrderReport` messages), the one Seller Support
schedules on request (every 4 or 8 hours) and MWS served as `_GET_ORDERS_DATA_`.

Each `<Item>` becomes the same `ReportLine` as a row of the flat files, so `pull` merges it like
them: order id, item code, SKU, quantity, prices and promotions, the buyer's contact and the
shipping address. The report states no order status, so an order seen only here needs attention
until the All Orders report says where it stands. An order report has no DTD, so a file whose
prolog declares one (where an entity bomb or an external entity would live) is refused before
parsing; without a DTD expat knows only the five predefined entities, so the standard library's C
parser is safe here and three times faster than defusedxml's pure-Python one (bench/README.md).
Errors name the file, line and column and never quote buyer data.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from incident.amazon.cells import CONVERTERS, text_or_none
from incident.amazon.reports import Report, ReportLine
from incident.errors import InputFileError

XML_ORDER_REPORT = "xml_order_report"
_TITLE = "XML order report"
_FIX = ("Ask Seller Support for the XML order report again, or pull the All Orders and Unshipped Orders reports "
        "(.txt) instead")
_DECLARED = re.compile(rb"""<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")
_ROOT = re.compile(rb"<[A-Za-z_:]")  # the first element: a DTD can only come before it
_PROLOG_BYTES = 1 << 20
# where an amount goes, by the <Type> of its <Component> under <ItemPrice> and under <Promotion>
_PRICE = {"Principal": "item_price", "Shipping": "shipping_price", "Tax": "item_tax", "ShippingTax": "shipping_tax",
          "GiftWrap": "gift_wrap_price", "GiftWrapTax": "gift_wrap_tax"}
_DISCOUNT = {"Principal": "item_promotion_discount", "Shipping": "ship_promotion_discount"}
_ADDRESS = {"Name": "recipient_name", "AddressFieldOne": "ship_address_1", "AddressFieldTwo": "ship_address_2",
            "AddressFieldThree": "ship_address_3", "City": "ship_city", "StateOrRegion": "ship_state",
            "PostalCode": "ship_postal_code", "CountryCode": "ship_country"}


@dataclass
class XmlReport(Report):
    @property
    def title(self) -> str:
        return _TITLE


def _head(path: Path, size: int = 4096) -> tuple[bool, bytes]:
    with open(path, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    with opener(path, "rb") as handle:
        return compressed, handle.read(size)


def _refuse_a_dtd(path: Path, head: bytes) -> None:
    root = _ROOT.search(head)
    prolog = head[:root.start()] if root else head
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog or root is None:
        line = prolog.count(b"\n") + 1 if root else None
        raise InputFileError(path, "declares a DTD or entities, which an Amazon order report never does (it may be "
                             "built to exhaust memory or read other files); nothing was read", _FIX, line=line)


def is_xml(path: Path | str) -> bool:
    """An XML document, plain or gzip (the flat-file reader reports every other problem)."""
    try:
        _, head = _head(Path(path))
    except (OSError, EOFError):
        return False
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: Any, name: str) -> Any:
    return None if element is None else element.find(name)


def _children(element: Any, name: str) -> list:
    return element.findall(name)


def _text(element: Any, *path: str) -> str | None:
    found = None if element is None else element.find("/".join(path))
    return None if found is None else (found.text or "")


def _where(path: Path, compressed: bool, value: str) -> tuple[int | None, int | None]:
    """Line and column of a value, to point at it without quoting it."""
    opener = gzip.open if compressed else open
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            column = line.find(value.encode("utf-8"))
            if column >= 0:
                return number, column + 1
    return None, None


def read_xml_report(path: Path | str, skus: list[str] | None = None) -> XmlReport:
    """Every `<Item>` of the scope's SKUs (all when `skus` is None) as a ReportLine."""
    from xml.etree.ElementTree import ParseError, iterparse

    path = Path(path)
    compressed, head = _head(path, _PROLOG_BYTES)
    _refuse_a_dtd(path, head)
    declared = _DECLARED.search(head)
    report = XmlReport(path=path, kind=XML_ORDER_REPORT, encoding=(declared.group(1).decode().lower() if declared else "utf-8"),
                       compressed=compressed, rows_read=0)
    scope = {s.strip() for s in skus} if skus is not None else None
    occurrences: dict[tuple[str, str], int] = {}
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rb") as source:
            root = None
            for event, element in iterparse(source, events=("start", "end")):
                if root is None:
                    root = element
                    if _local(element.tag) != "AmazonEnvelope":
                        raise InputFileError(path, f"is XML but not an Amazon order report (its root is <{_local(element.tag)}>, "
                                             "not <AmazonEnvelope>)", _FIX, line=1)
                    continue
                if event != "end":
                    continue
                if "}" in element.tag:  # a namespaced report reads like a plain one
                    element.tag = _local(element.tag)
                name = element.tag
                if name == "MessageType" and (element.text or "").strip() != "OrderReport":
                    raise InputFileError(path, f"is an Amazon envelope of {(element.text or '').strip() or 'no'} messages, "
                                         "not OrderReport", _FIX)
                if name == "Message":
                    order = element.find("OrderReport")
                    if order is not None:
                        _read_order(report, order, scope, occurrences)
                    element.clear()  # a report of thousands of orders stays small in memory
    except ParseError as exc:
        line, column = getattr(exc, "position", (None, None))
        raise InputFileError(path, "is not well-formed XML (cut off or damaged)", _FIX, line=line,
                             column=None if column is None else column + 1) from None
    except (OSError, EOFError):
        raise InputFileError(path, "cannot be read (a damaged gzip file?)", _FIX) from None
    return report


def _convert(report: XmlReport, name: str, raw: str | None, element: str) -> Any:
    if raw is None:
        return None
    try:
        return CONVERTERS.get(name, text_or_none)(raw)
    except ValueError as exc:
        line, column = _where(report.path, report.compressed, raw.strip()) if raw.strip() else (None, None)
        raise InputFileError(report.path, f"<{element}> {exc}", "Fix the value or ask for the report again",
                             line=line, column=column) from None


def _amounts(component_parent: Any, names: dict[str, str]) -> tuple[dict[str, Decimal], str | None]:
    found: dict[str, Decimal] = {}
    currency = None
    for component in _children(component_parent, "Component") if component_parent is not None else []:
        kind, amount = _text(component, "Type"), _child(component, "Amount")
        if kind in names and amount is not None and (amount.text or "").strip():
            found[names[kind]] = found.get(names[kind], Decimal(0)) + Decimal(amount.text.strip())
            currency = currency or amount.get("currency")
    return found, currency


def _read_order(report: XmlReport, order: Any, scope: set[str] | None, occurrences: dict) -> None:
    order_id = _convert(report, "order_id", _text(order, "AmazonOrderID") or "", "AmazonOrderID")
    common: dict[str, object] = {
        "purchase_date": _convert(report, "purchase_date", _text(order, "OrderDate"), "OrderDate"),
        "buyer_email": text_or_none(_text(order, "BillingData", "BuyerEmailAddress") or ""),
        "buyer_name": text_or_none(_text(order, "BillingData", "BuyerName") or ""),
        "fulfillment_channel": "Merchant",  # the XML order report lists seller-fulfilled orders only
    }
    address = order.find("FulfillmentData/Address")
    for element, name in _ADDRESS.items():
        common[name] = text_or_none(_text(address, element) or "") if address is not None else None
    for item in _children(order, "Item"):
        report.rows_read += 1
        sku = (_text(item, "SKU") or "").strip()
        if not sku or (scope is not None and sku not in scope):
            continue
        fields = dict(common)
        fields["order_item_id"] = _convert(report, "order_item_id", _text(item, "AmazonOrderItemCode"), "AmazonOrderItemCode")
        fields["product_name"] = text_or_none(_text(item, "Title") or "")
        fields["quantity"] = _convert(report, "quantity", _text(item, "Quantity"), "Quantity")
        prices, currency = _amounts(_child(item, "ItemPrice"), _PRICE)
        fields.update(prices)
        discounts: dict[str, Decimal] = {}
        promotion_ids = []
        for promotion in _children(item, "Promotion"):
            ids = text_or_none(_text(promotion, "MerchantPromotionID") or "")
            if ids:
                promotion_ids.append(ids)
            amounts, promo_currency = _amounts(promotion, _DISCOUNT)
            currency = currency or promo_currency
            for name, value in amounts.items():  # Amazon writes discounts either sign: keep the flat files' minus
                discounts[name] = discounts.get(name, Decimal(0)) - abs(value)
        fields.update({name: value if value else abs(value) for name, value in discounts.items()})
        fields["promotion_ids"] = " ".join(promotion_ids) or None
        fields["currency"] = currency
        seq = occurrences.get((order_id, sku), 0)
        occurrences[(order_id, sku)] = seq + 1
        report.lines.append(ReportLine(order_id=order_id, sku=sku, seq=seq,
                                       fields={k: v for k, v in fields.items() if v is not None}))
