"""The home holds only incidents (issue 19 §3): the account database, the watch database and the
drills' scorecards live in the reserved folder <home>/.account/, which no listing takes for an
incident; a home of the earlier layout (those files at its top) has them moved there on first
use, a database only when nobody else has it open, and is never warned about meanwhile."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest
from conftest import SAMPLES, WINDOW, use_simulator
from processes import Run

from incident.amazon.ratelimits import VirtualClock
from incident.prevent import approvals
from incident.prevent import plan as plan_mod
from incident.watch import state
from incident.workspace.account import Account

PLAN, PRICES = SAMPLES / "preflight" / "plan.yaml", SAMPLES / "preflight" / "prices.csv"
OLD_CARD = "20261101T100000Z-coupon-after-cancelled-promo.json"


def _no_warning(result) -> None:
    assert "warning" not in result.stderr and "skipped" not in result.stderr, result.stderr


@pytest.mark.long
def test_list_warns_of_nothing_after_preflight_watch_and_drill(cli, home, monkeypatch):
    incident_id = cli("open", "--sku", "SKU-A", *WINDOW).stdout.strip()
    cli("drill", "--scenario", "coupon-after-cancelled-promo", "--autopilot", "--mode", "poll")
    from incident.sandbox import seeded

    simulator = seeded("us", clock=VirtualClock())
    simulator.start()
    try:
        use_simulator(monkeypatch, simulator)
        monkeypatch.setenv("INCIDENT_MARKETPLACE", "US")
        preflight = cli("preflight", "--plan", PLAN, "--prices", PRICES, "--json", code=1)  # critical flags
        assert json.loads(preflight.stdout)["outcome"]
        cli("preflight", "approve", "INSTA60", "--by", "mia", "--plan", PLAN)
        cli("watch", "--mode", "poll", "--once")
    finally:
        simulator.stop()
    listed = cli("list")
    assert incident_id in listed.stdout
    _no_warning(listed)
    assert listed.stderr == ""
    _no_warning(cli("status"))
    assert sorted(os.listdir(home)) == [".account", incident_id]
    own = home / ".account"
    assert stat.S_IMODE(own.stat().st_mode) == 0o700
    for name in ("account.db", "watch.db"):
        assert stat.S_IMODE((own / name).stat().st_mode) == 0o600
    assert len(cli.json("drill", "history")) == 1


def _old_layout(home) -> None:
    """A home as the earlier version left it: account.db (an approval), watch.db with its
    write-ahead log (a watch killed mid-run) and drills/ at the top, beside an incident."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(home / "account.db", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    insta60 = next(p for p in plan_mod.read(PLAN).promotions if p.id == "INSTA60")
    with Account(home / "account.db") as account:
        approvals.approve(account, insta60, "mia")
    killed_watch = (
        "import os\n"
        "from pathlib import Path\n"
        "from incident.watch.state import WatchDB\n"
        f"db = WatchDB(Path({str(home / state.DB_NAME)!r}))\n"
        "with db.change('tester', 'baseline', {}) as conn:\n"
        "    conn.execute(\"INSERT INTO baselines VALUES ('SKU-A', 0.5, 30, 60, 'report', '2026-11-01T00:00:00Z')\")\n"
        "os._exit(0)\n")
    assert Run(code=killed_watch).wait() == 0
    assert (home / "watch.db-wal").exists() and (home / "watch.db-shm").exists()
    (home / "drills").mkdir(mode=0o700)
    (home / "drills" / OLD_CARD).write_text(json.dumps({"scenario": "coupon-after-cancelled-promo", "mode": "push",
                                                        "time_to_detect_s": 42}))


def test_a_home_of_the_old_layout_warns_of_nothing_and_its_files_move(cli, home):
    incident_id = cli("open", "--sku", "SKU-A", *WINDOW).stdout.strip()
    _old_layout(home)
    (home / "29990103-000000-no-db").mkdir(mode=0o700)  # a damaged incident is still named, as before
    (home / "notes.txt").write_text("not an incident")
    listed = cli("list")
    assert incident_id in listed.stdout
    warnings = listed.stderr.splitlines()
    assert len(warnings) == 2, listed.stderr
    assert "29990103-000000-no-db: damaged, it has no incident.db" in warnings[0]
    assert "notes.txt: incident folder is not a folder" in warnings[1]
    for own in ("account.db", "watch.db", "drills"):
        assert own not in listed.stderr

    # each is found where it was, and moved into .account/ as it is used
    assert cli.json("watch", "status")["baselines"] == {"SKU-A": 0.5}  # the write-ahead log's row too
    assert "was already approved by mia" in cli("preflight", "approve", "INSTA60", "--by", "mia", "--plan", PLAN,
                                                 "--offline").stdout
    assert [card["file"].rsplit("/", 1)[1] for card in cli.json("drill", "history")] == [OLD_CARD]
    assert sorted(os.listdir(home)) == sorted([".account", "29990103-000000-no-db", incident_id, "notes.txt"])
    own = home / ".account"
    assert sorted(os.listdir(own)) == ["account.db", "drills", "watch.db"]
    for name in ("account.db", "watch.db"):
        assert stat.S_IMODE((own / name).stat().st_mode) == 0o600
    with sqlite3.connect(own / state.DB_NAME) as moved:
        assert moved.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert moved.execute("SELECT sku FROM baselines").fetchall() == [("SKU-A",)]
    assert len(cli("list").stderr.splitlines()) == 2


def test_an_old_watch_database_in_use_is_used_where_it_is_and_moved_later(cli, home):
    _old_layout(home)
    running_watch = sqlite3.connect(home / state.DB_NAME)  # an earlier version's watch, still running
    try:
        running_watch.execute("SELECT count(*) FROM baselines").fetchone()
        assert cli.json("watch", "status")["baselines"] == {"SKU-A": 0.5}
        assert (home / state.DB_NAME).exists() and not (home / ".account" / state.DB_NAME).exists()
        listed = cli("list")
        _no_warning(listed)
    finally:
        running_watch.close()
    assert cli.json("watch", "status")["baselines"] == {"SKU-A": 0.5}
    assert not (home / state.DB_NAME).exists() and (home / ".account" / state.DB_NAME).exists()
    assert not [name for name in os.listdir(home) if name.startswith("watch.db")]


def test_runs_moving_the_same_old_home_at_once_each_find_everything_once(home):
    _old_layout(home)
    runs = [Run("watch", "status", "--json") for _ in range(4)] + [Run("drill", "history", "--json")]
    results = [run.communicate() for run in runs]
    assert [code for code, _, _ in results] == [0] * 5, results
    assert all(json.loads(out)["baselines"] == {"SKU-A": 0.5} for _, out, _ in results[:4])
    assert len(json.loads(results[4][1])) == 1
    assert not {"watch.db", "watch.db-wal", "watch.db-shm", "drills"} & set(os.listdir(home))
    assert sorted(os.listdir(home / ".account")) == ["drills", "watch.db"]


def test_the_toolkits_folder_replaced_by_a_link_is_refused_and_not_written_through(cli, home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home.mkdir(mode=0o700)
    (home / ".account").symlink_to(elsewhere)
    result = cli("preflight", "approve", "INSTA60", "--by", "mia", "--plan", PLAN, "--offline", code=7)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "symbolic link" in result.stderr and "Traceback" not in result.output
    assert list(elsewhere.iterdir()) == []
    with state.WatchDB(elsewhere / state.DB_NAME):  # a watch database there is not read through the link
        pass
    assert "symbolic link" in cli("watch", "status", code=7).stderr
    _no_warning(cli("list"))
