"""Buyer apology notices: rendered from jinja2 templates in the buyer's language, checked against
Amazon's Buyer-Seller Messaging rules, kept in the incident database with an idempotency key
so that each buyer is told exactly once.

Who gets one: every affected order in cancellable_mfn once its cancellation was exported or
submitted, and every order in fba_support once the Seller Support request was made. Orders with
no way to reach the buyer are listed, not dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incident import marketplaces
from incident.errors import InputFileError, StateError, UsageError
from incident.resources import data_dir
from incident.scope import CANCELLABLE, FBA, Decision, sort_store
from incident.store import Store
from incident.timeutil import iso_utc, now_utc, parse_iso

API_LIMIT = 2000
_ORDER_ID = re.compile(r"\d{3}-\d{7}-\d{7}")
_LINK = re.compile(r"https?://|www\.|\b[\w-]+\.(com|net|org|de|fr|it|es|jp|co\.uk)\b/", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\d-])\+?\d[\d ()/.-]{6,}\d(?![\d-])")
_HTML = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
_KANA = re.compile(r"[\u3040-\u30ff]")
_MARKETING = re.compile(
    r"coupon|promo code|discount code|voucher|review|feedback|5 stars|five stars|rating|% off|"
    r"gutschein|rabattcode|bewertung|code promo|bon de réduction|avis client|codice sconto|"
    r"recensione|cupón|código de descuento|reseña|valoración|クーポン|レビュー|評価|割引コード", re.I)


@dataclass
class Problem:
    rule: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.rule}: {self.message}"


def check(text: str, order_id: str, locale: str, buyer_locale: str | None = None,
          channel: str = "spapi") -> list[Problem]:
    """Every rule a notice breaks, with where. `channel` spapi also forbids HTML and > 2000 chars."""
    problems: list[Problem] = []

    def at(match_start: int) -> tuple[int, int]:
        before = text[:match_start]
        return before.count("\n") + 1, match_start - (before.rfind("\n") + 1) + 1

    without_ids = _ORDER_ID.sub(lambda m: "#" * len(m.group()), text)
    for rule, pattern, message in [
        ("no-links", _LINK, "links are not allowed in buyer messages"),
        ("no-email", _EMAIL, "e-mail addresses are not allowed"),
        ("no-phone", _PHONE, "phone numbers are not allowed"),
        ("no-marketing", _MARKETING, "no coupons, promotions of other products or review requests"),
    ] + ([("no-html", _HTML, "the Messaging API takes plain text only")] if channel == "spapi" else []):
        for match in pattern.finditer(without_ids):
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
    if buyer_locale and buyer_locale.split("-")[0] != locale.split("-")[0]:
        problems.append(Problem("language", 1, 1, f"written in {locale} but the buyer reads {buyer_locale}"))
    return problems


class Templates:
    """The bundled templates, or a seller's own folder over them. Undefined variables are errors."""

    def __init__(self, folder: Path | None = None):
        from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

        loaders = [FileSystemLoader(str(data_dir("templates")))]
        if folder is not None:
            if not Path(folder).is_dir():
                raise UsageError(f"--templates {folder} is not a folder")
            loaders.insert(0, FileSystemLoader(str(folder)))
        self.env = Environment(loader=ChoiceLoader(loaders), undefined=StrictUndefined,
                               autoescape=select_autoescape(["html", "htm", "xml"]),
                               keep_trailing_newline=True)

    def name_for(self, kind: str, locale: str) -> str:
        names = self.env.list_templates()
        for candidate in (locale, locale.split("-")[0]):
            for name in names:
                if name.startswith(f"{kind}/{candidate}") and name.endswith(".j2"):
                    return name
        return f"{kind}/en-US.txt.j2"

    def render(self, kind: str, locale: str, context: dict[str, Any]) -> tuple[str, str]:
        from jinja2 import TemplateError, UndefinedError

        name = self.name_for(kind, locale)
        try:
            text = self.env.get_template(name).render(**context)
        except UndefinedError as exc:
            raise InputFileError(name, f"uses an undefined variable ({exc.message})",
                                 f"Use only: {', '.join(sorted(context))}") from None
        except TemplateError as exc:
            raise InputFileError(name, f"cannot be rendered ({exc})", "Fix the template") from None
        subject, _, body = text.partition("\n")
        return subject.strip(), body.strip() + "\n"


def _format(locale: str, amount, currency: str | None, moment: str | None) -> tuple[str, str]:
    from babel.dates import format_date
    from babel.numbers import format_currency

    babel_locale = locale.replace("-", "_")
    money = format_currency(amount, currency, locale=babel_locale) if currency and amount is not None else "-"
    day = format_date(parse_iso(moment), format="long", locale=babel_locale) if moment else "-"
    return money, day


@dataclass
class RenderResult:
    rendered: int = 0
    unchanged: int = 0
    already_sent: int = 0
    unreachable: list[str] = field(default_factory=list)
    waiting: dict[str, int] = field(default_factory=dict)


def notice_key(incident_id: str, order_id: str) -> str:
    return hashlib.sha256(f"{incident_id}/{order_id}/apology".encode()).hexdigest()[:32]


def eligible(store: Store) -> tuple[dict[str, list[Decision]], dict[str, int]]:
    """Orders due a notice now, and how many wait for their cancellation step."""
    decisions = sort_store(store)
    exported = bool(store.exports()) or any(s == "accepted" for s, _ in store.cancel_requests().values())
    fba_asked = store.step("fba-request")["state"] == "done" if any(
        r["id"] == "fba-request" for r in store.steps()) else False
    due: dict[str, list[Decision]] = {}
    waiting = {CANCELLABLE: 0, FBA: 0}
    for decision in decisions:
        if decision.bucket not in (CANCELLABLE, FBA):
            continue
        ready = exported if decision.bucket == CANCELLABLE else fba_asked
        if not ready:
            waiting[decision.bucket] += 1
            continue
        due.setdefault(decision.line.order_id, []).append(decision)
    return due, waiting


def render_notices(store: Store, who: str, templates: Templates | None = None,
                   seller_name: str = "Customer Service") -> RenderResult:
    templates = templates or Templates()
    incident = store.incident()
    due, waiting = eligible(store)
    result = RenderResult(waiting={k: v for k, v in waiting.items() if v})
    existing = {row["order_id"]: row for row in store.conn.execute("SELECT * FROM notices")}
    rows = []
    for order_id, decisions in sorted(due.items()):
        line = decisions[0].line
        market = marketplaces.from_sales_channel(line.sales_channel) or (
            marketplaces.BY_CODE.get(incident.marketplace or "") or marketplaces.BY_CODE["US"])
        locale = market.locale.replace("_", "-")
        paid = sum((d.price_paid or 0) for d in decisions)
        amount, day = _format(locale, paid, line.currency or market.currency, line.purchase_date)
        context = {"order_id": order_id, "purchase_date": day, "amount": amount, "seller_name": seller_name,
                   "products": ", ".join(sorted({d.line.product_name or d.line.sku for d in decisions})),
                   "fulfilled_by_amazon": decisions[0].bucket == FBA}
        subject, body = templates.render("notice", locale, context)
        problems = check(subject + "\n" + body, order_id, locale)
        if decisions[0].bucket == CANCELLABLE and not line.buyer_email:
            result.unreachable.append(order_id)
        old = existing.get(order_id)
        if old is not None and old["state"] in ("sending", "sent"):
            result.already_sent += 1
            continue
        if old is not None and old["body"] == body and old["subject"] == subject:
            result.unchanged += 1
            continue
        rows.append((order_id, notice_key(incident.id, order_id), locale, subject, body,
                     "blocked" if problems else "rendered", json.dumps([str(p) for p in problems]) if problems else None,
                     iso_utc(now_utc())))
    with store.change(who, "notify_render", {"rendered": len(rows), "unchanged": result.unchanged,
                                             "already_sent": result.already_sent,
                                             "unreachable": len(result.unreachable)}) as conn:
        conn.executemany(
            "INSERT INTO notices (order_id, idempotency_key, locale, subject, body, state, problems, rendered_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET locale = excluded.locale, "
            "subject = excluded.subject, body = excluded.body, state = excluded.state, "
            "problems = excluded.problems, rendered_at = excluded.rendered_at, forced_reason = NULL", rows)
    result.rendered = len(rows)
    return result


def blocked(store: Store) -> list[tuple[str, list[str]]]:
    return [(r["order_id"], json.loads(r["problems"] or "[]"))
            for r in store.conn.execute("SELECT * FROM notices WHERE state = 'blocked' ORDER BY order_id")]


def force(store: Store, who: str, reason: str) -> int:
    """Let blocked notices go out anyway, with the reason in the log."""
    if not reason.strip():
        raise UsageError("--force needs --reason: say why the rules do not apply")
    with store.change(who, "notify_force", {"reason": reason}) as conn:
        count = conn.execute("UPDATE notices SET state = 'rendered', forced_reason = ? WHERE state = 'blocked'",
                             (reason,)).rowcount
    if not count:
        raise StateError("no blocked notice to force")
    return count
