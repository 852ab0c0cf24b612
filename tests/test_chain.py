"""The event log nobody can quietly rewrite: each event carries the hash of the one before it, and
`incident log verify` names the first event altered, removed or inserted with sqlite3 behind the
tool's back (the attacker drops the append-only triggers first)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from incident.workspace import chain, store


def tamper(home, *statements: str) -> None:
    db = sqlite3.connect(next(home.glob("*/incident.db")))
    db.executescript("DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;"
                     + ";".join(statements))
    db.close()


@pytest.fixture
def logged(small_incident):
    small_incident("step", "done", "stop-bleeding", "--note", "promo ended")
    small_incident("cancel", "export")
    return small_incident


def test_an_untouched_log_verifies_and_every_event_links_to_the_one_before(logged, home):
    out = logged("log", "verify").stdout
    assert "log verified: 4 of 4 events chained" in out
    rows = sqlite3.connect(next(home.glob("*/incident.db"))).execute(
        "SELECT seq, prev_hash, hash FROM events ORDER BY seq").fetchall()
    assert rows[0][1] == chain.GENESIS
    assert all(later[1] == earlier[2] for earlier, later in zip(rows, rows[1:]))
    assert out.strip().endswith(rows[-1][2])


def test_log_keeps_its_output(logged):
    out = logged("log").stdout
    assert out.startswith("# Timeline (UTC)\n#\tat\twho\twhat\tdetails\n")
    assert [e["action"] for e in logged.json("log")] == ["open", "pull", "step_done", "cancel_export"]
    assert set(logged.json("log")[0]) == {"seq", "at", "actor", "action", "details"}


def test_an_edit_made_with_sqlite3_is_caught(logged, home):
    tamper(home, """UPDATE events SET details = '{"note": "promo ended 14:05", "step": "stop-bleeding"}' WHERE seq = 3""")
    result = logged("log", "verify", code=1)
    assert "event #3 (step_done) was altered" in result.stderr
    verdict = json.loads(logged("log", "verify", "--json", code=1).stdout)
    assert (verdict["ok"], verdict["seq"], verdict["kind"]) == (False, 3, "altered")


def test_a_removed_event_is_caught(logged, home):
    tamper(home, "DELETE FROM events WHERE seq = 2")
    assert "event #2 was removed" in logged("log", "verify", code=1).stderr


def test_an_event_removed_from_the_end_is_caught(logged, home):
    tamper(home, "DELETE FROM events WHERE seq = 4")
    assert "event #4 was removed from the end" in logged("log", "verify", code=1).stderr


def test_an_inserted_event_is_caught(logged, home):
    tamper(home, "INSERT INTO events (at, actor, action, details) VALUES ('2026-11-20T22:10:00Z', 'mia', "
                 "'step_done', '{\"step\": \"cancel-upload\"}')")
    assert "event #5 carries no hash: it was inserted" in logged("log", "verify", code=1).stderr


def test_an_event_rewritten_with_a_new_hash_breaks_the_link_to_the_next(logged, home):
    db = next(home.glob("*/incident.db"))
    conn = sqlite3.connect(db)
    seq, at, actor, action, details, prev = conn.execute(
        "SELECT seq, at, actor, action, details, prev_hash FROM events WHERE seq = 2").fetchone()
    forged = chain.event_hash(seq, at, actor, action, details.replace('"updated_lines": 0', '"updated_lines": 5'), prev)
    conn.close()
    tamper(home, f"""UPDATE events SET details = replace(details, '"updated_lines": 0', '"updated_lines": 5'),
                     hash = '{forged}' WHERE seq = 2""")
    assert "the chain breaks between #2 and #3" in logged("log", "verify", code=1).stderr


def test_a_quoted_head_is_checked_against_the_chain(logged, home):
    head = logged.json("log", "verify")["head"]
    logged("step", "done", "contact-support")
    assert "the quoted head" in logged("log", "verify", "--head", head).stdout
    assert "is not in the chain" in logged("log", "verify", "--head", "0" * 64, code=1).stderr


def test_purging_personal_data_keeps_the_chain_whole(logged):
    logged("purge", "--yes", "--force")
    assert "log verified: 5 of 5" in logged("log", "verify").stdout


def test_an_older_incident_starts_its_chain_at_the_first_hashed_event_and_says_so(logged, home):
    db = next(home.glob("*/incident.db"))
    conn = sqlite3.connect(db)  # as an older version left it: no hash columns at all
    conn.executescript("DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete; "
                       "ALTER TABLE events DROP COLUMN prev_hash; ALTER TABLE events DROP COLUMN hash; "
                       "PRAGMA user_version = 1;")
    conn.close()
    with store.Store(db.parent) as reopened:
        verdict = chain.verify(reopened.conn)
        assert verdict.ok and verdict.first_chained is None and "next change" in verdict.unchained_note
    logged("step", "done", "contact-support")
    out = logged("log", "verify").stdout
    assert "events #1 to #4 were written before the log was chained" in out
    assert "log verified: 1 of 5 events chained" in out
