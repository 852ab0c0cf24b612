"""Seller Support texts: the FBA cancellation request, the account-annotation request and the
short urgent note for an account manager, each with a CSV of the order ids to attach."""

from __future__ import annotations

from pathlib import Path

from incident.amazon import marketplaces
from incident.notices import Templates, summary
from incident.safetext import shown
from incident.scope import CANCELLABLE, CANCELLED, FBA, counts, sort_store
from incident.timeutil import local_and_utc
from incident.workspace.files import csv_text, write_private
from incident.workspace.store import Store


def context(store: Store, seller_name: str = "") -> dict:
    incident = store.incident()
    decisions = sort_store(store)
    tz = marketplaces.BY_CODE[incident.marketplace].timezone if incident.marketplace else None
    requests = store.cancel_requests()
    ours = sorted({k[0] for k, (state, _) in requests.items() if state == "accepted"})
    exported = bool(store.exports())
    cancelled = ours or (sorted({d.line.order_id for d in decisions if d.bucket == CANCELLABLE}) if exported else [])
    told = summary(store)
    promotions = sorted({p for d in decisions for p in (d.line.promotion_ids or "").split()})
    return _inert({"marketplace": incident.marketplace or "marketplace not known yet", "skus": ", ".join(incident.skus),
            "window_start": local_and_utc(incident.window_start, tz), "window_end": local_and_utc(incident.window_end, tz),
            "promotion_ids": ", ".join(promotions) or "see Seller Central", "affected_orders": counts(decisions)["affected_orders"],
            "fba_orders": sorted({d.line.order_id for d in decisions if d.bucket == FBA}),
            "cancelled_orders": cancelled, "cancellable": counts(decisions)[CANCELLABLE],
            "already_cancelled": counts(decisions)[CANCELLED], "buyers_told": told["sent"], "buyers_due": told["total"],
            "reason": (store.exports()[-1]["reason"] if exported else "PricingError"),
            "seller_name": seller_name or incident.opened_by})


def _inert(values: dict) -> dict:
    """Report data (promotion ids, SKUs, order ids) as text only: these texts are pasted into
    Seller Support and printed on the terminal."""
    return {key: shown(value) if isinstance(value, str) else [shown(v) for v in value] if isinstance(value, list)
            else value for key, value in values.items()}


KINDS = ("fba-request", "annotation", "account-manager")


def write_request(store: Store, kind: str, templates: Templates | None = None,
                  language: str | None = None) -> tuple[Path, Path]:
    """Render one Seller Support text in `language` (default: the marketplace's; en-US when
    there is no template for it) and write it with the CSV of order ids to attach."""
    values = context(store)
    incident = store.incident()
    market = marketplaces.BY_CODE.get(incident.marketplace or "")
    locale = language or (market.tag if market else "en-US")
    subject, body = (templates or Templates()).render(f"support/{kind}", locale, values)
    text = f"Subject: {subject}\n\n{body}"
    ids = values["fba_orders"] if kind != "annotation" else values["cancelled_orders"]
    folder = store.exports_dir
    text_path, csv_path = folder / f"support-{kind}.txt", folder / f"support-{kind}-orders.csv"
    write_private(text_path, text.encode("utf-8"))
    write_private(csv_path, csv_text(["order-id"], ([i] for i in ids)).encode("utf-8"))
    return text_path, csv_path


def mark_sent(store: Store, kind: str, step: str, who: str) -> None:
    with store.change(who, f"support_{kind.replace('-', '_')}_sent", {"kind": kind}) as conn:
        store.tick_step(conn, f"support-{kind}", who)
