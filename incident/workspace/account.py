"""The account database: what concerns the seller account rather than one incident, kept beside
the incidents ($INCIDENT_HOME/.account/account.db, workspace.reserved): approvals of promotions
and the preflight runs. Like an incident's database, its schema migrates itself and every change
writes an event to its append-only log (workspace.database)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from incident.timeutil import iso_utc, now_utc
from incident.workspace import reserved
from incident.workspace.database import EVENT_LOG, Database

ACCOUNT_DB = "account.db"

_SCHEMA = f"""
CREATE TABLE approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT, promotion_id TEXT NOT NULL, content_hash TEXT NOT NULL,
    content TEXT NOT NULL, approved_by TEXT NOT NULL, set_up_by TEXT, approved_at TEXT NOT NULL,
    voided_at TEXT, void_reason TEXT
);
CREATE INDEX approvals_promotion ON approvals (promotion_id);
CREATE TABLE preflight_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, checked_at TEXT NOT NULL, by TEXT NOT NULL,
    marketplace TEXT, live INTEGER NOT NULL, plan TEXT, prices TEXT, promotions INTEGER NOT NULL,
    skus INTEGER NOT NULL, stretches INTEGER NOT NULL, critical INTEGER NOT NULL, warnings INTEGER NOT NULL,
    outcome TEXT NOT NULL, flags TEXT NOT NULL
);
{EVENT_LOG}"""


class Account(Database):
    """The open account database."""

    schema = _SCHEMA

    def __enter__(self) -> Account:
        return self

    def approvals(self) -> dict[str, sqlite3.Row]:
        """The latest approval of each promotion (voided or not)."""
        rows = self.conn.execute("SELECT * FROM approvals ORDER BY id")
        return {row["promotion_id"]: row for row in rows}

    def approve(self, who: str, promotion_id: str, content: dict[str, Any], content_hash: str,
                set_up_by: str | None) -> int:
        with self.change(who, "approve_promotion", {"promotion_id": promotion_id, "content_hash": content_hash,
                                                    "set_up_by": set_up_by}) as conn:
            return conn.execute("INSERT INTO approvals (promotion_id, content_hash, content, approved_by, set_up_by, "
                                "approved_at) VALUES (?, ?, ?, ?, ?, ?)",
                                (promotion_id, content_hash, json.dumps(content, sort_keys=True), who, set_up_by,
                                 iso_utc(now_utc()))).lastrowid

    def void(self, who: str, approval_id: int, promotion_id: str, reason: str) -> None:
        with self.change(who, "void_approval", {"approval": approval_id, "promotion_id": promotion_id,
                                                "reason": reason}) as conn:
            conn.execute("UPDATE approvals SET voided_at = ?, void_reason = ? WHERE id = ? AND voided_at IS NULL",
                         (iso_utc(now_utc()), reason, approval_id))

    def record_run(self, who: str, run: dict[str, Any]) -> int:
        """One preflight run: when, from what, what it found (counts per flag)."""
        columns = ["at", "checked_at", "by", "marketplace", "live", "plan", "prices", "promotions", "skus",
                   "stretches", "critical", "warnings", "outcome", "flags"]
        values = {**run, "at": iso_utc(now_utc()), "by": who, "flags": json.dumps(run["flags"], sort_keys=True)}
        with self.change(who, "preflight", {k: run[k] for k in ("outcome", "critical", "warnings", "promotions")}) as conn:
            return conn.execute(f"INSERT INTO preflight_runs ({', '.join(columns)}) VALUES "
                                f"({', '.join('?' * len(columns))})", [values[c] for c in columns]).lastrowid

    def runs(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM preflight_runs ORDER BY id").fetchall()


def open_account(root: Path) -> Account:
    """The account database of the home `root`, created (0600, in a 0700 folder) on first use."""
    path = reserved.database(root, ACCOUNT_DB)
    if not path.exists():
        # SQLite gives its journal files the database file's mode: create it 0600 first
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # another run created it a moment ago
            pass
    return Account(path)
