"""One run at a time for the jobs that talk to Amazon and must happen once (`cancel submit`,
`stop-sales`): a claim in the incident's database that a second run cannot take while the first
is alive, and that a killed run gives back.

The claim names its holder (host, process id and the process's start time, so a reused process
id is not taken for the holder). A run on the same host checks whether the holder still runs; a
holder on another host is trusted until `stale_after` seconds have passed. Taking and giving
back a claim go through Store.change(), so the timeline shows who held what and when.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from incident.errors import StateError
from incident.timeutil import iso_utc, now_utc, parse_iso
from incident.workspace.store import Store


class BusyError(StateError):
    """Another run holds the claim."""


def started(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or '' where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def holder_alive(host: str, pid: int, started_at: str, since: str, stale_after: float) -> bool:
    """Whether the run that took a claim still runs: a process of this machine that still runs
    (and is the same process, not a reused id), or a claim from elsewhere younger than
    `stale_after` seconds."""
    if host != socket.gethostname():
        return now_utc() - parse_iso(since) < timedelta(seconds=stale_after)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    return not started_at or started(pid) in ("", started_at)


def _alive(row, stale_after: float) -> bool:
    return holder_alive(row["host"], row["pid"], row["started"], row["since"], stale_after)


@contextmanager
def claim(store: Store, job: str, who: str, command: str, stale_after: float = 7200.0) -> Iterator[None]:
    """Hold `job` for the duration of the block, or raise BusyError naming the run that holds it."""
    pid = os.getpid()
    holder = secrets.token_hex(8)
    details = {"job": job, "pid": pid}
    with store.change(who, "claim", details) as conn:
        row = conn.execute("SELECT * FROM leases WHERE job = ?", (job,)).fetchone()
        if row is not None and _alive(row, stale_after):
            raise BusyError(f"another `{command}` is running ({row['who']}, process {row['pid']} on "
                            f"{row['host']}, since {row['since']}): wait for it to finish, then see "
                            "`incident status`; nothing was sent by this run")
        if row is not None:
            details["taken_over_from"] = {"who": row["who"], "pid": row["pid"], "since": row["since"]}
        conn.execute("INSERT OR REPLACE INTO leases (job, holder, who, host, pid, started, since) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (job, holder, who, socket.gethostname(), pid, started(pid), iso_utc(now_utc())))
    try:
        yield
    finally:
        with store.change(who, "release", {"job": job}) as conn:
            conn.execute("DELETE FROM leases WHERE job = ? AND holder = ?", (job, holder))
