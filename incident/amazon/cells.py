"""The cells of an order report: each column's value checked and converted (amounts, whole
numbers, times, order ids, 14-digit item codes). A converter raises ValueError with what is wrong
with the value; the reader adds the file, line and column."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from incident.timeutil import iso_utc, parse_iso

ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
ITEM_CODE = re.compile(r"\d{14}")
_SCIENTIFIC = re.compile(r"[0-9.]+[eE][+-]?\d+")



def _money(text: str) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("is not an amount") from None
    if not value.is_finite():
        raise ValueError("is not an amount")
    return value


def _quantity(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError("is not a whole number of units")
    return int(text)


def _date(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    try:
        return iso_utc(parse_iso(text))
    except ValueError:
        raise ValueError("is not an ISO-8601 time with an offset (like "
                         "2026-11-20T14:05:00-08:00)") from None


def _order_id(text: str) -> str:
    text = text.strip()
    if not ORDER_ID.fullmatch(text):
        raise ValueError("is not an Amazon order id (NNN-NNNNNNN-NNNNNNN)")
    return text


def _item_code(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    if ITEM_CODE.fullmatch(text):
        return text
    if _SCIENTIFIC.fullmatch(text) or text.endswith(".0"):
        raise ValueError("was turned into a number by a spreadsheet (like 4.4433E+13), so the "
                         "real 14-digit item codes are lost")
    if text.isdigit() and len(text) < 14:
        raise ValueError(f"has {len(text)} digits where item codes have 14: a spreadsheet "
                         "probably dropped its leading zeros")
    raise ValueError("is not a 14-digit order item code")


def text_or_none(text: str) -> str | None:
    text = text.strip()
    return text or None


CONVERTERS: dict[str, Callable[[str], object]] = {
    "order_id": _order_id, "order_item_id": _item_code, "purchase_date": _date,
    "last_updated": _date, "quantity": _quantity, "quantity_shipped": _quantity,
    "quantity_to_ship": _quantity, "item_price": _money, "item_promotion_discount": _money,
    "item_tax": _money, "shipping_price": _money, "shipping_tax": _money, "gift_wrap_price": _money,
    "gift_wrap_tax": _money, "ship_promotion_discount": _money,
}
