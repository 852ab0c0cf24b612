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
from incident.scope import CANCELLABLE, CANCELLED_BY_SELLER, FBA, Decision, decided_batches, sort_lines
from incident.timeutil import iso_utc, now_utc
from incident.workspace.store import OrderLine, SellerActions, Store


@dataclass
class RenderResult:
    rendered: int = 0
    unchanged: int = 0
    already_sent: int = 0
    unreachable: list[str] = field(default_factory=list)  # the first UNREACHABLE_SHOWN orders with no way to reach the buyer
    waiting: dict[str, int] = field(default_factory=dict)
    unreachable_total: int = 0  # all of them


def notice_key(incident_id: str, order_id: str) -> str:
    return hashlib.sha256(f"{incident_id}/{order_id}/apology".encode()).hexdigest()[:32]


def eligible(store: Store, lines: list[OrderLine] | None = None, sorted_lines: list[Decision] | None = None,
             actions: SellerActions | None = None) -> tuple[dict[str, list[Decision]], dict[str, int]]:
    """Orders due a notice now, and how many lines wait for their cancellation step. A buyer is
    owed a notice once the seller cancelled the order or asked Amazon to, whatever Amazon says of
    the order now: lines cancelled by the seller, cancellable lines in an upload file or a feed,
    FBA lines in the Seller Support request. `sorted_lines`: the incident's lines already sorted
    (with `actions`, what the seller did about their orders, when they are a batch)."""
    actions = actions or store.seller_actions()
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


UNREACHABLE_SHOWN = 10  # order ids kept in RenderResult.unreachable (all are counted)


def render_notices(store: Store, who: str, templates: Templates | None = None,
                   seller_name: str = "Customer Service", connection=None, progress=None,
                   batch_size: int = 5000) -> RenderResult:
    """Render (or re-render) the notice of every order due one. With a `connection`, each is
    written in the buyer's own locale (GetAttributes); without, in the marketplace's. The orders
    are rendered and written a batch at a time inside one change (all or nothing): memory holds
    a batch, whatever the incident's size."""
    templates = templates or Templates()
    incident = store.incident()
    result = RenderResult()
    waiting = {CANCELLABLE: 0, FBA: 0}
    asked: dict[str, str] = {}
    if connection is not None:  # Amazon is asked before anything is written (one order a second)
        pending = []
        for decisions, actions in decided_batches(store, batch_size):
            due = eligible(store, sorted_lines=decisions, actions=actions)[0]
            settled = _settled(store, sorted(due))
            pending += [order_id for order_id in sorted(due) if order_id not in settled]
        asked = buyer_locales(store, connection, pending, progress)
    details = {"rendered": 0, "unchanged": 0, "already_sent": 0, "unreachable": 0, "buyer_locales_asked": len(asked)}
    with store.change(who, "notify_render", details) as conn:
        for decisions, actions in decided_batches(store, batch_size):
            due, wait = eligible(store, sorted_lines=decisions, actions=actions)
            for bucket, count in wait.items():
                waiting[bucket] += count
            rows = _render_batch(store, incident, templates, seller_name, due, asked, result)
            conn.executemany(
                "INSERT INTO notices (order_id, idempotency_key, locale, subject, body, state, problems, rendered_at, "
                "buyer_locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET "
                "locale = excluded.locale, subject = excluded.subject, body = excluded.body, state = excluded.state, "
                "problems = excluded.problems, rendered_at = excluded.rendered_at, forced_reason = NULL, "
                "buyer_locale = excluded.buyer_locale", rows)
            result.rendered += len(rows)
        details.update(rendered=result.rendered, unchanged=result.unchanged, already_sent=result.already_sent,
                       unreachable=result.unreachable_total)
    result.waiting = {k: v for k, v in waiting.items() if v}
    return result


def _settled(store: Store, order_ids: list[str]) -> set[str]:
    """Those of these orders whose notice is being sent or sent: never rewritten."""
    return {row[0] for row in _notices_of(store, order_ids) if row[1] in ("sending", "sent")}


def _notices_of(store: Store, order_ids: list[str]) -> list:
    rows = []
    for start in range(0, len(order_ids), 500):
        chunk = order_ids[start:start + 500]
        rows += store.conn.execute("SELECT order_id, state, subject, body, buyer_locale FROM notices WHERE "
                                   f"order_id IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
    return rows


def _render_batch(store: Store, incident, templates: Templates, seller_name: str, due: dict[str, list[Decision]],
                  asked: dict[str, str], result: RenderResult) -> list[tuple]:
    """The notices of one batch's orders due one, as rows to write (those that changed)."""
    existing = {row[0]: row for row in _notices_of(store, sorted(due))}
    rows = []
    for order_id, decisions in sorted(due.items()):
        line = decisions[0].line
        old = existing.get(order_id)
        if not decisions[0].fulfilled_by_amazon and not line.buyer_email:
            result.unreachable_total += 1
            if len(result.unreachable) < UNREACHABLE_SHOWN:
                result.unreachable.append(order_id)
        if old is not None and old["state"] in ("sending", "sent"):  # never rewritten
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
    return rows


def blocked(store: Store, limit: int | None = None) -> list[tuple[str, list[str]]]:
    """The blocked notices and why, by order id (the first `limit` of them, when given)."""
    rows = store.conn.execute("SELECT order_id, problems FROM notices WHERE state = 'blocked' ORDER BY order_id"
                              + ("" if limit is None else f" LIMIT {int(limit)}"))
    return [(r["order_id"], json.loads(r["problems"] or "[]")) for r in rows]


def blocked_count(store: Store) -> int:
    return store.conn.execute("SELECT count(*) FROM notices WHERE state = 'blocked'").fetchone()[0]


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

