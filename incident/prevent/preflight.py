"""Preflight: read every running and planned promotion (live from Amazon when a connection is
given, and from the plan file), the prices and floors, sweep them into the worst stacked price per
SKU and stretch of time, flag what must not go live, check the approvals, and record the run in
the account database. `incident preflight` is this module's `run`; `approve` records a second
person's approval."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from incident.amazon.marketplaces import Marketplace
from incident.amazon.spapi import Connection
from incident.errors import UsageError
from incident.prevent import approvals, flags, plan, prices, rules, sweep
from incident.prevent.flags import CRITICAL, Flag, IncidentPrice, Limits
from incident.prevent.model import Catalog, Promotion
from incident.timeutil import iso_utc
from incident.workspace.account import open_account

JSON_VERSION = 1


@dataclass
class Sources:
    """What preflight reads: the files given, and the live account when `connection` is set."""

    plan: Path | None = None
    prices: Path | None = None
    rules: Path | None = None
    connection: Connection | None = None
    marketplace: Marketplace | None = None


@dataclass
class Report:
    at: datetime
    marketplace: Marketplace | None
    sources: dict[str, Any]
    promotions: list[Promotion]
    catalog: Catalog
    stretches: list[sweep.Stretch]
    flags: list[Flag]
    approvals: dict[str, approvals.Approval]
    notes: list[str] = field(default_factory=list)
    run_id: int | None = None

    @property
    def critical(self) -> int:
        return sum(1 for f in self.flags if f.severity == CRITICAL)

    @property
    def warnings(self) -> int:
        return len(self.flags) - self.critical

    @property
    def outcome(self) -> str:
        return "critical" if self.critical else "warning" if self.flags else "clean"


def gather(sources: Sources, at: datetime, *, with_prices: bool = True,
           progress: Callable[[str, int, int], None] | None = None) -> tuple[list[Promotion], Catalog, list[str]]:
    """The promotions and the products, from the files and, when connected, from Amazon."""
    catalog, notes = Catalog(), []
    if sources.prices:
        prices.read(sources.prices, catalog)
    planned = plan.read(sources.plan) if sources.plan else plan.Plan()
    promotions = list(planned.promotions)
    catalog.learn(promotions)
    if sources.connection is not None:
        live, sales, unknown = read_live(sources.connection, catalog, at, with_prices, progress)
        live_ids = {p.id for p in live}
        for promotion in live:
            note = planned.notes.get(promotion.id)
            if note:
                promotion.set_up_by, promotion.meant_for = note.set_up_by, note.meant_for
        for note in planned.notes.values():
            if note.promotion_id not in live_ids:
                notes.append(f"{note.where}: Amazon shows no promotion {note.promotion_id} (running, upcoming or "
                             "ended lately): check the id")
        for promotion in [p for p in promotions if p.id in live_ids]:
            notes.append(f"{promotion.where}: {promotion.id} is also live on Amazon: Amazon's version is used")
        promotions = [p for p in promotions if p.id not in live_ids] + live + sales
        if unknown:
            notes.append(f"Amazon has no listing for {len(unknown)} SKU(s): {', '.join(unknown[:10])}")
    elif planned.notes:
        notes.append(f"{len(planned.notes)} plan entries name Amazon promotions by id: they are used only live")
    if sources.connection is None and not sources.plan:
        notes.append("nothing to check: give --plan FILE, or configure SP-API credentials to read the live account")
    catalog.learn(promotions)
    return promotions, catalog, notes


def read_live(connection: Connection, catalog: Catalog, at: datetime, with_prices: bool,
              progress: Callable[[str, int, int], None] | None = None) -> tuple[list[Promotion], list[Promotion], list[str]]:
    """Amazon's promotions and, with prices, every known SKU's listing: (promotions, sale prices,
    SKUs without a listing). While getPromotion waits for its token (Amazon's rate for it is
    low), the next search page or a listing is read, so the whole takes little more than the
    getPromotion calls alone."""
    from incident.prevent import listing_prices, promotions_api

    promotions = promotions_api.Reader(connection, at)
    listings = listing_prices.Reader(connection, catalog) if with_prices else None
    if listings:
        listings.add(list(catalog.products))

    def meanwhile(seconds: float) -> bool:
        if promotions.searching and connection.wait_for("searchPromotions") < seconds:
            promotions.search_page()
            return True
        if listings and listings.pending and connection.wait_for("getListingsItem") < seconds:
            listings.read_one()
            return True
        return False

    connection.while_waiting = meanwhile
    try:
        while promotions.searching or promotions.undetailed:
            if not promotions.undetailed:
                promotions.search_page()
                continue
            promotion = promotions.detail_next()
            if listings:
                catalog.learn([promotion])
                listings.add(key for key in catalog.covered(promotion) if key in catalog.products)
            if progress:
                progress("promotions", len(promotions.read), len(promotions.found))
        connection.while_waiting = None
        while listings and listings.pending:
            listings.read_one()
            if progress:
                progress("listings", listings.done, listings.done + len(listings.queue))
    finally:
        connection.while_waiting = None
    return promotions.read, listings.sales if listings else [], listings.unknown if listings else []


def check(promotions: list[Promotion], catalog: Catalog, stacking: rules.Rules, limits: Limits,
          incidents: list[IncidentPrice]) -> tuple[list[sweep.Stretch], list[Flag]]:
    """The sweep and every flag but the approvals'."""
    result = sweep.sweep(catalog, promotions, stacking, limits.at)
    found = flags.stretch_flags(result, catalog, limits)
    found += flags.cooling_off(result, limits)
    found += flags.promotion_flags(promotions, catalog, result, limits)
    found += flags.after_incident(result, catalog, incidents, limits)
    stretches = [s for sku in sorted(result.stretches) for s in result.stretches[sku]]
    return stretches, found


def incident_prices(home: Path) -> list[IncidentPrice]:
    """The lowest net unit price each incident sold each of its SKUs at."""
    from incident.scope import sort_store
    from incident.workspace import store

    found = []
    for incident in store.list_incidents(home):
        with store.open_store(home, incident.id) as opened:
            lowest: dict[str, Decimal] = {}
            for decision in sort_store(opened):
                price = decision.net_unit_price
                if price is not None and (decision.line.sku not in lowest or price < lowest[decision.line.sku]):
                    lowest[decision.line.sku] = price
        found += [IncidentPrice(incident.id, sku, price, incident.window_start) for sku, price in lowest.items()]
    return found


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """A big account makes a few hundred thousand small objects that live until the report is
    printed and hold no reference cycles: Python's cycle collector would walk them over and over
    (half the run at 10,000 SKUs). Plain reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run(home: Path, sources: Sources, limits: Limits, who: str,
        progress: Callable[[str, int, int], None] | None = None) -> Report:
    with _without_cycle_collection():
        return _run(home, sources, limits, who, progress)


def _run(home: Path, sources: Sources, limits: Limits, who: str,
         progress: Callable[[str, int, int], None] | None) -> Report:
    stacking = rules.load(sources.rules)  # a bad rules file fails before anything is read
    promotions, catalog, notes = gather(sources, limits.at, progress=progress)
    stretches, found = check(promotions, catalog, stacking, limits, incident_prices(home))
    with open_account(home) as account:
        states, unapproved = approvals.check(account, promotions, limits.at, who)
        found += unapproved
        found.sort(key=lambda f: (f.severity != CRITICAL, f.code, f.skus[:1], f.start or limits.at))
        report = Report(limits.at, sources.marketplace, {
            "live": sources.connection is not None, "plan": str(sources.plan) if sources.plan else None,
            "prices": str(sources.prices) if sources.prices else None, "rules": str(stacking.path)},
            promotions, catalog, stretches, found, states, notes)
        counts: dict[str, int] = {}
        for flag in found:
            counts[flag.code] = counts.get(flag.code, 0) + 1
        report.run_id = account.record_run(who, {
            "checked_at": iso_utc(limits.at), "marketplace": sources.marketplace.code if sources.marketplace else None,
            "live": int(sources.connection is not None), "plan": report.sources["plan"], "prices": report.sources["prices"],
            "promotions": sum(1 for p in promotions if p.is_promotion), "skus": len({s.sku for s in stretches}),
            "stretches": len(stretches), "critical": report.critical, "warnings": report.warnings,
            "outcome": report.outcome, "flags": counts})
    return report


def approve(home: Path, sources: Sources, promotion_id: str, by: str) -> tuple[Promotion, approvals.Approval, bool]:
    """`by`'s approval of the promotion's current content: a plan entry, or the promotion as
    Amazon has it now (one getPromotion, not the whole account)."""
    from incident.amazon.spapi import ApiError

    planned = plan.read(sources.plan) if sources.plan else plan.Plan()
    found = next((p for p in planned.promotions if p.id == promotion_id), None)
    if found is None and sources.connection is not None:
        from incident.prevent import promotions_api

        try:
            found = promotions_api.one(sources.connection, promotion_id)
        except ApiError as exc:
            if exc.status not in (400, 404):
                raise
        if found is not None and promotion_id in planned.notes:
            note = planned.notes[promotion_id]
            found.set_up_by, found.meant_for = note.set_up_by, note.meant_for
    if found is None:
        known = ", ".join(p.id for p in planned.promotions if p.is_promotion)[:300]
        where = "the plan file or the live account" if sources.connection else "the plan file (live reading is off)"
        raise UsageError(f"no promotion '{promotion_id}' in {where}: "
                         + (f"use one of {known}" if known else "give --plan FILE, or run with SP-API credentials"))
    with open_account(home) as account:
        approval, new = approvals.approve(account, found, by)
    return found, approval, new


# -- the --json shape (README "Preflight") ----------------------------------------------------

def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def _time(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


@lru_cache(maxsize=65536)
def _epoch_time(seconds: float) -> str | None:
    """A stretch's bound as text; many stretches share their bounds (a store-wide promotion's)."""
    return _time(sweep.moment(seconds))


def as_json(report: Report, all_stretches: bool = False) -> dict[str, Any]:
    with _without_cycle_collection():
        return _as_json(report, all_stretches)


def _as_json(report: Report, all_stretches: bool) -> dict[str, Any]:
    products = report.catalog.products
    stretches = [s for s in report.stretches if all_stretches or s.flags]
    return {
        "version": JSON_VERSION, "checked_at": _time(report.at),
        "marketplace": report.marketplace.code if report.marketplace else None,
        "currency": report.marketplace.currency if report.marketplace else None,
        "sources": report.sources, "run": report.run_id, "outcome": report.outcome,
        "summary": {"promotions": sum(1 for p in report.promotions if p.is_promotion),
                    "skus": len({s.sku for s in report.stretches}), "stretches": len(report.stretches),
                    "critical": report.critical, "warnings": report.warnings},
        "flags": [{"code": f.code, "severity": f.severity, "reason": f.reason, "promotions": f.promotions,
                   "skus": f.skus, "start": _time(f.start), "end": _time(f.end)} for f in report.flags],
        "stretches": [{"sku": s.sku, "start": _epoch_time(s.starts), "end": _epoch_time(s.ends),
                       "worst_price": _money(s.worst_price),
                       "list_price": _money(products[s.sku].list_price) if s.sku in products else None,
                       "floor": _money(products[s.sku].floor) if s.sku in products else None,
                       "unit_cost": _money(products[s.sku].unit_cost) if s.sku in products else None,
                       "promotions": s.promotion_ids, "flags": s.flags} for s in stretches],
        "promotions": [{"id": p.id, "source": p.source, "kind": p.kind, "title": p.title, "status": p.status,
                        "start": _time(p.start), "end": _time(p.end), "cancelled_at": _time(p.cancelled_at),
                        "set_up_by": p.set_up_by,
                        "approval": report.approvals[p.id].as_dict() if p.id in report.approvals else None}
                       for p in report.promotions if p.is_promotion],
        "notes": report.notes,
    }
