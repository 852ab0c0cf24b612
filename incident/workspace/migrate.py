"""The incident database brings itself up to the schema in the code: every table, column,
index and trigger it lacks is added, so a new column or table needs no hand-written step and an
incident written by an older version opens as it is. `user_version` keeps the schema's
fingerprint, so an unchanged database skips the comparison."""

from __future__ import annotations

import sqlite3
import zlib


def fingerprint(schema: str) -> int:
    return zlib.crc32(schema.encode()) & 0x7FFFFFFF


def migrate(conn: sqlite3.Connection, schema: str) -> None:
    """Add what `schema` has and the database lacks, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        reference = _reference(schema)
        for kind, name, _table, sql in _objects(reference):
            if name not in have:
                conn.execute(sql)
            elif kind == "table":
                present = {row[1] for row in conn.execute(f"PRAGMA table_info({name})")}
                for column in reference.execute(f"PRAGMA table_info({name})"):
                    if column["name"] not in present:
                        conn.execute(f"ALTER TABLE {name} ADD COLUMN {_column_sql(column)}")
        conn.execute(f"PRAGMA user_version = {fingerprint(schema)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _reference(schema: str) -> sqlite3.Connection:
    reference = sqlite3.connect(":memory:")
    reference.row_factory = sqlite3.Row
    reference.executescript(schema)
    return reference


def _objects(reference: sqlite3.Connection) -> list[tuple[str, str, str, str]]:
    """(kind, name, table, sql) of every object: tables first, then what is on them."""
    rows = reference.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                             "AND name NOT LIKE 'sqlite_%' ORDER BY type != 'table', rowid").fetchall()
    return [tuple(row) for row in rows]


def _column_sql(column: sqlite3.Row) -> str:
    """A column as ALTER TABLE ADD COLUMN takes it (NOT NULL only with a default)."""
    default = column["dflt_value"]
    return (f"{column['name']} {column['type']}" + (f" DEFAULT {default}" if default is not None else "")
            + (" NOT NULL" if column["notnull"] and default is not None else ""))
