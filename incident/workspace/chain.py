"""The event log as a hash chain: each event carries the SHA-256 of the one before it, so an event
altered, removed or inserted behind the tool's back (with sqlite3, say) shows up in `verify`.

What is hashed is the event as stored (number, time, who, action, details) and the previous hash:
never buyer data (details never hold any), so erasing personal data leaves the chain whole.
Events written before the chain existed carry no hash; the chain starts at the first one that does.
A chain proves only that nothing changed *inside* it: whoever rewrites every hash from some event
on can pass `verify`, which is why the report and the annotation request quote the head hash, and
`verify --head HASH` checks that a quoted hash is still in the chain.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass

GENESIS = "0" * 64


def event_hash(seq: int, at: str, actor: str, action: str, details: str, prev_hash: str) -> str:
    payload = json.dumps([seq, at, actor, action, details, prev_hash], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def append(conn: sqlite3.Connection, at: str, actor: str, action: str, details: str) -> str:
    """Write one event linked to the last one, inside the caller's transaction; its hash."""
    last = conn.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    prev_hash = (last[0] if last else None) or GENESIS
    counter = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    highest = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    seq = max(counter[0] if counter else 0, highest) + 1  # AUTOINCREMENT's own rule: never reuse a number
    digest = event_hash(seq, at, actor, action, details, prev_hash)
    conn.execute("INSERT INTO events (seq, at, actor, action, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (seq, at, actor, action, details, prev_hash, digest))
    return digest


def head(conn: sqlite3.Connection) -> str | None:
    """The hash of the newest event (None while no event carries one)."""
    row = conn.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return row[0] if row else None


@dataclass
class Verdict:
    ok: bool
    events: int  # events in the log
    chained: int  # events the chain covers
    first_chained: int | None  # seq of the first hashed event
    head: str | None
    problem: str | None = None  # the first break, in words
    seq: int | None = None  # the event where the first break is
    kind: str | None = None  # altered, removed, inserted
    head_found: bool | None = None  # --head given: is that hash in the chain?

    @property
    def unchained_note(self) -> str | None:
        if self.first_chained is None:
            return "no event carries a hash yet (written by an older version): the chain starts with the next change"
        if self.first_chained > 1:
            return (f"events #1 to #{self.first_chained - 1} were written before the log was chained and are not "
                    f"covered; the chain starts at #{self.first_chained}")
        return None


def verify(conn: sqlite3.Connection, quoted_head: str | None = None) -> Verdict:
    """Walk the chain and report the first event that was altered, removed or inserted."""
    rows = conn.execute("SELECT seq, at, actor, action, details, prev_hash, hash FROM events ORDER BY seq").fetchall()
    start = next((i for i, row in enumerate(rows) if row[6] is not None), None)
    verdict = Verdict(ok=True, events=len(rows), chained=0 if start is None else len(rows) - start,
                      first_chained=None if start is None else rows[start][0], head=head(conn))
    if quoted_head is not None:
        quoted = quoted_head.strip().lower()
        verdict.head_found = bool(quoted) and any(row[6] == quoted or (len(quoted) >= 12 and (row[6] or "").startswith(quoted))
                                                  for row in rows)
    if start is None:
        return verdict
    expected, previous = GENESIS, rows[start - 1][0] if start else 0
    chained = rows[start:]
    for index, (seq, at, actor, action, details, prev_hash, digest) in enumerate(chained):
        if digest is None:
            return _broken(verdict, seq, "inserted", f"event #{seq} carries no hash: it was inserted after the chain began")
        if prev_hash != expected:
            following = chained[index + 1] if index + 1 < len(chained) else None
            if seq > previous + 1:
                gone = f"#{previous + 1}" if seq == previous + 2 else f"#{previous + 1} to #{seq - 1}"
                return _broken(verdict, previous + 1, "removed", f"event {gone} was removed (#{seq} no longer links to #{previous})")
            if following is not None and following[5] == expected:
                return _broken(verdict, seq, "inserted", f"event #{seq} was inserted (#{following[0]} links past it)")
            return _broken(verdict, previous, "altered", f"the chain breaks between #{previous} and #{seq}: #{previous} was "
                           f"rewritten with a new hash, or #{seq} was inserted")
        if event_hash(seq, at, actor, action, details, prev_hash) != digest:
            return _broken(verdict, seq, "altered", f"event #{seq} ({action}) was altered: its content no longer matches its hash")
        expected, previous = digest, seq
    counter = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    if counter and counter[0] > previous:
        gone = f"#{counter[0]}" if counter[0] == previous + 1 else f"#{previous + 1} to #{counter[0]}"
        return _broken(verdict, previous + 1, "removed", f"event {gone} was removed from the end of the log")
    if verdict.head_found is False:
        verdict.ok = False
        verdict.problem = (f"the quoted head hash {quoted_head.strip()} is not in the chain: the events it pinned "
                           "were rewritten or removed")
    return verdict


def _broken(verdict: Verdict, seq: int, kind: str, problem: str) -> Verdict:
    verdict.ok, verdict.seq, verdict.kind, verdict.problem = False, seq, kind, problem
    return verdict
