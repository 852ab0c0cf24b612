"""The toolkit's own files under INCIDENT_HOME, apart from the incidents: the account database,
the watch database and the drills' scorecards live in the reserved folder <home>/.account/
(0700, checked as the home is), which the listing of incidents never looks into, as it never
looks into any name starting with a dot.

Homes of earlier versions kept these at the top of the home, where every command took them for
damaged incidents. Each is moved into the reserved folder the first time it is used: a database
only when no other connection has it open (an earlier version's watch still running), its
write-ahead log folded into it first so that the move is the rename of one file; until then it is
used where it is. The listing passes over those names meanwhile: no incident id looks like them.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from incident.workspace.files import check_folder, private_home

FOLDER = ".account"
DATABASES = ("account.db", "watch.db")
DRILLS = "drills"
_COMPANIONS = ("-journal", "-wal", "-shm")  # SQLite's files beside a database
EARLIER_NAMES = frozenset({DRILLS, *(db + suffix for db in DATABASES for suffix in ("", *_COMPANIONS))})


def is_own(name: str) -> bool:
    """Whether a name at the top of the home is one of the toolkit's files of the earlier layout."""
    return name in EARLIER_NAMES


def folder(home: Path) -> Path:
    """<home>/.account/, created 0700 (with the home) when missing; refused when it is a link, not
    a folder, not the user's, or writable by others."""
    own = private_home(home) / FOLDER
    try:
        own.mkdir(mode=0o700)
    except FileExistsError:
        pass
    check_folder(own, "the toolkit's own folder")
    return own


def database(home: Path, name: str, *, create: bool = True) -> Path:
    """Where the database `name` (account.db, watch.db) is: in the reserved folder, or still at the
    top of an earlier home while another connection has it open. `create=False` (to read only)
    makes no folder for a database that does not exist anywhere yet."""
    return _reserved(home, name, create, lambda old, new: new if _move_database(old, new) else old)


def drills(home: Path, *, create: bool = True) -> Path:
    """The drills' folder (scorecards and the autopilot's workspaces), moved from the top of an
    earlier home in one rename."""
    return _reserved(home, DRILLS, create, _move_folder)


def _reserved(home: Path, name: str, create: bool, move: Callable[[Path, Path], Path]) -> Path:
    """Where `name` is: in the reserved folder, or moved there now from the top of an earlier home
    by `move(old, new)`, which says where it is after (still `old` when it could not move)."""
    new, old = home / FOLDER / name, home / name
    if os.path.lexists(new) or not os.path.lexists(old):
        if create or os.path.lexists(home / FOLDER):  # checked before anything is read through it
            folder(home)
        return new
    with _moving(home):
        if os.path.lexists(new) or not os.path.lexists(old):  # another run moved it meanwhile
            return new
        return move(old, new)


def _move_folder(old: Path, new: Path) -> Path:
    if stat.S_ISDIR(os.lstat(old).st_mode):  # a link is not followed: left where it is
        os.rename(old, new)
    return new


@contextmanager
def _moving(home: Path) -> Iterator[None]:
    """One run at a time moves files into the reserved folder: a second waits, then finds them
    moved."""
    import fcntl  # POSIX, as the folder checks are

    fd = os.open(folder(home), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _move_database(old: Path, new: Path) -> bool:
    """Move the database `old` to the free name `new` if no other connection has it open; whether
    it was moved. Its journal and write-ahead log are resolved first, so one file moves."""
    if not stat.S_ISREG(os.lstat(old).st_mode):  # a link: used where it is, never followed to move
        return False
    try:
        conn = sqlite3.connect(f"{old.absolute().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=0)
    except sqlite3.Error:
        return False
    try:
        conn.execute("SELECT count(*) FROM sqlite_master")  # a killed run's journal is rolled back here
        # Leaving WAL mode needs every other connection closed (each holds a lock while open): it
        # copies the log into the database and deletes the log. New connections set WAL again.
        if conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] != "delete":
            return False
        conn.execute("BEGIN EXCLUSIVE")  # nobody reads or writes it while it moves
        try:
            if any(os.path.lexists(f"{old}{suffix}") for suffix in _COMPANIONS):
                return False
            os.chmod(old, 0o600)
            os.rename(old, new)
        finally:
            conn.execute("COMMIT")
    except sqlite3.Error:  # in use (locked), or not a database: it stays, and opening it says what is wrong
        return False
    finally:
        conn.close()
    return True
