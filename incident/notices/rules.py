"""Amazon's Buyer-Seller Messaging rules, checked on a notice before it can go out: no links,
e-mail addresses, phone numbers, coupons or review requests; plain text of at most 2,000
characters for the API; the order id present; the buyer's language."""

from __future__ import annotations

import re
from dataclasses import dataclass

API_LIMIT = 2000
_LINK = re.compile(r"https?://|www\.|\b[\w-]+\.(com|net|org|de|fr|it|es|jp|co\.uk)\b/", re.IGNORECASE)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"[\d+][\d ()/.-]{6,}\d")  # eight digits or more, spaced or not (bounds checked in check())
HTML = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
_KANA = re.compile(r"[\u3040-\u30ff]")
_MARKETING_TERMS = (
    "coupon", "promo code", "discount code", "voucher", "review", "feedback", "5 stars", "five stars", "rating",
    "% off", "gutschein", "rabattcode", "bewertung", "code promo", "bon de réduction", "avis client",
    "codice sconto", "recensione", "cupón", "código de descuento", "reseña", "valoración", "クーポン", "レビュー",
    "評価", "割引コード")
_MARKETING = re.compile("|".join(re.escape(term) for term in _MARKETING_TERMS), re.IGNORECASE)


@dataclass
class Problem:
    rule: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.rule}: {self.message}"


def language(locale: str) -> str:
    """en-US -> en."""
    return locale.split("-")[0]


def _standalone(text: str, match: re.Match) -> bool:
    """Not part of a longer run of digits and dashes (a part number, say)."""
    before = text[match.start() - 1] if match.start() else " "
    after = text[match.end()] if match.end() < len(text) else " "
    return not (before.isdigit() or before == "-" or after.isdigit() or after == "-")


def check(text: str, order_id: str, locale: str, buyer_locale: str | None = None,
          channel: str = "spapi") -> list[Problem]:
    """Every rule a notice breaks, with where. `channel` spapi also forbids HTML and > 2000 chars."""
    problems: list[Problem] = []

    def at(match_start: int) -> tuple[int, int]:
        before = text[:match_start]
        return before.count("\n") + 1, match_start - (before.rfind("\n") + 1) + 1

    without_ids = text.replace(order_id, "#" * len(order_id))  # the order's own id is no phone number
    lowered = without_ids.lower()
    for rule, pattern, message, may_match in [  # may_match: a cheap test that rules most texts out
        ("no-links", _LINK, "links are not allowed in buyer messages", "/" in lowered or "www." in lowered),
        ("no-email", EMAIL, "e-mail addresses are not allowed", "@" in lowered),
        ("no-phone", _PHONE, "phone numbers are not allowed", True),
        ("no-marketing", _MARKETING, "no coupons, promotions of other products or review requests",
         any(term in lowered for term in _MARKETING_TERMS)),
    ] + ([("no-html", HTML, "the Messaging API takes plain text only", "<" in lowered)] if channel == "spapi" else []):
        if not may_match:
            continue
        for match in pattern.finditer(without_ids):
            if rule == "no-phone" and not _standalone(without_ids, match):
                continue
            problems.append(Problem(rule, *at(match.start()), f"{message} ('{match.group()}')"))
    if channel == "spapi" and len(text) > API_LIMIT:
        problems.append(Problem("length", *at(API_LIMIT), f"{len(text)} characters; the Messaging API takes at most {API_LIMIT}"))
    if not text.strip():
        problems.append(Problem("length", 1, 1, "the notice is empty"))
    if order_id not in text:
        problems.append(Problem("order-id", 1, 1, f"the order id {order_id} must appear in the notice"))
    japanese = bool(_KANA.search(text))
    if locale.startswith("ja") != japanese:
        problems.append(Problem("language", 1, 1, f"the text does not read as {locale}"))
    if buyer_locale and language(buyer_locale) != language(locale):
        problems.append(Problem("language", 1, 1, f"written in {locale} but the buyer reads {buyer_locale}"))
    return problems

