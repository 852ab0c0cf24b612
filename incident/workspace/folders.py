"""Incident folders under $INCIDENT_HOME: creating one whole or not at all, finding one by its id
(never by a path), choosing the most recent open one, and listing them all, naming any folder
that is damaged, not the user's, or writable by others and going on with the rest.

INCIDENT_HOME is created 0700 and, like ~/.ssh for ssh, refused when someone else owns it or may
write it: in a shared folder another user's newer incident would otherwise become ours.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import stat
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from incident.errors import NoIncidentError, UsageError, WorkspaceError
from incident.timeutil import iso_utc, now_utc
from incident.workspace import reserved
from incident.workspace.failures import explain
from incident.workspace.files import check_folder, private_home

# What `incident open` makes (20261120-142000-sonic-hp-blk, maybe with -a1b2): a name, never a path.
INCIDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_STAGING = ".opening-"


def home() -> Path:
    """$INCIDENT_HOME, else the user's own data folder (e.g. ~/.local/share/incident/incidents):
    the same incidents whatever folder the command is run from. Always absolute, so every
    message names a path that can be pasted."""
    explicit = os.environ.get("INCIDENT_HOME")
    if explicit:
        return Path(explicit).expanduser().absolute()
    from platformdirs import user_data_path

    return user_data_path("incident", appauthor=False) / "incidents"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:24] or "incident"


def check_id(incident_id: str) -> str:
    if not INCIDENT_ID.fullmatch(incident_id):
        raise UsageError(f"--incident '{incident_id}' is not an incident id: give the id `incident list` shows "
                         "(like 20261120-142000-sonic-hp-blk), not a path; set INCIDENT_HOME for another folder")
    return incident_id


def create(root: Path, *, title: str, skus: list[str], window_start: datetime,
           window_end: datetime, floor: Decimal | None, marketplace: str | None,
           who: str, steps: list[dict[str, Any]]):
    """A new incident, whole: it is built in a hidden folder and renamed into place once its
    database holds the incident and its checklist, so a failure (a full disk) leaves nothing."""
    from incident.workspace.store import DB_NAME, Store

    root = private_home(root)
    opened = now_utc()
    incident_id = f"{opened:%Y%m%d-%H%M%S}-{_slug(skus[0])}"
    staging = root / f"{_STAGING}{incident_id}-{secrets.token_hex(4)}"
    claimed: Path | None = None
    try:
        staging.mkdir(mode=0o700)
        # SQLite gives its journal files the database file's mode: create it 0600 first
        os.close(os.open(staging / DB_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        while claimed is None:  # two opens in the same second: the second gets a suffix
            try:
                (root / incident_id).mkdir(mode=0o700)
                claimed = root / incident_id
            except FileExistsError:
                incident_id = f"{opened:%Y%m%d-%H%M%S}-{_slug(skus[0])}-{secrets.token_hex(2)}"
        with Store(staging) as store:
            details = {"id": incident_id, "title": title, "skus": skus,
                       "window_start": iso_utc(window_start), "window_end": iso_utc(window_end),
                       "floor": None if floor is None else str(floor), "marketplace": marketplace}
            with store.change(who, "open", details) as conn:
                conn.execute("INSERT INTO incident (id, title, skus, window_start, window_end, floor, "
                             "marketplace, opened_at, opened_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (incident_id, title, json.dumps(skus), iso_utc(window_start),
                              iso_utc(window_end), details["floor"], marketplace, iso_utc(opened), who))
                for position, step in enumerate(steps):
                    conn.execute("INSERT INTO steps (position, id, title, why, who, command, manual, "
                                 "ticks_on, required, follow_up, more) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 (position, step["id"], step["title"], step["why"], step["who"],
                                  step.get("command"), step.get("manual"), step.get("ticks_on"),
                                  1 if step.get("required", True) else 0, step.get("then"), step.get("more")))
        os.rename(staging, claimed)  # replaces the empty folder claimed above, in one step
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if claimed is not None and claimed.is_dir() and not any(claimed.iterdir()):
            claimed.rmdir()
        problem = explain(exc, root)
        if problem is not None and problem is not exc:
            raise problem from None
        raise
    return Store(claimed)


def problem_of(folder: Path) -> str | None:
    """Why this folder cannot be used as an incident, or None. Reads nothing into being: a
    missing or empty database is reported, never created."""
    from incident.workspace.store import DB_NAME

    try:
        check_folder(folder, "incident folder")
    except WorkspaceError as exc:
        return str(exc)
    db = folder / DB_NAME
    try:
        info = os.lstat(db)
    except FileNotFoundError:
        return f"{folder}: damaged, it has no {DB_NAME} (an `incident open` that did not finish?)"
    if not stat.S_ISREG(info.st_mode):
        return f"{folder}: damaged, its {DB_NAME} is not a regular file (a link?)"
    if info.st_uid != os.geteuid():
        return f"{db}: belongs to another user; incident will not open it"
    if info.st_size == 0:
        return f"{folder}: damaged, its {DB_NAME} is empty (an `incident open` that failed, e.g. on a full disk)"
    try:  # read-write, never create: a run killed mid-write leaves a journal that the next reader rolls back
        conn = sqlite3.connect(f"{db.absolute().as_uri()}?mode=rw", uri=True, timeout=30)
        try:
            row = conn.execute("SELECT id FROM incident").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"{folder}: damaged, its {DB_NAME} cannot be read ({exc})"
    if row is None:
        return f"{folder}: damaged, its {DB_NAME} holds no incident (an `incident open` that did not finish?)"
    return None


def _candidates(root: Path) -> list[Path]:
    """Incident folders, newest first (ids start with the time they were opened). Hidden names
    (the toolkit's own folder, half-made incidents) and the toolkit's files an earlier version
    kept at the top of the home are not incidents (workspace.reserved)."""
    if not os.path.lexists(root):
        return []
    check_folder(root, "INCIDENT_HOME", root_may_own=True)
    return sorted((p for p in root.iterdir() if not p.name.startswith(".") and not reserved.is_own(p.name)),
                  reverse=True)


def _open(folder: Path):
    from incident.workspace.store import DB_NAME, Store

    try:
        return Store(folder)
    except (sqlite3.Error, OSError) as exc:
        problem = explain(exc, folder / DB_NAME)
        if problem is None:
            raise
        raise problem from None


def open_store(root: Path, incident_id: str | None = None):
    """The named incident, or the most recent open one. Folders that are damaged, not the
    user's, or writable by others are passed over when choosing; `store.skipped` names them."""
    if incident_id:
        folder = root / check_id(incident_id)
        if os.path.lexists(root):
            check_folder(root, "INCIDENT_HOME", root_may_own=True)
        if not os.path.lexists(folder):
            raise NoIncidentError(f"no incident '{incident_id}' under {root}: "
                                  "run `incident list` to see the incidents there")
        problem = problem_of(folder)
        if problem is not None:
            raise WorkspaceError(problem)
        return _open(folder)
    skipped = []
    for folder in _candidates(root):
        problem = problem_of(folder)
        if problem is not None:
            skipped.append(problem)
            continue
        store = _open(folder)
        if store.incident().state == "open":
            store.skipped = skipped
            return store
        store.close()
    passed = f" ({len(skipped)} damaged or foreign folders passed over: `incident list` names them)" if skipped else ""
    raise NoIncidentError(f"no open incident under {root}{passed}: start one with "
                          "`incident open --sku SKU --start TIME --end TIME` "
                          "(or set INCIDENT_HOME to where your incidents are)")


def scan(root: Path) -> tuple[list, list[str]]:
    """Every usable incident (oldest first), and what is wrong with each folder that is not."""
    incidents, damaged = [], []
    for folder in reversed(_candidates(root)):
        problem = problem_of(folder)
        if problem is not None:
            damaged.append(problem)
            continue
        with _open(folder) as store:
            incidents.append(store.incident())
    return incidents, damaged


def list_incidents(root: Path) -> list:
    return scan(root)[0]
