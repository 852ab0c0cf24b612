"""The commands a manager types, end to end: workspace, checklist, guide, status, demo."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from conftest import ASSETS, WINDOW

from incident.cli import app

ROOT = Path(__file__).resolve().parent.parent


def test_open_prints_the_id_and_later_commands_find_it(cli, home):
    incident_id = cli("open", "--sku", "SKU-A", *WINDOW, "--marketplace", "jp").stdout.strip()
    assert (home / incident_id / "incident.db").exists()
    status = cli.json("status")
    assert status["id"] == incident_id
    assert status["scope"] == {"skus": ["SKU-A"], "window_start": "2026-11-20T22:00:00Z",
                               "window_end": "2026-11-20T22:30:00Z", "floor": None, "marketplace": "JP"}


def test_status_json_has_the_documented_keys(small_incident):
    status = small_incident.json("status")
    assert {"id", "scope", "counts", "steps", "exports"} <= set(status)
    assert set(status["counts"]) == {"affected_orders", "affected_units", "cancellable_mfn", "fba_support",
                                     "shipped_unrecoverable", "cancelled_by_seller", "cancelled_before", "needs_attention"}
    assert status["steps"][0]["id"] == "stop-bleeding"


def test_status_text_shows_time_local_and_utc(small_incident):
    out = small_incident("status").stdout
    assert "since the bad price went live (2026-11-20 14:00 PST (22:00 UTC))" in out
    assert "scope-orders\tdone" in out
    assert "cancellable_mfn\tCancel now" in out


@pytest.mark.parametrize("args, message", [
    (["--sku", "A", "--start", "2026-11-20T14:00:00", "--end", "2026-11-20T15:00:00Z"], "offset"),
    (["--sku", "A", "--start", "2026-11-20T15:00:00Z", "--end", "2026-11-20T14:00:00Z"], "after --start"),
    (["--sku", "A", *WINDOW, "--floor", "cheap"], "not an amount"),
    (["--sku", "A", *WINDOW, "--marketplace", "Narnia"], "unknown marketplace"),
])
def test_open_rejects_bad_options_with_one_line(cli, home, args, message):
    result = cli("open", *args, code=2)
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not home.exists() or not list(home.iterdir())


def test_commands_without_an_incident_say_how_to_start(cli):
    result = cli("status", code=4)
    assert "incident open --sku" in result.stderr


def test_steps_tick_skip_reopen_with_validation(small_incident):
    cli = small_incident
    cli("step", "done", "stop-bleeding", "--note", "promo ended 14:31", "--by", "mia")
    assert "already done" in cli("step", "done", "stop-bleeding", code=5).stderr
    assert "say why" in cli("step", "skip", "fba-request", "--reason", " ", code=2).stderr
    cli("step", "skip", "fba-request", "--reason", "no FBA orders")
    cli("step", "reopen", "fba-request", "--reason", "found FBA orders after all")
    assert "no step 'nope'" in cli("step", "done", "nope", code=2).stderr
    steps = {s["id"]: s for s in cli.json("status")["steps"]}
    assert steps["stop-bleeding"]["state"] == "done" and steps["stop-bleeding"]["by"] == "mia"
    assert steps["fba-request"]["state"] == "open"
    actions = [e["action"] for e in cli.json("log")]
    assert actions == ["open", "pull", "step_done", "step_skipped", "step_reopened"]


def test_next_fills_in_this_incidents_values(small_incident):
    cli = small_incident
    incident_id = cli.json("status")["id"]
    cli("step", "done", "stop-bleeding")
    cli("step", "done", "contact-support")
    out = cli("next").stdout
    assert "Write the Order Cancellation upload file" in out
    assert f"incident cancel export --incident {incident_id} --format both" in out
    assert cli.json("next")["command"] == ["incident", "cancel", "export", "--incident", incident_id, "--format", "both"]


@pytest.mark.long
def test_guide_runs_commands_after_asking(cli, home):
    incident_id = cli("open", "--sku", "SKU-A", *WINDOW, "--floor", "50").stdout.strip()
    answers = "\n".join([
        "y",                                              # stop-bleeding: done
        str(ASSETS / "all-orders-small.txt"),             # scope-orders: report paths
        str(ASSETS / "unshipped-small.txt"),
        "y",                                              # run the pull
        "n",                                              # contact-support: no note for an account manager
        "s", "called Seller Support instead",             # skip
        "y",                                              # run cancel export
        "q",
    ]) + "\n"
    cli("guide", input=answers)
    steps = {s["id"]: s["state"] for s in cli.json("status", "--incident", incident_id)["steps"]}
    assert steps["stop-bleeding"] == "done"
    assert steps["scope-orders"] == "done"
    assert steps["contact-support"] == "skipped"
    assert steps["cancel-export"] == "done"
    assert list(home.glob("*/exports/*.txt"))


def test_event_log_is_append_only_and_files_are_private(small_incident, home):
    db = next(home.glob("*/incident.db"))
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET actor = 'someone else'")


def test_no_buyer_data_in_the_log_or_listings(small_incident):
    text = small_incident("log").stdout + small_incident("orders", "--csv").stdout + \
        small_incident("status", "--json").stdout
    assert "@marketplace" not in text and "Alex Miller" not in text


def test_purge_erases_buyer_data(small_incident, home):
    db = next(home.glob("*/incident.db"))
    count = lambda: sqlite3.connect(db).execute(
        "SELECT count(*) FROM order_lines WHERE buyer_email IS NOT NULL OR buyer_name IS NOT NULL").fetchone()[0]
    assert count() > 0
    small_incident("cancel", "export")
    small_incident("notify", "render")
    small_incident("notify", "send", "--via", "outbox")
    assert b"aaa111@marketplace.amazon.com" in b"".join(p.read_bytes() for p in home.glob("*/outbox/*"))
    refused = small_incident("purge", "--yes", code=5)  # order 9's notice is blocked: its buyer is not told
    assert "1 of 3 buyers owed a notice are not told yet" in refused.stderr and count() > 0
    small_incident("purge", "--yes", "--force")
    assert count() == 0
    assert small_incident.json("log")[-1]["action"] == "purge_personal_data"
    leftovers = [p for p in home.rglob("*") if p.is_file() and (b"aaa111@" in p.read_bytes() or b"Alex Miller" in p.read_bytes())]
    assert leftovers == []  # not in a free page of the database, not in the outbox


def test_demo_runs_the_offline_path(cli, tmp_path):
    out = cli("demo", "--home", tmp_path / "demo").stdout
    assert "US marketplace" in out and "JP marketplace" in out
    assert len(list((tmp_path / "demo").glob("*/exports/OrderCancellation*.txt"))) == 2
    assert "cancellable_mfn" in out
    assert len(list((tmp_path / "demo").glob("*/exports/support-annotation.txt"))) == 2
    assert "Buyer notices:" in out and len(list((tmp_path / "demo").glob("*/outbox/*.eml"))) > 100


def test_every_command_has_a_summary_and_an_example():
    import typer.main

    group = typer.main.get_command(app)

    def walk(command, prefix=""):
        for name, sub in getattr(command, "commands", {}).items():
            if getattr(sub, "commands", None):
                yield from walk(sub, prefix + name + " ")
            else:
                yield prefix + name, sub

    for name, command in walk(group):
        assert command.help and "Example:" in command.help, f"`incident {name}` has no example"


PANELS = ["During the incident", "Before it", "After it", "Set-up"]


def test_help_groups_the_commands_the_way_a_manager_thinks(cli):
    import typer.main

    sections: dict[str, list[str]] = {}  # each "Title:" line -> the names listed below it
    title = None
    for line in cli("--help").stdout.splitlines():
        if line.endswith(":") and not line[:1].isspace():
            title = line[:-1]
            sections[title] = []
        elif title and line.startswith("  ") and line[2:3].strip():
            sections[title].append(line.split()[0])
    assert [t for t in sections if t != "Options"] == PANELS  # during first: that is when help is read
    listed = [name for title in PANELS for name in sections[title]]
    commands = typer.main.get_command(app).list_commands(None)
    assert sorted(listed) == sorted(commands) and len(listed) == len(set(listed)) == 26  # each exactly once
    assert {"open", "pull", "scope", "status", "orders", "cancel", "notify", "support", "step", "next",
            "stop-sales"} <= set(sections["During the incident"])
    assert set(sections["Before it"]) == {"preflight", "watch", "drill"}
    assert {"report", "health", "cards", "cost", "close", "purge", "log"} <= set(sections["After it"])
    assert {"doctor", "sandbox", "demo"} <= set(sections["Set-up"])


def test_installed_command_runs_as_a_real_process(tmp_path):
    command = Path(sys.executable).parent / "incident"
    env = {**os.environ, "INCIDENT_HOME": str(tmp_path / "h")}
    opened = subprocess.run([command, "open", "--sku", "SKU-A", *WINDOW], capture_output=True,
                            text=True, env=env, cwd=tmp_path)
    assert opened.returncode == 0, opened.stderr
    bad = subprocess.run([command, "pull", "--report", tmp_path / "missing.txt"], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 3 and "Traceback" not in bad.stderr
    assert bad.stderr.strip() == f"error: {tmp_path / 'missing.txt'}: no such file. Check the path"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """incident's wheel, built by the build backend pip calls (hatchling, a test dependency), called
    as pip calls it, minus pip."""
    dist = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-c", "import sys, hatchling.build as b; b.build_wheel(sys.argv[1])",
                            dist], capture_output=True, text=True, cwd=ROOT)
    assert built.returncode == 0, built.stderr
    return next(dist.glob("incident-*.whl"))


@pytest.mark.long
def test_wheel_ships_runbooks_templates_and_samples(tmp_path, wheel):
    """A plain, non-editable install must find its data from any working directory."""
    names = zipfile.ZipFile(wheel).namelist()
    assert "incident/_data/runbooks/promo-stacking.yaml" in names
    assert "incident/_data/samples/us/all-orders.txt" in names
    assert any(n.startswith("incident/_data/templates/") for n in names)
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)  # what installing a pure-Python wheel does, less the scripts
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([sys.executable, "-m", "incident", "demo", "--home", elsewhere / "h"], capture_output=True,
                         text=True, cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(target)})
    assert run.returncode == 0, run.stderr
    assert str(target) in subprocess.run(
        [sys.executable, "-c", "import incident.resources as r; print(r.data_dir('runbooks'))"],
        capture_output=True, text=True, cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(target)}).stdout


def _plain_dependencies(wheel: Path) -> list[metadata.Distribution]:
    """The distributions `pip install .` brings, no extra asked for: the wheel's requirements and
    theirs, each with only the extras asked of it, as this environment has them installed."""
    from email.parser import Parser

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    with zipfile.ZipFile(wheel) as opened:
        described = opened.read(next(n for n in opened.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    found: dict[str, metadata.Distribution] = {}
    todo = [(requirement, ()) for requirement in Parser().parsestr(described).get_all("Requires-Dist") or []]
    while todo:
        text, extras = todo.pop()
        requirement = Requirement(text)
        if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in ("", *extras)):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue  # an extra asked only further down is not followed: none of ours needs one
        found[name] = metadata.distribution(name)
        todo += [(r, tuple(requirement.extras)) for r in found[name].requires or []]
    return list(found.values())


def plain_venv(folder: Path, wheel: Path) -> Path:
    """A new virtual environment with incident installed from its wheel by pip, as `pip install .`
    would, but offline: the dependencies pip would install are linked in from this environment
    (moto, the test tools and the other extras are not), and pip gets no index nor any other
    folder of wheels, so a dependency missing from that set fails the install."""
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for dist in _plain_dependencies(wheel):
        assert dist.files, f"{dist.metadata['Name']} lists no files"
        for top in {f.parts[0] for f in dist.files if f.parts[0] not in ("..", "__pycache__")}:
            if not (site / top).exists():
                (site / top).symlink_to(dist.locate_file(top))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-index",
                                "--disable-pip-version-check", wheel], capture_output=True, text=True, env=env)
    assert installed.returncode == 0, installed.stderr
    return venv


@pytest.mark.long
def test_a_plain_install_runs_the_drill(tmp_path, wheel):
    """`pip install .` with no extra: no moto, so no local SQS server. The drill is how a team
    learns the tool, so it runs anyway, its watch polling, and says so once."""
    venv = plain_venv(tmp_path, wheel)
    assert subprocess.run([venv / "bin" / "python", "-c", "import moto"], capture_output=True).returncode != 0
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"INCIDENT_HOME": str(tmp_path / "h")}
    drill = subprocess.run([venv / "bin" / "incident", "drill", "--scenario", "coupon-after-cancelled-promo",
                            "--autopilot"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert drill.returncode == 0, drill.stderr
    assert "Traceback" not in drill.stderr
    said = [line for line in drill.stderr.splitlines() if "incident[drill]" in line]
    assert len(said) == 1 and "poll" in said[0], drill.stderr
    assert "(poll, autopilot)" in drill.stdout and "Saved" in drill.stdout
    card = json.loads(next((tmp_path / "h" / ".account" / "drills").glob("*.json")).read_text())  # the poll drill's score
    assert card["mode"] == "poll" and card["time_to_detect_s"] <= 60
    placed = card["mfn_orders_saved"] + card["mfn_orders_lost"]
    assert card["mfn_orders_saved"] / placed >= 0.95


def test_pull_and_status_never_load_pandas(small_incident, home):
    """pandas takes 0.15 s to import and the pull needs none of it (bench/README.md)."""
    script = ("import sys\nfrom incident import cli\nsys.argv = ['incident'] + sys.argv[1:]\n"
              "try:\n    cli.main()\nexcept SystemExit:\n    pass\nprint('pandas' in sys.modules, file=sys.stderr)\n")
    env = dict(os.environ, INCIDENT_HOME=str(home))
    for args in (["pull", "--report", str(ASSETS / "all-orders-small.txt")], ["status"]):
        result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env)
        assert result.stderr.strip().endswith("False"), (args, result.stderr)
