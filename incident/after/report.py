"""The post-incident report: one document for the owner and the team, made from the event log
and the orders alone (nothing typed twice), as a self-contained HTML file or as Markdown.

The shape follows a good postmortem: summary, impact with exact numbers, money per currency, the
key moments and the time between them, orders per minute, the timeline (UTC and marketplace time,
T+ offsets, who did what), what went well and badly and where we got lucky, the trigger, action
items with owners, skipped steps, and the event log's head hash, which pins the record it came from.
Report data (product names, promotion ids) is inert: the HTML template escapes it, the Markdown
filter escapes what Markdown would read as markup.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from incident.after import chart as chart_mod
from incident.after.closing import closed_at, personal_data
from incident.after.costs import money
from incident.after.moments import key_moments, timeline
from incident.after.record import cancelled_by_seller
from incident.amazon import marketplaces
from incident.notices import summary
from incident.resources import data_dir
from incident.scope import ATTENTION, BUCKET_TITLES, BUCKETS, CANCELLED_BEFORE, FBA, SHIPPED, counts, sort_store
from incident.scope import money as bucket_money
from incident.timeutil import elapsed, iso_utc, local_and_utc, now_utc
from incident.workspace import chain
from incident.workspace.files import write_private
from incident.workspace.store import Store

FORMATS = ("html", "md")
LOWEST_PRICE_DAYS = 30


def amount_text(value: Decimal | str | None, currency: str | None) -> str:
    if value is None:
        return "-"
    places = Decimal(1) if currency in ("JPY", "KRW") else Decimal("0.01")
    text = f"{Decimal(value).quantize(places):,}"
    return f"{text} {currency}" if currency else text


_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|])")


def n(count: int, word: str, plural: str | None = None) -> str:
    """'1 order', '3 orders'."""
    return f"{count} {word if count == 1 else (plural or word + 's')}"


def markdown_escape(value: Any) -> str:
    """Report data as plain text in Markdown: no link, no HTML, no table cell break."""
    text = str(value).replace("&", "&amp;").replace("\r", " ").replace("\n", " ")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def context(store: Store) -> dict[str, Any]:
    incident = store.incident()
    market = marketplaces.BY_CODE.get(incident.marketplace or "")
    tz = market.timezone if market else None
    decisions = sort_store(store)
    ours = cancelled_by_seller(store, decisions)
    events = store.events()
    told = summary(store)
    moments = key_moments(incident, events, told)
    found = counts(decisions)
    per_bucket = bucket_money(decisions)
    money_by_currency = money(store, decisions, ours)
    verdict = chain.verify(store.conn)
    net_prices = [d.net_unit_price for d in decisions if d.net_unit_price is not None]
    lowest = min(net_prices) if net_prices else None
    currency = next((d.line.currency for d in decisions if d.line.currency), market.currency if market else None)
    purchases = sorted(d.line.purchase_date for d in decisions if d.line.purchase_date)

    def when(at) -> str:
        return local_and_utc(at, tz)

    impact = []
    for name in BUCKETS:
        entry = per_bucket[name]
        for cur, totals in (entry["totals"] or {None: {}}).items():
            impact.append({"bucket": name, "title": BUCKET_TITLES[name], "orders": entry["orders"], "units": entry["units"],
                           "list_price": amount_text(totals.get("list_price"), cur),
                           "paid": amount_text(totals.get("price_paid"), cur), "loss": amount_text(totals.get("loss"), cur)})
    promotions: dict[str, dict[str, Any]] = {}
    for d in decisions:
        for promotion in (d.line.promotion_ids or "").split():
            entry = promotions.setdefault(promotion, {"id": promotion, "orders": set(), "units": 0, "discount": {}})
            entry["orders"].add(d.line.order_id)
            entry["units"] += d.units
            cur = d.line.currency or ""
            entry["discount"][cur] = entry["discount"].get(cur, Decimal(0)) + (d.discount or Decimal(0))
    trigger = [{"id": p["id"], "orders": len(p["orders"]), "units": p["units"],
                "discount": ", ".join(amount_text(v, c) for c, v in sorted(p["discount"].items()))}
               for p in sorted(promotions.values(), key=lambda p: (-len(p["orders"]), p["id"]))]
    steps = store.steps()
    rows = timeline(events)
    values = {
        "incident": incident, "tz": tz, "market": market, "generated": when(now_utc()), "amount_text": amount_text, "n": n,
        "window": f"{when(incident.window_start)} to {when(incident.window_end)}",
        "opened": when(incident.opened_at), "closed": closed_at(store),
        "counts": found, "impact": impact, "currency": currency,
        "money": [{"currency": cur, **{k: v for k, v in m.items()}, "fmt": _fmt(m, cur)}
                  for cur, m in money_by_currency.items() if cur],
        "lowest_price": amount_text(lowest, currency) if lowest is not None else None,
        "lowest_until": f"{(incident.window_end + timedelta(days=LOWEST_PRICE_DAYS)):%Y-%m-%d}",
        "moments": moments, "moment_rows": [{"moment": m, "local": when(m.at) if m.at else "not recorded",
                                             "utc": iso_utc(m.at) if m.at else ""} for m in moments],
        "timeline": [{"utc": iso_utc(r.at), "local": when(r.at), "offset": elapsed(r.at - incident.window_start),
                      "who": ", ".join(r.actors), "what": r.what,
                      "until": iso_utc(r.last) if r.last != r.at else None} for r in rows],
        "trigger": trigger, "told": told,
        "first_order": purchases[0] if purchases else None, "last_order": purchases[-1] if purchases else None,
        "actions": _actions(steps, incident.skus, lowest is not None, f"{(incident.window_end + timedelta(days=LOWEST_PRICE_DAYS)):%Y-%m-%d}"),
        "skipped": [{"id": s["id"], "title": s["title"], "reason": s["note"], "by": s["by"], "at": s["at"]}
                    for s in steps if s["state"] == "skipped"],
        "verdict": verdict, "head": verdict.head, "events": len(events),
        "personal": personal_data(store),
    }
    values["summary"] = _summary(values, ours, decisions)
    values["well"], values["badly"], values["lucky"] = _lessons(values, ours, decisions, steps)
    chart = chart_mod.build(decisions, moments, incident.window_start, incident.window_end, tz)
    values["chart"], values["chart_text"] = chart, chart_mod.text_bars(chart, tz)
    return values


def _fmt(m: dict, cur: str) -> dict[str, str]:
    return {name: amount_text(m[name], cur) if m[name] is not None else None
            for name in ("revenue_lost", "goods_lost", "saved", "at_stake", "fees_total", "costs_total", "total", "unit_cost")}


def _summary(v: dict, ours: list, decisions: list) -> str:
    c, incident = v["counts"], v["incident"]
    parts = [f"From {v['window']}, a stacked discount sold {', '.join(incident.skus)} far below its price"
             + (f" (as low as {v['lowest_price']} a unit)" if v["lowest_price"] else "") + ":",
             f"{n(c['affected_orders'], 'order')} ({n(c['affected_units'], 'unit')}) were affected."]
    cancelled_orders = len({d.line.order_id for d in ours})
    parts.append(f"{n(cancelled_orders, 'seller-fulfilled order')} cancelled by us, "
                 f"{c[CANCELLED_BEFORE]} found already cancelled, "
                 f"{c[SHIPPED]} shipped, {n(c[FBA], 'FBA order')} with Seller Support and "
                 f"{c[ATTENTION]} needing attention.")
    for m in v["money"]:
        parts.append(f"Cost in {m['currency']}: {m['fmt']['total']} ({m['total_basis']}, fees and costs entered); "
                     f"cancelling saved {m['fmt']['saved']}.")
    if v["told"]["total"]:
        parts.append(f"{v['told']['sent']} of {v['told']['total']} buyers were told.")
    parts.append(f"The incident is {incident.state}.")
    return " ".join(parts)


def _lessons(v: dict, ours: list, decisions: list, steps: list) -> tuple[list[str], list[str], list[str]]:
    well, badly, lucky = [], [], []
    c, moments = v["counts"], {m.key: m for m in v["moments"]}
    if ours:
        well.append(f"{n(len({d.line.order_id for d in ours}), 'seller-fulfilled order')} cancelled before shipping.")
    if moments["stopped"].at:
        well.append(f"Sales stopped at {moments['stopped'].since_start}.")
    if v["told"]["total"] and v["told"]["sent"] == v["told"]["total"]:
        well.append(f"Every buyer due a notice ({v['told']['total']}) was told.")
    if moments["annotation"].at:
        well.append("Seller Support was asked to annotate the account, with the evidence.")
    for m in v["money"]:
        if m["shipped_orders"]:
            badly.append(f"{n(m['shipped_orders'], 'order')} ({n(m['shipped_units'], 'unit')}) shipped before anyone "
                         f"could stop them: {m['fmt']['revenue_lost']} of revenue lost.")
    if moments["detected"].at:
        badly.append(f"The incident was opened {moments['detected'].since_previous or '0 min'} after the price went live.")
    if c[FBA]:
        badly.append(f"{n(c[FBA], 'FBA order')} still not cancelled when this report was made.")
    if c[ATTENTION]:
        badly.append(f"{n(c[ATTENTION], 'order')} still needing attention (incident orders --bucket {ATTENTION}).")
    if v["told"]["total"] > v["told"]["sent"]:
        badly.append(f"{n(v['told']['total'] - v['told']['sent'], 'buyer')} due a notice not told yet.")
    missing = [m.label for m in v["moments"] if m.at is None and m.key != "closed"]
    if missing:
        badly.append("Not recorded: " + ", ".join(missing) + ".")
    for s in steps:
        if s["required"] and s["state"] == "skipped":
            badly.append(f"Required step skipped: {s['title']} ({s['note']}).")
    before_us = c[CANCELLED_BEFORE]
    if before_us > 0:
        lucky.append(f"{n(before_us, 'order')} cancelled by the buyer or Amazon before we acted.")
    pending = sum(1 for d in decisions if (d.line.order_status or "").lower() == "pending")
    if pending:
        lucky.append(f"{n(pending, 'order line')} still pending (payment not cleared), which gave time to act.")
    return well, badly, lucky


def _actions(steps: list, skus: list[str], priced: bool, until: str) -> list[dict[str, str]]:
    actions = [{"what": s["title"], "why": s["why"], "owner": s["who"], "state": s["state"]}
               for s in steps if not s["required"]]
    actions += [{"what": f"Finish: {s['title']}", "why": s["why"], "owner": s["who"], "state": "open"}
                for s in steps if s["required"] and s["state"] == "open"]
    if priced:
        actions.append({"what": f"Plan no deal or price discount on {', '.join(skus)} until {until}",
                        "why": "the incident price is now the 30-day lowest price: Amazon blocks deals above it",
                        "owner": "seller", "state": "open"})
    return actions


def render(store: Store, fmt: str = "html") -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    if fmt not in FORMATS:
        from incident.errors import UsageError

        raise UsageError(f"--format '{fmt}' is not one of {', '.join(FORMATS)}")
    env = Environment(loader=FileSystemLoader(str(data_dir("templates") / "report")), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html.j2"]), keep_trailing_newline=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["md"] = markdown_escape
    return env.get_template(f"report.{fmt}.j2").render(**context(store))


def write(store: Store, fmt: str = "html", path: Path | None = None) -> Path:
    """Write the report into exports/ (or `path`), private like every file the incident writes."""
    text = render(store, fmt)
    target = path or store.exports_dir / f"report-{store.incident().id}.{fmt}"
    write_private(target, text.encode("utf-8"))
    return target
