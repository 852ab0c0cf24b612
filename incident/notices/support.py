"""Seller Support texts: the FBA cancellation request, the account-annotation request and the
short urgent note for an account manager, each with a CSV of the order ids to attach.

A text states an action only when the incident's record shows it, with its time: what the seller
did is read from the event log, the checklist and the orders, never assumed. Otherwise the text
says what is still being done, or leaves it out. Each text is signed with the seller's name and
company (`--signature`, or [seller] in incident.toml), never a login name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incident import config
from incident.amazon import marketplaces
from incident.errors import StateError, UsageError
from incident.notices.ledger import summary
from incident.notices.templates import Templates
from incident.safetext import shown
from incident.scope import CANCELLABLE, CANCELLED_BEFORE, CANCELLED_BY_SELLER, FBA, counts, sort_store
from incident.timeutil import local_and_utc, parse_iso
from incident.workspace import chain
from incident.workspace.files import csv_text, write_private
from incident.workspace.store import Store

KINDS = ("fba-request", "annotation", "account-manager")
STEPS = {"fba-request": "fba-request", "annotation": "annotation-request", "account-manager": "contact-support"}
# the checklist steps a text completes once sent: the FBA request is also the contact with Seller Support
TICKS = {"fba-request": ("support-fba-request", "support-account-manager"),
         "annotation": ("support-annotation",), "account-manager": ("support-account-manager",)}


def signature(explicit: str | None = None) -> str:
    """How the texts are signed: --signature, else INCIDENT_SELLER_NAME / [seller] name and
    company in incident.toml."""
    if explicit and explicit.strip():
        return explicit.strip()
    table, _ = config.section("seller")
    name = os.environ.get("INCIDENT_SELLER_NAME") or table.get("name")
    company = os.environ.get("INCIDENT_SELLER_COMPANY") or table.get("company")
    parts = [str(p).strip() for p in (name, company) if p and str(p).strip()]
    if not parts:
        raise UsageError("say who signs the text: --signature \"Name, Company\", or name and company under "
                         "[seller] in incident.toml (or INCIDENT_SELLER_NAME / INCIDENT_SELLER_COMPANY)")
    return ", ".join(parts)


@dataclass
class Record:
    """What the incident's record shows the seller did, each with its time (marketplace time
    and UTC), or None when the record does not show it."""

    sales_stopped_at: str | None
    cancelled_at: str | None  # when the seller-fulfilled cancellations went through (feed, or upload ticked)
    fba_requested_at: str | None
    fba_requested: int
    told_at: str | None
    approval_at: str | None  # a second person's approval of promotions put in place (the checklist step)


def _first_event(store: Store, *actions: str) -> str | None:
    marks = ",".join("?" * len(actions))
    row = store.conn.execute(f"SELECT min(at) FROM events WHERE action IN ({marks})", actions).fetchone()
    return row[0]


def _step_done_at(store: Store, step_id: str) -> str | None:
    row = store.conn.execute("SELECT at FROM steps WHERE id = ? AND state = 'done'", (step_id,)).fetchone()
    return row["at"] if row else None


def record(store: Store, tz: str | None, told: dict[str, Any]) -> Record:
    def when(at: str | None) -> str | None:
        return local_and_utc(parse_iso(at), tz) if at else None

    stopped = min(filter(None, [_first_event(store, "stop_sales"), _step_done_at(store, "stop-bleeding")]), default=None)
    cancelled = min(filter(None, [_first_event(store, "cancel_submit_done"), _step_done_at(store, "cancel-upload")]),
                    default=None)
    fba = store.conn.execute("SELECT count(*), min(at) FROM support_orders WHERE kind = 'fba-request'").fetchone()
    return Record(when(stopped), when(cancelled), when(fba[1]), fba[0], when(told["last_sent_at"]),
                  when(_step_done_at(store, "review-promotions")))


def context(store: Store, seller_name: str) -> dict[str, Any]:
    incident = store.incident()
    decisions = sort_store(store)
    tz = marketplaces.BY_CODE[incident.marketplace].timezone if incident.marketplace else None

    def orders(bucket: str, fba: bool | None = None) -> list[str]:
        return sorted({d.line.order_id for d in decisions if d.bucket == bucket
                       and (fba is None or d.fulfilled_by_amazon == fba)})

    exported = store.exports()
    told = summary(store, decisions)
    promotions = sorted({p for d in decisions for p in (d.line.promotion_ids or "").split()})
    done = record(store, tz, told)
    actions = store.seller_actions()
    cancelling = sorted({d.line.order_id for d in decisions if d.bucket == CANCELLABLE
                         and actions.acted_on(d.line.order_id, d.line.order_item_id)})
    return _inert({"marketplace": incident.marketplace or "marketplace not known yet", "skus": ", ".join(incident.skus),
            "window_start": local_and_utc(incident.window_start, tz), "window_end": local_and_utc(incident.window_end, tz),
            "promotion_ids": ", ".join(promotions) or "see Seller Central",
            "affected_orders": counts(decisions)["affected_orders"],
            "fba_orders": orders(FBA), "cancellable": counts(decisions)[CANCELLABLE],
            "cancelled_orders": orders(CANCELLED_BY_SELLER), "mfn_cancelled": orders(CANCELLED_BY_SELLER, fba=False),
            "fba_cancelled": orders(CANCELLED_BY_SELLER, fba=True), "mfn_cancelling": cancelling,
            "cancelled_before": counts(decisions)[CANCELLED_BEFORE],
            "buyers_told": told["sent"], "buyers_due": told["owed"],
            "reason": exported[-1]["reason"] if exported else "PricingError",
            "record": done, "seller_name": seller_name,
            "log_head": chain.head(store.conn) or "none yet"})


def _inert(values: dict) -> dict:
    """Report data (promotion ids, SKUs, order ids) as text only: these texts are pasted into
    Seller Support and printed on the terminal."""
    return {key: shown(value) if isinstance(value, str) else [shown(v) for v in value] if isinstance(value, list)
            else value for key, value in values.items()}


def write_request(store: Store, kind: str, templates: Templates | None = None, language: str | None = None,
                  seller_name: str | None = None) -> tuple[Path, Path]:
    """Render one Seller Support text in `language` (default: the marketplace's; en-US when
    there is no template for it) and write it with the CSV of order ids to attach. Refused when
    the text would be about no order."""
    values = context(store, signature(seller_name))
    ids = values["cancelled_orders"] if kind == "annotation" else values["fba_orders"]
    if kind == "account-manager" and not values["affected_orders"]:
        raise StateError("no affected order in the incident yet: pull the orders first (`incident pull`)")
    if kind != "account-manager" and not ids:
        what = ("no order is cancelled at your request yet: export or submit the cancellations first, and pull "
                "again to see Amazon's answer" if kind == "annotation" else
                "no FBA order in the incident: nothing to ask Seller Support; `incident step skip fba-request "
                "--reason \"no FBA orders\"`")
        raise StateError(f"nothing written: {what}")
    incident = store.incident()
    market = marketplaces.BY_CODE.get(incident.marketplace or "")
    locale = language or (market.tag if market else "en-US")
    subject, body = (templates or Templates()).render(f"support/{kind}", locale, values)
    text = f"Subject: {subject}\n\n{body}"
    folder = store.exports_dir
    text_path, csv_path = folder / f"support-{kind}.txt", folder / f"support-{kind}-orders.csv"
    write_private(text_path, text.encode("utf-8"))
    write_private(csv_path, csv_text(["order-id"], ([i] for i in ids)).encode("utf-8"))
    return text_path, csv_path


def mark_sent(store: Store, kind: str, who: str) -> list[str]:
    """Record that the text was sent, with the orders it names (the FBA orders listed in the
    request are the ones whose buyers are owed a notice); returns the checklist steps ticked."""
    decisions = sort_store(store)
    orders = sorted({d.line.order_id for d in decisions if d.bucket == FBA}) if kind == "fba-request" else []
    if kind == "fba-request" and not orders:
        raise StateError("no FBA order to ask about: nothing was marked sent")
    if kind == "annotation" and not any(d.bucket == CANCELLED_BY_SELLER for d in decisions):
        raise StateError("no order is cancelled at your request yet: nothing was marked sent")
    ticked: list[str] = []
    with store.change(who, f"support_{kind.replace('-', '_')}_sent", {"kind": kind, "orders": len(orders)}) as conn:
        conn.executemany("INSERT OR IGNORE INTO support_orders (kind, order_id, at) "
                         "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))", [(kind, o) for o in orders])
        for command in TICKS[kind]:
            ticked += store.tick_step(conn, command, who)
    return ticked
