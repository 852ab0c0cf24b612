"""The cells of an order report: each column's value checked and converted (amounts, whole
numbers, times, order ids, 14-digit item codes, the buyer's relay address). A converter raises
ValueError with what is wrong with the value; the reader adds the file, line and column.

A value that cannot be read exactly is refused, never guessed: `1,249` (1249 or 1.249?), an
exponent, a 40-digit quantity, the year 9999, fullwidth digits in an order id, two addresses in
one e-mail field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from incident.timeutil import iso_utc

# ASCII digits only: \d would take fullwidth and other scripts' digits, which Amazon never writes
ORDER_ID = re.compile(r"[0-9]{3}-[0-9]{7}-[0-9]{7}")
ITEM_CODE = re.compile(r"[0-9]{14}")
_SCIENTIFIC = re.compile(r"[0-9.]+[eE][+-]?[0-9]+")
_AMOUNT = re.compile(r"(-?)([0-9]{1,12})(?:([.,])([0-9]{1,4}))?")
_MAX_QUANTITY_DIGITS = 6
_YEARS = range(1995, 2101)  # Amazon's marketplace opened in 1995
# one bare address (no display name, no list, no spaces, ASCII): what Amazon's relay hands out
_EMAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+")
# columns holding buyer data: an error names the column, never quotes the value
PERSONAL = ("buyer_email", "buyer_name")


@lru_cache(maxsize=8192)  # a pricing incident is one product at a few prices
def _amount(text: str) -> Decimal | None:
    text = text.strip()
    if not text:
        return None
    if re.fullmatch(r"[+-]?[0-9.,]*[eE][+-]?[0-9]+", text):
        raise ValueError("is written with an exponent, which no report amount is")
    match = _AMOUNT.fullmatch(text)
    if match is None:
        if re.fullmatch(r"-?[0-9]{1,3}([,.][0-9]{3})+([,.][0-9]{1,2})?", text):
            raise ValueError("has a thousands separator, so it cannot be read exactly (1,249 is 1249 or "
                             "1.249?); report amounts are written without one")
        raise ValueError("is not an amount")
    sign, whole, separator, fraction = match.groups()
    if separator == "," and len(fraction) == 3:
        raise ValueError("cannot be read exactly: 1,249 is 1249 with a thousands separator or 1.249 "
                         "with a decimal comma")
    return Decimal(f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}")


def _money(text: str) -> Decimal | None:
    """An amount that may carry a sign (a discount or a tax adjustment)."""
    return _amount(text)


def _price(text: str) -> Decimal | None:
    """A price: never below zero."""
    value = _amount(text)
    if value is not None and value < 0:
        raise ValueError("is a negative price")
    return value


def _quantity(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise ValueError("is not a whole number of units")
    if len(text.lstrip("0")) > _MAX_QUANTITY_DIGITS:
        raise ValueError(f"is more than {10 ** _MAX_QUANTITY_DIGITS - 1:,} units, which no order line is")
    return int(text)


@lru_cache(maxsize=8192)  # the lines of an order, and of the same second, share their times
def _date(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    not_iso = "is not an ISO-8601 time with an offset (like 2026-11-20T14:05:00-08:00)"
    try:
        written = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(not_iso) from None
    if written.tzinfo is None:  # its zone would be a guess
        raise ValueError(not_iso)
    if written.year not in _YEARS:  # 9999-12-31T23:00-08:00 is not even a time in UTC
        raise ValueError(f"is in the year {written.year}, which no order is")
    return iso_utc(written)


def _order_id(text: str) -> str:
    text = text.strip()
    if not ORDER_ID.fullmatch(text):
        raise ValueError("is not an Amazon order id (NNN-NNNNNNN-NNNNNNN, digits 0-9)")
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
    if text.isascii() and text.isdigit() and len(text) < 14:
        raise ValueError(f"has {len(text)} digits where item codes have 14: a spreadsheet "
                         "probably dropped its leading zeros")
    raise ValueError("is not a 14-digit order item code (digits 0-9)")


def _email(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    if not single_address(text):
        raise ValueError("is not exactly one bare e-mail address (two addresses, a display name, spaces "
                         "or a formula), so no notice may go to it")
    return text


def single_address(text: str) -> bool:
    """Exactly one bare e-mail address: no display name, no second address, no formula."""
    return bool(_EMAIL.fullmatch(text))


def text_or_none(text: str) -> str | None:
    text = text.strip()
    return text or None


CONVERTERS: dict[str, Callable[[str], object]] = {
    "order_id": _order_id, "order_item_id": _item_code, "purchase_date": _date,
    "last_updated": _date, "quantity": _quantity, "quantity_shipped": _quantity,
    "quantity_to_ship": _quantity, "item_price": _price, "item_promotion_discount": _money,
    "item_tax": _money, "shipping_price": _price, "shipping_tax": _money, "gift_wrap_price": _price,
    "gift_wrap_tax": _money, "ship_promotion_discount": _money, "buyer_email": _email,
}


def check_line(fields: dict[str, object]) -> tuple[str, str] | None:
    """A line whose values contradict each other: (field, problem), or None."""
    price, discount = fields.get("item_price"), fields.get("item_promotion_discount")
    if isinstance(price, Decimal) and isinstance(discount, Decimal) and abs(discount) > price:
        return "item_promotion_discount", f"is a discount larger than the item price ({price})"
    return None


def relay_domain_ok(email: str, domain: str | None) -> bool:
    """Whether `email` is at Amazon's buyer relay (`marketplace.amazon.<tld>`), for `domain` when
    the marketplace is known."""
    host = email.rpartition("@")[2].lower()
    return host == domain if domain else host.startswith("marketplace.amazon.")
