"""Closing an incident, and its personal data on Amazon's clock.

An incident closes once every required step is done or skipped with a reason; closing is an
event, and a closed incident can still be read, reported and purged. Amazon's Data Protection
Policy keeps buyer data no longer than 30 days after delivery. The reports carry no delivery date,
so the clock starts at the last thing Amazon reported about the incident's orders (a cancellation,
a shipment), or the window's end, or the closing, whichever is latest: a shipped order is delivered
after it ships, so the data is purged no later than the rule asks, and sooner when in doubt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from incident.errors import StateError
from incident.timeutil import iso_utc, now_utc, parse_iso
from incident.workspace.store import DB_NAME, PERSONAL_FIELDS, Store

RETENTION_DAYS = 30
CLOSE_ACTION = "close"


def open_required(store: Store) -> list:
    return [step for step in store.steps() if step["required"] and step["state"] == "open"]


def close(store: Store, who: str) -> dict:
    """Close the incident, or refuse with the required steps still open."""
    incident = store.incident()
    if incident.state == "closed":
        raise StateError(f"incident {incident.id} is closed already")
    still_open = open_required(store)
    if still_open:
        listed = ", ".join(f"{s['id']} ({s['title']})" for s in still_open)
        raise StateError(f"cannot close {incident.id}: {len(still_open)} required step(s) still open: {listed}. "
                         "Do each, or skip it with a reason: incident step skip ID --reason \"...\"")
    skipped = {s["id"]: s["note"] for s in store.steps() if s["state"] == "skipped"}
    details = {"skipped": skipped, "optional_open": [s["id"] for s in store.steps() if s["state"] == "open"]}
    with store.change(who, CLOSE_ACTION, details) as conn:
        conn.execute("UPDATE incident SET state = 'closed'")
    return details


def closed_at(store: Store) -> str | None:
    row = store.conn.execute("SELECT at FROM events WHERE action = ? ORDER BY seq DESC LIMIT 1",
                             (CLOSE_ACTION,)).fetchone()
    return row[0] if row else None


@dataclass
class PersonalData:
    lines: int  # order lines still holding buyer data
    clock_from: datetime  # stands in for the last delivery
    due: datetime
    purged_at: str | None  # the last purge, if any

    def as_dict(self) -> dict:
        return {"lines": self.lines, "clock_from": iso_utc(self.clock_from), "due": iso_utc(self.due),
                "purged_at": self.purged_at, "retention_days": RETENTION_DAYS}


def personal_data(store: Store) -> PersonalData:
    held = store.conn.execute("SELECT count(*) FROM order_lines WHERE "
                              + " OR ".join(f"{name} IS NOT NULL" for name in PERSONAL_FIELDS)).fetchone()[0]
    latest = store.conn.execute("SELECT max(coalesce(last_updated, purchase_date)) FROM order_lines").fetchone()[0]
    candidates = [store.incident().window_end] + [parse_iso(t) for t in (latest, closed_at(store)) if t]
    clock_from = max(candidates)
    purged = store.conn.execute("SELECT max(at) FROM events WHERE action = 'purge_personal_data'").fetchone()[0]
    return PersonalData(lines=held, clock_from=clock_from, due=clock_from + timedelta(days=RETENTION_DAYS),
                        purged_at=purged)


def due_text(data: PersonalData, now: datetime | None = None) -> str:
    """One line for `status`."""
    if not data.lines:
        return ("personal data: none held" + (f" (purged {data.purged_at})" if data.purged_at else ""))
    days = (data.due - (now or now_utc())).days
    when = f"{data.due:%Y-%m-%d}" + (" (overdue: run `incident purge`)" if days < 0 else f" (in {days} days)")
    return (f"personal data: {data.lines} order lines hold buyer data; due for purging by {when}, "
            f"{RETENTION_DAYS} days after the last delivery Amazon reported")


@dataclass
class PurgeOutcome:
    incident_id: str
    held: int  # order lines holding buyer data before
    erased: int | None  # None when not due yet
    due: str


def purge_older_than(root: Path, days: int, who: str, now: datetime | None = None) -> list[PurgeOutcome]:
    """Purge every incident whose data clock started more than `days` ago and that still holds
    buyer data; the others are listed with their due date."""
    limit = (now or now_utc()) - timedelta(days=days)
    outcomes = []
    for db in sorted(root.glob(f"*/{DB_NAME}")) if root.exists() else []:
        with Store(db.parent) as store:
            data = personal_data(store)
            if data.lines and data.clock_from <= limit:
                erased = store.purge_personal_data(who)
            else:
                erased = None
            outcomes.append(PurgeOutcome(store.incident().id, data.lines, erased, iso_utc(data.due)))
    return outcomes
