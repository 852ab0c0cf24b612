"""What every database of the toolkit shares (an incident's, the account's): an SQLite file whose
schema migrates itself, and one way to change anything, `change()`, which writes its event into
the append-only log in the same transaction, each event carrying the hash of the one before
(`chain`)."""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from incident.timeutil import iso_utc, now_utc
from incident.workspace import chain

EVENT_LOG = """CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, details TEXT NOT NULL, prev_hash TEXT, hash TEXT
);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"""


def fingerprint(schema: str) -> int:
    """What `user_version` holds once a database matches `schema`."""
    return zlib.crc32(schema.encode()) & 0x7FFFFFFF


@lru_cache(maxsize=8)
def _reference(schema: str) -> tuple[list[tuple[str, str, str, str]], dict[str, list[dict[str, Any]]]]:
    """(kind, name, table, sql) of every object in `schema` (tables first, then what is on them),
    and each table's columns as PRAGMA table_info gives them."""
    reference = sqlite3.connect(":memory:")
    reference.row_factory = sqlite3.Row
    reference.executescript(schema)
    objects = [tuple(row) for row in reference.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "ORDER BY type != 'table', rowid")]
    columns = {name: [dict(row) for row in reference.execute(f"PRAGMA table_info({name})")]
               for kind, name, _, _ in objects if kind == "table"}
    reference.close()
    return objects, columns


def _column_sql(column: dict[str, Any]) -> str:
    """A column as ALTER TABLE ADD COLUMN takes it (NOT NULL only with a default)."""
    default = column["dflt_value"]
    return (f"{column['name']} {column['type']}" + (f" DEFAULT {default}" if default is not None else "")
            + (" NOT NULL" if column["notnull"] and default is not None else ""))


class Database:
    """An open database whose schema is `schema` (which must include EVENT_LOG)."""

    schema: str = EVENT_LOG

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.conn = sqlite3.connect(db_path, isolation_level=None, timeout=30)
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
        """Bring the database up to the schema. Every table, column, index and trigger it lacks is
        added, so a new column or table needs no hand-written step and a database written by an
        older version opens as it is. `user_version` keeps the schema's fingerprint: unchanged
        databases skip the comparison."""
        target = fingerprint(self.schema)
        if self.conn.execute("PRAGMA user_version").fetchone()[0] == target:
            return
        objects, columns = _reference(self.schema)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            have = {row["name"] for row in self.conn.execute("SELECT name FROM sqlite_master")}
            for kind, name, _table, sql in objects:
                if name not in have:
                    self.conn.execute(sql)
                elif kind == "table":
                    present = {row["name"] for row in self.conn.execute(f"PRAGMA table_info({name})")}
                    for column in columns[name]:
                        if column["name"] not in present:
                            self.conn.execute(f"ALTER TABLE {name} ADD COLUMN {_column_sql(column)}")
            self.conn.execute(f"PRAGMA user_version = {target}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def change(self, actor: str, action: str, details: dict[str, Any]) -> Iterator[sqlite3.Connection]:
        """A write transaction that records its event. `details` may be updated inside the block
        (e.g. with counts) and must never hold buyer data."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
            chain.append(self.conn, iso_utc(now_utc()), actor, action, json.dumps(details, sort_keys=True, default=str))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def events(self) -> list[dict[str, Any]]:
        return [{"seq": row["seq"], "at": row["at"], "actor": row["actor"],
                 "action": row["action"], "details": json.loads(row["details"])}
                for row in self.conn.execute("SELECT * FROM events ORDER BY seq")]
