"""A workspace nobody else can take over, and failures of the machine as one line (issue 11,
§1 exports, §2, §5): INCIDENT_HOME private and checked as ssh checks ~/.ssh, ids not paths, no
writing or deleting through links, an incident created whole, a full or read-only disk told in one
line with the incident left as it was."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ASSETS, WINDOW

BIN = Path(sys.executable).parent
SMALL_ALL, SMALL_UNSHIPPED = ASSETS / "all-orders-small.txt", ASSETS / "unshipped-small.txt"
ROOT = os.geteuid() == 0
OTHER_UID = 54321  # a user that is not us


def _userns() -> bool:
    try:
        return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


USERNS = _userns()
needs_root = pytest.mark.skipif(not ROOT, reason="making a folder another user's needs root")
needs_userns = pytest.mark.skipif(not USERNS, reason="a small disk of our own needs user namespaces (unshare)")


def one_line_error(result, code: int = 7) -> str:
    assert result.exit_code == code, result.output
    message = result.stderr
    assert message.startswith("error: ") and message.count("\n") == 1 and "Traceback" not in result.output, message
    return message


# -- INCIDENT_HOME and incident folders ------------------------------------------------------------


def test_incident_home_and_incident_folders_are_created_private(cli, home):
    incident_id = cli("open", "--sku", "SKU-A", *WINDOW).stdout.strip()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / incident_id).stat().st_mode) == 0o700
    assert stat.S_IMODE((home / incident_id / "incident.db").stat().st_mode) == 0o600


def test_a_home_others_can_write_is_refused_with_the_fix(cli, home):
    home.mkdir()
    home.chmod(0o777)
    message = one_line_error(cli.runner.invoke(cli_app(), ["open", "--sku", "A", *WINDOW]))
    assert "can be written by others" in message and f"chmod go-w {home}" in message
    assert list(home.iterdir()) == []
    one_line_error(cli.runner.invoke(cli_app(), ["status"]))


@needs_root
def test_a_home_of_another_user_is_refused(cli, home):
    home.mkdir(mode=0o700)
    os.chown(home, OTHER_UID, OTHER_UID)
    message = one_line_error(cli.runner.invoke(cli_app(), ["open", "--sku", "A", *WINDOW]))
    assert f"belongs to uid {OTHER_UID}, not to you" in message and "INCIDENT_HOME" in message


def _foreign_copy(home: Path, incident_id: str, make_foreign) -> Path:
    """Another incident, newer than ours, in the same home, made not ours by `make_foreign`."""
    newer = home / "29991231-235959-intruder"
    shutil.copytree(home / incident_id, newer)
    make_foreign(newer)
    return newer


@pytest.mark.parametrize("how", ["writable by others", "another user's"])
def test_a_newer_foreign_incident_is_passed_over_named_and_never_written(cli, home, how):
    if how == "another user's" and not ROOT:
        pytest.skip("making a folder another user's needs root")
    ours = cli("open", "--sku", "SKU-A", *WINDOW).stdout.strip()

    def make_foreign(folder: Path) -> None:
        if how == "writable by others":
            folder.chmod(0o777)
        else:
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, OTHER_UID, OTHER_UID)

    newer = _foreign_copy(home, ours, make_foreign)
    before = (newer / "incident.db").read_bytes()
    result = cli("pull", "--report", SMALL_ALL, "--report", SMALL_UNSHIPPED)
    assert f"warning: skipped {newer}: incident folder" in result.stderr
    assert (newer / "incident.db").read_bytes() == before  # the pull went into ours
    assert cli.json("status")["id"] == ours and cli.json("orders")
    listed = cli("list")
    assert ours in listed.stdout and "intruder" not in listed.stdout and str(newer) in listed.stderr
    one_line_error(cli.runner.invoke(cli_app(), ["status", "--incident", newer.name]))


@pytest.mark.parametrize("given", ["../outside/ID", "/abs/path", "..", "a/b", ".hidden"])
def test_incident_takes_an_id_never_a_path(cli, home, tmp_path, given):
    outside = tmp_path / "outside"
    cli("open", "--sku", "SKU-A", *WINDOW)
    shutil.copytree(next(home.iterdir()), outside / "ID")
    given = given.replace("/abs/path", str(outside / "ID"))
    message = one_line_error(cli.runner.invoke(cli_app(), ["status", "--incident", given]), code=2)
    assert "is not an incident id" in message and "not a path" in message


# -- links: never followed, never deleted through ---------------------------------------------------


def _folder(home: Path) -> Path:
    return next(p for p in home.iterdir() if not p.name.startswith("."))


def test_an_exports_folder_replaced_by_a_link_is_not_written_through(small_incident, home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exports = _folder(home) / "exports"
    shutil.rmtree(exports, ignore_errors=True)
    exports.symlink_to(elsewhere)
    message = one_line_error(small_incident.runner.invoke(cli_app(), ["cancel", "export"]))
    assert "symbolic link" in message and f"rm {exports}" in message
    assert list(elsewhere.iterdir()) == [] and small_incident.json("status")["exports"] == []


def test_an_outbox_replaced_by_a_link_is_refused_before_any_notice(small_incident, home, tmp_path):
    small_incident("cancel", "export")
    small_incident("notify", "render")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (_folder(home) / "outbox").symlink_to(elsewhere)
    before = small_incident.json("notify", "list")
    one_line_error(small_incident.runner.invoke(cli_app(), ["notify", "send", "--via", "outbox"]))
    assert list(elsewhere.iterdir()) == [] and small_incident.json("notify", "list") == before


def test_purge_deletes_only_the_files_the_incident_recorded_writing(small_incident, home, tmp_path):
    small_incident("cancel", "export")
    small_incident("notify", "render")
    small_incident("notify", "send", "--via", "outbox")
    outbox = _folder(home) / "outbox"
    ours = sorted(p.name for p in outbox.iterdir())
    assert "outbox.csv" in ours and any(name.endswith(".eml") for name in ours)
    (outbox / "notes.txt").write_text("mine")
    (outbox / "999-9999999-9999999.eml").write_text("not written by the incident")
    small_incident("purge", "--yes", "--force")
    assert sorted(p.name for p in outbox.iterdir()) == ["999-9999999-9999999.eml", "notes.txt"]


def test_purge_never_deletes_through_a_link(small_incident, home, tmp_path):
    small_incident("cancel", "export")
    small_incident("notify", "render")
    small_incident("notify", "send", "--via", "outbox")
    outbox = _folder(home) / "outbox"
    elsewhere = tmp_path / "elsewhere"
    shutil.move(outbox, elsewhere)
    outbox.symlink_to(elsewhere)
    before = sorted(p.name for p in elsewhere.iterdir())
    log = small_incident.json("log")
    one_line_error(small_incident.runner.invoke(cli_app(), ["purge", "--yes", "--force"]))
    assert sorted(p.name for p in elsewhere.iterdir()) == before and small_incident.json("log") == log


def test_write_private_replaces_a_link_at_the_name_and_never_follows_it(tmp_path):
    from incident.workspace.files import write_private

    target = tmp_path / "target.txt"
    target.write_text("someone else's")
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "report.txt").symlink_to(target)
    write_private(folder / "report.txt", b"ours")
    assert target.read_text() == "someone else's"
    assert (folder / "report.txt").read_bytes() == b"ours" and not (folder / "report.txt").is_symlink()


# -- created whole; damaged folders named ---------------------------------------------------------


def test_list_and_status_name_a_damaged_folder_and_go_on(cli, home):
    ours = cli("open", "--sku", "SKU-A", *WINDOW).stdout.strip()
    for name, content in [("29990101-000000-empty-db", b""), ("29990102-000000-not-a-db", b"garbage" * 100)]:
        (home / name).mkdir(mode=0o700)
        (home / name / "incident.db").write_bytes(content)
    (home / "29990103-000000-no-db").mkdir(mode=0o700)
    listed = cli("list")
    assert ours in listed.stdout
    for name in ("empty-db", "not-a-db", "no-db"):
        assert name in listed.stderr and "damaged" in listed.stderr
    status = cli("status")
    assert ours in status.stdout and "warning: skipped" in status.stderr
    assert (home / "29990101-000000-empty-db" / "incident.db").read_bytes() == b""  # looked at, not "repaired"


def test_a_failed_open_leaves_nothing_behind(cli, home):
    """The database cannot grow past 20 kB (a file-size limit, as a full disk would stop it):
    the open fails in one line, and no half-made incident is left for `list` and `status`."""
    import resource
    import signal

    ours = cli("open", "--sku", "SKU-A", *WINDOW).stdout.strip()

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    done = subprocess.run([BIN / "incident", "open", "--sku", "SKU-B", *WINDOW], env=dict(os.environ),
                          preexec_fn=small_files, capture_output=True, text=True, timeout=120)
    assert done.returncode == 7 and done.stderr.count("\n") == 1 and "nothing was changed" in done.stderr, done.stderr
    assert [p.name for p in home.iterdir()] == [ours]
    assert [i["id"] for i in cli.json("list")] == [ours] and cli.json("status")["id"] == ours


# -- §1: exports never overwrite each other ----------------------------------------------------------


def test_two_exports_in_the_same_second_keep_two_files_each_matching_its_record(small_incident, monkeypatch):
    from incident import cancellation

    moment = datetime(2026, 11, 20, 22, 40, 0, tzinfo=UTC)
    monkeypatch.setattr(cancellation, "now_utc", lambda: moment)
    small_incident("cancel", "export", "--format", "both")
    small_incident("cancel", "export", "--format", "both")
    small_incident("cancel", "export")
    exports = small_incident.json("status")["exports"]
    assert len(exports) == 5 and len({e["path"] for e in exports}) == 5
    for export in exports:
        assert hashlib.sha256(Path(export["path"]).read_bytes()).hexdigest() == export["sha256"]
    names = sorted(Path(e["path"]).name for e in exports)
    assert names[0].endswith("-20261120-224000-2.txt") and names[-1].endswith("-20261120-224000.xlsx")


# -- §5: the machine fails; one line, the incident as it was ---------------------------------------


# Inside the namespace, each `incident` step is a run of tests/processes.py: its own process on the
# small disk, forked from a server that has imported incident (an interpreter start cost 0.3-0.6 s).
SMALL_DISK_STEPS = """
import json, os, subprocess
from processes import Run
results = []
for step in json.loads(os.environ["STEPS"]):
    if step[0] == "sh":
        done = subprocess.run(["sh", "-c", step[1]], capture_output=True, text=True)
        results.append([done.returncode, done.stdout, done.stderr])
    else:
        results.append(Run(*step).communicate(120))
print(json.dumps(results))
"""


def in_small_disk(tmp_path: Path, *steps, size: str = "600k") -> list[tuple[int, str, str]]:
    """The steps in a user namespace with a tmpfs of `size` mounted at $DISK, INCIDENT_HOME inside:
    a list is `incident` with those arguments, ("sh", text) a shell command. (exit, out, err) each."""
    disk = tmp_path / "disk"
    disk.mkdir()
    env = {**os.environ, "DISK": str(disk), "INCIDENT_HOME": str(disk / "incidents"),
           "STEPS": json.dumps([list(map(str, step)) for step in steps]),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))}
    script = f'mount -t tmpfs -o size={size},mode=0700 tmpfs "$DISK" || exit 99\nexec "{sys.executable}" -c "$0"'
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, SMALL_DISK_STEPS],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return [tuple(result) for result in json.loads(done.stdout)]


FILL = ("sh", 'dd if=/dev/zero of="$DISK/.fill" bs=4k 2>/dev/null')
OPEN = ["open", "--sku", "SKU-A", *WINDOW]
OPEN_B = ["open", "--sku", "SKU-B", "--start", "2026-11-20T14:00Z", "--end", "2026-11-20T15:00Z"]
EVENTS = ["log", "--json"]
FULL = "the disk is full; nothing was changed"


@pytest.mark.long
@needs_userns
def test_a_full_disk_is_one_line_and_the_incident_is_unchanged(tmp_path):
    results = in_small_disk(tmp_path, OPEN, ["pull", "--report", SMALL_ALL], EVENTS, FILL,
                            ["pull", "--report", SMALL_UNSHIPPED], ["step", "done", "stop-bleeding"], EVENTS,
                            OPEN_B, ("sh", 'ls "$INCIDENT_HOME"'), ["status"])
    opened, pulled, before, _, pull, step, after, open_b, listed, status = results
    assert opened[0] == pulled[0] == 0, results
    assert [pull[0], step[0], open_b[0], status[0]] == [7, 7, 7, 0], results
    for failed in (pull, step, open_b):
        assert failed[1] == "" and failed[2].count("\n") == 1 and FULL in failed[2], failed
    assert not any(result[2] for result in (before, after, status)), results
    assert len(json.loads(before[1])) == len(json.loads(after[1])) == 2  # the log as it was
    assert len(listed[1].split()) == 1  # no half-made incident


@pytest.mark.long
@needs_userns
def test_a_read_only_disk_is_one_line(tmp_path):
    results = in_small_disk(tmp_path, OPEN, ("sh", 'mount -o remount,ro "$DISK"'), ["pull", "--report", SMALL_ALL],
                            OPEN_B, ["status"])
    opened, remounted, pull, open_b, status = results
    assert opened[0] == remounted[0] == 0, results
    assert [pull[0], open_b[0], status[0]] == [7, 7, 0], results
    assert "cannot be written" in pull[2] and "Traceback" not in status[2]
    for failed in (pull, open_b):
        assert failed[1] == "" and failed[2].count("\n") == 1 and "read-only" in failed[2], failed


def test_an_unwritable_home_is_one_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    command = [str(BIN / "incident"), "open", "--sku", "A", *WINDOW]
    env = {**os.environ, "INCIDENT_HOME": str(home)}
    if ROOT:  # root writes anywhere: be an ordinary user whose home is read-only to them
        if not shutil.which("setpriv"):
            pytest.skip("needs setpriv to drop root")
        os.chown(tmp_path, OTHER_UID, OTHER_UID)
        os.chown(home, OTHER_UID, OTHER_UID)
        command = ["setpriv", f"--reuid={OTHER_UID}", f"--regid={OTHER_UID}", "--clear-groups", *command]
        probe = subprocess.run([*command[:4], str(BIN / "python"), "-c", "import incident"], capture_output=True)
        if probe.returncode != 0:  # a clone inside a folder only its owner may enter (mktemp -d, a 0700 home)
            pytest.skip(f"another user cannot run this clone's interpreter ({BIN}), so cannot be the ordinary user")
    home.chmod(0o500)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 7, done.stderr
    assert done.stderr.startswith(f"error: {home}") and "permission denied; nothing was changed" in done.stderr
    assert done.stderr.count("\n") == 1 and list(home.iterdir()) == []


def test_a_symlink_loop_is_one_line(cli, tmp_path, monkeypatch):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    monkeypatch.setenv("INCIDENT_HOME", str(loop))
    for args in (["status"], ["open", "--sku", "A", *WINDOW], ["list"]):
        message = one_line_error(cli.runner.invoke(cli_app(), args))
        assert "too many levels of symbolic links" in message


def cli_app():
    from incident.cli import app

    return app


def test_a_downloads_folder_replaced_by_a_link_is_refused(tmp_path):
    from incident.errors import WorkspaceError
    from incident.workspace.files import write_private

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "downloads").symlink_to(elsewhere)
    with pytest.raises(WorkspaceError, match="symbolic link"):
        write_private(tmp_path / "downloads" / "all-orders-1.txt", b"buyer data")
    assert list(elsewhere.iterdir()) == []
