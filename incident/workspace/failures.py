"""Failures of the machine as one line: a full disk, a read-only or unwritable folder, a symbolic
link loop, a damaged database. SQLite and the operating system say these in their own words
(`OperationalError: database or disk is full`, `PermissionError: [Errno 13]`); here they become
what happened, where, and what to do. A failed write leaves the incident as it was: SQLite rolls
the transaction back, and files are written to a temporary name first."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from incident.errors import WorkspaceError

_SQLITE = [  # SQLite's message -> (what happened, what to do)
    ("disk is full", ("the disk is full", "free some space (df -h shows where), then run the command again")),
    ("readonly database", ("the database cannot be written (a read-only file, folder or disk)",
                           "make the incident folder and its incident.db writable for you (ls -l shows who "
                           "owns them; mount shows a read-only disk), or set INCIDENT_HOME to a writable "
                           "folder of yours")),
    ("unable to open database", ("the database cannot be opened",
                                 "check that the incident folder exists and is yours and writable "
                                 "(ls -ld), or set INCIDENT_HOME to a folder of yours")),
    ("disk i/o error", ("the disk reported an input/output error",
                        "check the disk (dmesg), then run the command again")),
    ("not a database", ("incident.db is not an SQLite database (damaged)",
                        "restore the folder from a backup, or open the incident again")),
    ("malformed", ("the database is damaged", "restore the incident folder from a backup")),
    ("database is locked", ("another incident command kept the database busy for 30 s",
                            "wait for it to finish, then run the command again")),
]

_ERRNO = {
    errno.ENOSPC: ("the disk is full", "free some space (df -h shows where), then run the command again"),
    errno.EDQUOT: ("your disk quota is used up", "free some space, then run the command again"),
    errno.EROFS: ("the file system is read-only",
                  "set INCIDENT_HOME to a folder on a writable disk, or remount it read-write"),
    errno.EACCES: ("permission denied", "check who owns it and its mode (ls -ld), or set INCIDENT_HOME to a "
                   "folder of yours"),
    errno.EPERM: ("the operation is not permitted", "check who owns it and its mode (ls -ld)"),
    errno.ELOOP: ("too many levels of symbolic links (a link that points back at itself?)",
                  "remove or fix the link (ls -l shows where it points)"),
    errno.ENOTDIR: ("a part of the path is not a folder", "check the path (INCIDENT_HOME?)"),
    errno.ENAMETOOLONG: ("the path is too long", "use a shorter INCIDENT_HOME"),
    errno.EIO: ("the disk reported an input/output error", "check the disk (dmesg), then run the command again"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) or close other programs"),
}


def explain(exc: BaseException, where: Path | str | None = None) -> WorkspaceError | None:
    """The one-line WorkspaceError for a failure of the machine, or None when `exc` is not one
    (a bug stays a bug). `where`: the folder or database it happened in, when `exc` does not say.
    A failure raised while handling another (SQLite's own rollback after a full disk makes the
    ROLLBACK that follows fail) is explained by the first one."""
    seen = exc
    while seen is not None:
        problem = _explain_one(seen, where)
        if problem is not None:
            return problem
        seen = seen.__context__ if isinstance(seen, (sqlite3.Error, OSError)) else None
    return None


def _explain_one(exc: BaseException, where: Path | str | None) -> WorkspaceError | None:
    if isinstance(exc, WorkspaceError):
        return exc
    if isinstance(exc, (sqlite3.OperationalError, sqlite3.DatabaseError)) and not isinstance(
            exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        text = str(exc).lower()
        for needle, (what, fix) in _SQLITE:
            if needle in text:
                place = f"{where}: " if where else ""
                return WorkspaceError(f"{place}{what}; nothing was changed. To fix: {fix}")
        return None
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
        what, fix = _ERRNO.get(exc.errno, (exc.strerror or type(exc).__name__, "check the path and try again"))
        place = exc.filename if exc.filename is not None else where
        place_text = f"{place}: " if place is not None else ""
        return WorkspaceError(f"{place_text}{what}; nothing was changed. To fix: {fix}")
    return None
