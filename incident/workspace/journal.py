"""An SQLite database whose schema migrates itself and whose every change writes its event into
an append-only log in the same transaction: the incident store and the watch database both are
one (`Journal`), so both keep the same audit trail."""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from incident.timeutil import iso_utc, now_utc

EVENTS_SCHEMA = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, details TEXT NOT NULL
);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"""


def _reference(schema: str) -> sqlite3.Connection:
    reference = sqlite3.connect(":memory:")
    reference.row_factory = sqlite3.Row
    reference.executescript(schema)
    return reference


def _schema_objects(schema: str) -> list[tuple[str, str, str, str]]:
    """(kind, name, table, sql) of every object in the schema: tables first, then what is on them."""
    rows = _reference(schema).execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                                      "ORDER BY type != 'table', rowid").fetchall()
    return [tuple(row) for row in rows]


def _schema_columns(table: str, schema: str) -> list[sqlite3.Row]:
    return _reference(schema).execute(f"PRAGMA table_info({table})").fetchall()


def _column_sql(column: sqlite3.Row) -> str:
    """A column as ALTER TABLE ADD COLUMN takes it (NOT NULL only with a default)."""
    default = column["dflt_value"]
    return (f"{column['name']} {column['type']}" + (f" DEFAULT {default}" if default is not None else "")
            + (" NOT NULL" if column["notnull"] and default is not None else ""))


class Journal:
    """An SQLite database whose schema migrates itself and whose every change writes an event in
    an append-only log. The incident store is one; the watch database (incident.watch.state)
    another. A subclass names its SCHEMA (which must hold an `events` table)."""

    SCHEMA = ""

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.conn = sqlite3.connect(self.db_path, isolation_level=None, timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        """Bring the database up to SCHEMA. Every table, column, index and trigger it lacks is
        added, so a new column or table needs no hand-written step and a database written by an
        older version opens as it is. `user_version` keeps the schema's fingerprint: unchanged
        databases skip the comparison."""
        fingerprint = zlib.crc32(self.SCHEMA.encode()) & 0x7FFFFFFF
        if self.conn.execute("PRAGMA user_version").fetchone()[0] == fingerprint:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            have = {row["name"]: row["type"] for row in self.conn.execute("SELECT name, type FROM sqlite_master")}
            for kind, name, table, sql in _schema_objects(self.SCHEMA):
                if name not in have:
                    self.conn.execute(sql)
                elif kind == "table":
                    present = {row["name"] for row in self.conn.execute(f"PRAGMA table_info({name})")}
                    for column in _schema_columns(name, self.SCHEMA):
                        if column["name"] not in present:
                            self.conn.execute(f"ALTER TABLE {name} ADD COLUMN {_column_sql(column)}")
            self.conn.execute(f"PRAGMA user_version = {fingerprint}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    # -- the one way to change anything ------------------------------------------------------

    @contextmanager
    def change(self, actor: str, action: str, details: dict[str, Any]) -> Iterator[sqlite3.Connection]:
        """A write transaction that records its event. `details` may be updated inside the block
        (e.g. with counts) and must never hold buyer data."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            self.conn.execute("INSERT INTO events (at, actor, action, details) VALUES (?, ?, ?, ?)",
                              (iso_utc(now_utc()), actor, action,
                               json.dumps(details, sort_keys=True, default=str)))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def events(self) -> list[dict[str, Any]]:
        return [{"seq": row["seq"], "at": row["at"], "actor": row["actor"],
                 "action": row["action"], "details": json.loads(row["details"])}
                for row in self.conn.execute("SELECT * FROM events ORDER BY seq")]
