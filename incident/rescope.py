"""Changing an open incident's scope (SKUs, window, floor) once more is known: one event with the
old and the new scope. The buckets follow by themselves (they are sorted on every read); upload
files written under the old scope are marked stale, since they may list too much or too little."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from incident.errors import StateError, UsageError
from incident.timeutil import iso_utc
from incident.workspace.store import Incident, Store


def change_scope(store: Store, who: str, *, skus: list[str] | None = None, start: datetime | None = None,
                 end: datetime | None = None, floor: Decimal | None = None, no_floor: bool = False) -> Incident:
    incident = store.incident()
    if incident.state != "open":
        raise StateError(f"incident {incident.id} is {incident.state}: its scope cannot change")
    new_skus = [s.strip() for s in skus if s.strip()] if skus is not None else incident.skus
    if not new_skus:
        raise UsageError("give at least one --sku")
    new_start, new_end = start or incident.window_start, end or incident.window_end
    if new_end <= new_start:
        raise UsageError("the window's end must be after its start")
    new_floor = None if no_floor else (floor if floor is not None else incident.floor)
    old = incident.scope()
    new = {"skus": new_skus, "window_start": iso_utc(new_start), "window_end": iso_utc(new_end),
           "floor": None if new_floor is None else str(new_floor), "marketplace": incident.marketplace}
    if new == old:
        raise UsageError("nothing to change: give --sku, --start, --end, --floor or --no-floor")
    with store.change(who, "scope_changed", {"old": old, "new": new}) as conn:
        conn.execute("UPDATE incident SET skus = ?, window_start = ?, window_end = ?, floor = ?",
                     (json.dumps(new_skus), new["window_start"], new["window_end"], new["floor"]))
        conn.execute("UPDATE exports SET stale = 'written before the scope changed' WHERE stale IS NULL")
    return store.incident()
