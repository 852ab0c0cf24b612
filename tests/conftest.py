from __future__ import annotations

import functools
import gc
import json
from pathlib import Path

import pytest
import typer.testing
from typer.testing import CliRunner

from incident.cli import app
from later import travel

travel()

# Typer builds the click command anew on every CliRunner.invoke (tens of milliseconds for this
# app, thousands of times a run); the command is the same each time, so build it once.
typer.testing._get_command = functools.cache(typer.testing._get_command)


def pytest_configure(config):
    """With workers (-n), each keeps two tests queued and takes the next one, in collection
    order, as one finishes. xdist's default first hands each worker a block of a quarter of its
    share (58 tests with three workers): the first block would hold every long test, and its
    worker would run them all."""
    if getattr(config.option, "maxschedchunk", 1) is None:
        config.option.maxschedchunk = 1


def pytest_collection_finish(session):
    """The garbage collector took 2-2.5 s of each worker's run (some 2,000 collections, each full
    one walking everything loaded). What collection loaded (incident, its libraries, Amazon's
    models) stays for the whole run: frozen, it is never walked again; and a worker collects after
    20,000 new objects rather than 700: about 220 collections, 0.65 s. Only the test workers: the
    runs of `incident` that tests start keep Python's defaults."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def pytest_collection_modifyitems(items):
    """Tests marked `long` (a second or more) start first, so that the workers finish together
    instead of one running a long test alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


ASSETS = Path(__file__).parent / "assets"
SAMPLES = Path(__file__).parent.parent / "samples"
# Real report files from public repositories, beside the clone as CI lays it out; a user's clone
# has none, and the tests that read them skip with this one reason.
REAL_REPORTS = Path(__file__).resolve().parents[1].parent / "shared" / "real-reports"
needs_real_reports = pytest.mark.skipif(not REAL_REPORTS.is_dir(),
                                        reason="../shared/real-reports is not beside the repository")
WINDOW = ["--start", "2026-11-20T14:00:00-08:00", "--end", "2026-11-20T14:30:00-08:00"]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Every test gets its own INCIDENT_HOME and a fixed login name."""
    target = tmp_path / "incidents"
    monkeypatch.setenv("INCIDENT_HOME", str(target))
    monkeypatch.delenv("INCIDENT_ID", raising=False)
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("LOGNAME", "tester")
    monkeypatch.setenv("INCIDENT_SELLER_NAME", "Sam Tester")
    monkeypatch.setenv("INCIDENT_SELLER_COMPANY", "Sonic Audio LLC")
    monkeypatch.setenv("INCIDENT_CONFIG", str(tmp_path / "no-incident.toml"))  # never the developer's own
    return target


class Cli:
    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, input: str | None = None):
        result = self.runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}"
        return result

    def json(self, *args: str):
        return json.loads(self(*args, "--json").stdout)


def use_simulator(monkeypatch, simulator, **overrides: str) -> None:
    """Point incident at a running simulator for this test (stand-in credentials unless given).
    A simulator on simulated time lends it to the commands run in this process too: their waits
    (pacing, back-off, re-checks) pass at once, and the simulator's token buckets refill in step
    with what the client waited. A command run as a separate process needs a simulator on real time."""
    from incident.amazon.ratelimits import RealClock, VirtualClock

    for name, value in {**simulator.environment("x"), **overrides}.items():
        monkeypatch.setenv(name, value)
    if isinstance(simulator.clock, VirtualClock):
        monkeypatch.setattr(RealClock, "now", lambda self: simulator.clock.now())
        monkeypatch.setattr(RealClock, "sleep", lambda self, seconds: simulator.clock.sleep(seconds))


def free_port() -> int:
    """A port free on 127.0.0.1 now (for servers that cannot be given port 0)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def answers_match_amazons_models():
    """Every answer any simulator gives during a test is checked against Amazon's published model
    for its operation (tests/spapi_models.py): an answer Amazon never sends would hide a client bug."""
    from spapi_models import problems

    from incident.sandbox.server import Simulator

    found: list[str] = []

    def check(method, path, status, body, content_type):
        found.extend(problems(method, path, status, body, content_type))

    Simulator.answer_hooks.append(check)
    yield found
    Simulator.answer_hooks.remove(check)
    assert not found, "the simulator answered unlike Amazon's model:\n" + "\n".join(sorted(set(found))[:40])


@pytest.fixture
def cli():
    return Cli()


@pytest.fixture
def small_incident(cli):
    """An incident over the small fixture reports, pulled."""
    cli("open", "--sku", "SKU-A", *WINDOW, "--floor", "50")
    cli("pull", "--report", ASSETS / "all-orders-small.txt", "--report", ASSETS / "unshipped-small.txt")
    return cli


def with_already_cancelled(counts: dict) -> dict:
    """Counts as shared/real-reports' expected.json states them: one `already_cancelled` for the
    two cancelled buckets (cancelled by the seller, cancelled before)."""
    folded = {k: v for k, v in counts.items() if k not in ("cancelled_by_seller", "cancelled_before")}
    folded["already_cancelled"] = counts.get("cancelled_by_seller", 0) + counts.get("cancelled_before", 0)
    return folded


def serve_smtp(monkeypatch, handler, sender: str):
    """A real mail server (aiosmtpd) on 127.0.0.1 handing each message to `handler`, with incident
    pointed at it through INCIDENT_SMTP_*; stop the returned controller when done."""
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    for key, value in {"HOST": "127.0.0.1", "PORT": str(controller.port), "FROM": sender, "TLS": "none"}.items():
        monkeypatch.setenv(f"INCIDENT_SMTP_{key}", value)
    return controller
