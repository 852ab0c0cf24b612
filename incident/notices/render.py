"""Rendering the apology notices: one per order due one, in the buyer's language, checked against
Amazon's messaging rules and kept in the incident database with an idempotency key.

Who gets one: every affected order in cancellable_mfn once its cancellation was exported or
submitted, and every order in fba_support once the Seller Support request was made. Orders with
no way to reach the buyer are listed, not dropped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from incident.amazon import marketplaces
from incident.errors import StateError, UsageError
from incident.notices.messaging import buyer_locales
from incident.notices.rules import check
from incident.notices.templates import Templates, day, money
from incident.scope import CANCELLABLE, CANCELLED_BY_SELLER, FBA, Decision, sort_lines
from incident.timeutil import iso_utc, now_utc
from incident.workspace.store import OrderLine, Store


@dataclass
class RenderResult:
    rendered: int = 0
    unchanged: int = 0
    already_sent: int = 0
    unreachable: list[str] = field(default_factory=list)
    waiting: dict[str, int] = field(default_factory=dict)


def notice_key(incident_id: str, order_id: str) -> str:
    return hashlib.sha256(f"{incident_id}/{order_id}/apology".encode()).hexdigest()[:32]


def eligible(store: Store, lines: list[OrderLine] | None = None,
             sorted_lines: list[Decision] | None = None) -> tuple[dict[str, list[Decision]], dict[str, int]]:
    """Orders due a notice now, and how many lines wait for their cancellation step. A buyer is
    owed a notice once the seller cancelled the order or asked Amazon to, whatever Amazon says of
    the order now: lines cancelled by the seller, cancellable lines in an upload file or a feed,
    FBA lines in the Seller Support request. `sorted_lines`: the incident's lines already sorted."""
    actions = store.seller_actions()
    if sorted_lines is None:
        sorted_lines = sort_lines(store.lines() if lines is None else lines, store.incident(), actions)
    due: dict[str, list[Decision]] = {}
    waiting = {CANCELLABLE: 0, FBA: 0}
    for decision in sorted_lines:
        line = decision.line
        if decision.bucket in (CANCELLABLE, FBA) and not actions.acted_on(line.order_id, line.order_item_id):
            waiting[decision.bucket] += 1
        elif decision.bucket in (CANCELLABLE, FBA, CANCELLED_BY_SELLER):
            due.setdefault(line.order_id, []).append(decision)
    return due, waiting


def render_notices(store: Store, who: str, templates: Templates | None = None,
                   seller_name: str = "Customer Service", connection=None, progress=None) -> RenderResult:
    """Render (or re-render) the notice of every order due one. With a `connection`, each is
    written in the buyer's own locale (GetAttributes); without, in the marketplace's."""
    templates = templates or Templates()
    incident = store.incident()
    due, waiting = eligible(store)
    result = RenderResult(waiting={k: v for k, v in waiting.items() if v})
    existing = {row["order_id"]: row for row in store.conn.execute("SELECT * FROM notices")}
    settled = {o for o, row in existing.items() if row["state"] in ("sending", "sent")}  # never rewritten
    pending = [o for o in sorted(due) if o not in settled]
    asked = buyer_locales(store, connection, pending, progress) if connection is not None else {}
    rows = []
    for order_id, decisions in sorted(due.items()):
        line = decisions[0].line
        old = existing.get(order_id)
        if not decisions[0].fulfilled_by_amazon and not line.buyer_email:
            result.unreachable.append(order_id)
        if order_id in settled:
            result.already_sent += 1
            continue
        market = marketplaces.from_sales_channel(line.sales_channel) or (
            marketplaces.BY_CODE.get(incident.marketplace or "") or marketplaces.BY_CODE["US"])
        buyer_locale = asked.get(order_id) or (old["buyer_locale"] if old is not None else None)
        locale = buyer_locale or market.tag
        paid = sum((d.charged or 0) for d in decisions)
        amount, bought = money(locale, paid, line.currency or market.currency), day(locale, line.purchase_date, market.timezone)
        context = {"order_id": order_id, "purchase_date": bought, "amount": amount, "seller_name": seller_name,
                   "products": ", ".join(sorted({d.line.product_name or d.line.sku for d in decisions})),
                   "fulfilled_by_amazon": decisions[0].fulfilled_by_amazon}
        subject, body = templates.render("notice", locale, context)
        problems = check(subject + "\n" + body, order_id, templates.locale_of("notice", locale), buyer_locale)
        if old is not None and old["body"] == body and old["subject"] == subject:
            result.unchanged += 1
            continue
        rows.append((order_id, notice_key(incident.id, order_id), locale, subject, body,
                     "blocked" if problems else "rendered", json.dumps([str(p) for p in problems]) if problems else None,
                     iso_utc(now_utc()), buyer_locale))
    with store.change(who, "notify_render", {"rendered": len(rows), "unchanged": result.unchanged,
                                             "already_sent": result.already_sent,
                                             "unreachable": len(result.unreachable),
                                             "buyer_locales_asked": len(asked)}) as conn:
        conn.executemany(
            "INSERT INTO notices (order_id, idempotency_key, locale, subject, body, state, problems, rendered_at, "
            "buyer_locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET "
            "locale = excluded.locale, subject = excluded.subject, body = excluded.body, state = excluded.state, "
            "problems = excluded.problems, rendered_at = excluded.rendered_at, forced_reason = NULL, "
            "buyer_locale = excluded.buyer_locale", rows)
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

