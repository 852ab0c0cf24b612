"""`cancel submit` against a simulator that answers as Amazon's Feeds model says: exactly one
feed whatever happens (a crash, a slow createFeed, a kill, two or four people at once), and each
item recorded as Amazon really decided, whatever the language of the processing report."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta

import pytest
from conftest import use_simulator
from processes import Run

from incident import scope
from incident.amazon import feeds, live, processing, spapi
from incident.amazon.ratelimits import RealClock, VirtualClock
from incident.errors import StateError
from incident.sandbox import seeded
from incident.sandbox.scenario import Scenario
from incident.sandbox.server import Simulator
from incident.workspace import store


def _open(cli, home, simulator: Simulator, marketplace: str):
    scenario = simulator.scenario
    cli("open", "--sku", scenario.incident_product.sku, "--start", scenario.window_start.isoformat(),
        "--end", scenario.window_end.isoformat(), "--marketplace", marketplace,
        "--floor", "10000" if marketplace == "JP" else "100")
    return store.open_store(home)


def _pulled(cli, home, monkeypatch, simulator: Simulator, marketplace: str = "US"):
    simulator.start()
    use_simulator(monkeypatch, simulator)
    opened = _open(cli, home, simulator, marketplace)
    connection = spapi.Connection(spapi.load_settings(marketplace), clock=simulator.clock)
    live.LivePull(opened, connection, "t").run(force="search")
    return opened, connection


@pytest.fixture
def us(cli, home, monkeypatch):
    simulator = seeded("us", clock=VirtualClock(), processing_seconds=0)
    opened, connection = _pulled(cli, home, monkeypatch, simulator)
    yield simulator, opened, connection
    opened.close()
    simulator.stop()


def _cancellable(opened) -> list[str]:
    return [d.line.order_id for d in scope.sort_store(opened) if d.bucket == "cancellable_mfn"]


def _states(opened) -> dict[str, int]:
    rows = opened.conn.execute("SELECT state, count(*) FROM cancel_requests GROUP BY state").fetchall()
    return {r[0]: r[1] for r in rows}


# -- a feed is never sent twice ------------------------------------------------------------------

@pytest.mark.long
def test_a_create_feed_slower_than_the_timeout_is_not_sent_again(cli, home, monkeypatch):
    simulator = seeded("us", clock=RealClock(), processing_seconds=0.2)
    opened, connection = _pulled(cli, home, monkeypatch, simulator)
    monkeypatch.setattr(feeds, "RECHECK_SECONDS", 0.2)
    connection.settings.timeout = 0.5
    simulator.inject("createFeed", "slow", seconds=1.2)  # Amazon takes the feed, answers too late
    result = feeds.submit(opened, connection, "t", poll_seconds=0.2)
    simulator.stop()
    assert len(simulator.feeds) == 1 and result.accepted == 107 and not result.rejected
    assert any("found the feed it created" in note for note in result.notes)


def test_a_crash_before_the_answer_finds_our_feed_on_a_later_page(us, monkeypatch):
    simulator, opened, connection = us
    # 130 earlier feeds of ours, listed before it: the feed is on the second page of getFeeds
    with opened.change("t", "test_setup", {}) as conn:
        for n in range(130):
            conn.execute("INSERT INTO submissions (at, state, body, sha256, reason, rows, feed_id) "
                         "VALUES ('2026-11-20T22:00:00Z', 'done', x'', '', 'PricingError', 0, ?)", (f"9{n:04d}",))
    for n in range(130):
        simulator.feeds[f"9{n:04d}"] = {"feedId": f"9{n:04d}", "feedType": feeds.FEED_TYPE, "input": "",
                                        "created": simulator.clock.now() + 10**6, "mode": None,
                                        "createdTime": simulator.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                                        "marketplaceIds": ["ATVPDKIKX0DER"], "processingStatus": "DONE"}
    real = feeds._record

    def crash(store_, who, submission_id, state, **values):
        if state == "feed_created":
            raise KeyboardInterrupt  # killed between Amazon's answer and our record of it
        real(store_, who, submission_id, state, **values)

    monkeypatch.setattr(feeds, "_record", crash)
    with pytest.raises(KeyboardInterrupt):
        feeds.submit(opened, connection, "t")
    monkeypatch.setattr(feeds, "_record", real)
    before = len(simulator.feeds)
    result = feeds.submit(opened, connection, "t")
    assert len(simulator.feeds) == before == 131 and result.accepted == 107
    listings = [q for op, q in simulator.calls if op == "getFeeds"]
    assert any("nextToken" in q for q in listings)
    first = next(q for q in listings if "feedTypes" in q)
    assert first["marketplaceIds"] == "ATVPDKIKX0DER" and "createdSince" in first


def test_two_new_feeds_stop_the_run_and_the_manager_names_ours(us, cli, monkeypatch):
    simulator, opened, connection = us
    real = feeds._record
    monkeypatch.setattr(feeds, "_record", lambda s, w, i, state, **v: (_ for _ in ()).throw(KeyboardInterrupt)
                        if state == "feed_created" else real(s, w, i, state, **v))
    with pytest.raises(KeyboardInterrupt):
        feeds.submit(opened, connection, "t")
    monkeypatch.setattr(feeds, "_record", real)
    ours = next(iter(simulator.feeds))
    simulator.feeds["80001"] = {**simulator.feeds[ours], "feedId": "80001"}  # someone else's upload
    with pytest.raises(StateError, match="2 cancellation feeds") as refused:
        feeds.submit(opened, connection, "t")
    assert ours in str(refused.value) and "--feed" in str(refused.value)
    assert len(simulator.feeds) == 2
    out = cli("cancel", "submit", "--yes", "--feed", ours).stdout
    assert "107 of 107 items cancelled" in out and len(simulator.feeds) == 2


def _submit_process(env, code: str | None = None) -> Run:
    return Run("cancel", "submit", "--yes", env=env, code=code)


@pytest.mark.parametrize("runs", [2, 4])
def test_people_submitting_at_once_send_one_feed(cli, home, monkeypatch, runs):
    simulator = seeded("us", clock=RealClock(), processing_seconds=0)
    opened, _ = _pulled(cli, home, monkeypatch, simulator)
    opened.close()
    simulator.inject("createFeed", "slow", seconds=0.5, times=runs)
    env = {**os.environ, **simulator.environment("x")}
    processes = [_submit_process(env) for _ in range(runs)]
    outputs = [p.communicate(120) for p in processes]
    simulator.stop()
    assert len(simulator.feeds) == 1, outputs
    assert sorted(code for code, _, _ in outputs) == [0] + [5] * (runs - 1), outputs
    assert all("another `incident cancel submit` is running" in err or "nothing to submit" in err
               for code, _, err in outputs if code == 5)
    with store.open_store(home) as reopened:
        assert _states(reopened) == {"accepted": 107}


# A real `incident cancel submit` process that SIGKILLs itself the moment it has recorded STAGE:
# the kill lands exactly at the step, not wherever a watcher's poll happens to catch it.
KILLED_AFTER = """
import os, signal
from incident.amazon import feeds
from incident.cli import main
stage, prepare, record = STAGE, feeds._prepare, feeds._record
def killed(recorded):
    if recorded == stage:
        os.kill(os.getpid(), signal.SIGKILL)
def prepared(*args):
    pending = prepare(*args)
    killed("prepared")
    return pending
def recorded(store, who, submission_id, state, **values):
    record(store, who, submission_id, state, **values)
    killed(state)
feeds._prepare, feeds._record = prepared, recorded
main()
"""


@pytest.mark.long
@pytest.mark.parametrize("stage", ["prepared", "uploaded", "feed_requested", "feed_created"])
def test_submit_killed_at_any_step_and_run_again_sends_one_feed(cli, home, monkeypatch, stage):
    simulator = seeded("us", clock=RealClock(), processing_seconds=0)
    opened, _ = _pulled(cli, home, monkeypatch, simulator)
    opened.close()
    env = {**os.environ, **simulator.environment("x")}
    if stage == "feed_requested":  # killed while Amazon is taking the feed, before its answer
        simulator.inject("createFeed", "slow", seconds=1.0)
        process = _submit_process(env)
        deadline = time.time() + 60
        while time.time() < deadline and process.poll() is None and \
                not any(op == "createFeed" for op, _ in simulator.calls):
            time.sleep(0.005)
        process.kill()
        while not simulator.feeds and time.time() < deadline:  # Amazon finishes it all the same
            time.sleep(0.01)
    else:
        process = _submit_process(env, code=KILLED_AFTER.replace("STAGE", repr(stage)))
    assert process.wait(60) == -signal.SIGKILL
    code, out, err = _submit_process(env).communicate(180)
    simulator.stop()
    assert len(simulator.feeds) <= 1 and code == 0, (out, err)
    assert "107 of 107 items cancelled" in out
    assert len(simulator.feeds) == 1


def test_a_create_feed_asked_that_never_reached_amazon_is_sent_after_the_grace_period(us, monkeypatch):
    """Killed after recording that it asks, before the request left: nothing to find, so the rerun
    looks again until the grace period is over (in simulated time here), then sends the feed once."""
    simulator, opened, connection = us
    real = feeds._record

    def killed(store_, who, submission_id, state, **values):
        real(store_, who, submission_id, state, **values)
        if state == "feed_requested":
            raise KeyboardInterrupt

    monkeypatch.setattr(feeds, "_record", killed)
    with pytest.raises(KeyboardInterrupt):
        feeds.submit(opened, connection, "t")
    monkeypatch.setattr(feeds, "_record", real)
    started = simulator.clock.now()
    result = feeds.submit(opened, connection, "t")
    assert len(simulator.feeds) == 1 and result.accepted == 107
    assert "Amazon lists none: sending it now" in " ".join(result.notes)
    assert len([op for op, _ in simulator.calls if op == "getFeeds"]) >= 2  # looked again, not once
    assert simulator.clock.now() - started >= feeds.GRACE.total_seconds()  # and waited out the grace


# -- what Amazon decided, in any language ---------------------------------------------------------

@pytest.mark.parametrize("marketplace", ["DE", "FR", "IT", "JP"])
def test_a_localised_refusal_is_a_refusal(cli, home, monkeypatch, marketplace):
    start = datetime.fromisoformat("2026-11-20T14:00:00+00:00")
    scenario = Scenario(marketplace, 3, begin=start - timedelta(hours=2), finish=start + timedelta(hours=2),
                        window_start=start, window_end=start + timedelta(minutes=30), burst_orders=40,
                        background_orders=10)
    simulator = Simulator(scenario, clock=VirtualClock(), processing_seconds=0)
    opened, connection = _pulled(cli, home, monkeypatch, simulator, marketplace)
    shipped = _cancellable(opened)[:2]
    for order_id in shipped:
        simulator.orders[order_id].status = "Shipped"
    result = feeds.submit(opened, connection, "t")
    simulator.stop()
    assert sorted(r["order_id"] for r in result.rejected) == sorted(shipped)
    assert _states(opened)["rejected"] == 2 and not any("checked" in n for n in result.notes)


def test_a_warning_is_not_a_refusal(us):
    simulator, opened, connection = us
    simulator.inject("createFeed", "feed_warnings")
    result = feeds.submit(opened, connection, "t")
    assert result.accepted == 107 and not result.rejected and not result.notes


def test_a_warning_word_we_do_not_know_is_caught_by_the_counts(us, monkeypatch):
    simulator, opened, connection = us
    monkeypatch.setattr(processing, "WARNING_WORDS", set())
    simulator.inject("createFeed", "feed_warnings")
    shipped = _cancellable(opened)[0]
    simulator.orders[shipped].status = "Shipped"
    result = feeds.submit(opened, connection, "t")
    assert [r["order_id"] for r in result.rejected] == [shipped]  # checked order by order
    assert result.accepted == 106 and "the summary counts" in result.notes[0]


def test_a_file_level_error_cancels_nothing_and_says_so(us):
    simulator, opened, connection = us
    simulator.inject("createFeed", "feed_file_error")
    result = feeds.submit(opened, connection, "t")
    assert result.accepted == 0 and len(result.rejected) == 107
    assert "not cancelled on Amazon" in result.rejected[0]["error_message"]


def test_a_fatal_feed_is_checked_order_by_order(us):
    simulator, opened, connection = us
    simulator.inject("createFeed", "fatal_feed")  # aborted after applying its rows
    result = feeds.submit(opened, connection, "t")
    assert result.accepted == 107 and "ended FATAL" in result.notes[0]
    assert any(op == "getOrder" for op, _ in simulator.calls)


def test_a_refused_reason_code_is_seen_in_any_language(cli, home, monkeypatch):
    start = datetime.fromisoformat("2026-11-20T14:00:00+00:00")
    scenario = Scenario("DE", 4, begin=start - timedelta(hours=1), finish=start + timedelta(hours=1),
                        window_start=start, window_end=start + timedelta(minutes=30), burst_orders=20,
                        background_orders=0)
    simulator = Simulator(scenario, clock=VirtualClock(), processing_seconds=0)
    simulator.reasons.discard("PricingError")
    opened, connection = _pulled(cli, home, monkeypatch, simulator, "DE")
    result = feeds.submit(opened, connection, "t")
    simulator.stop()
    assert result.reason_rejected and not result.accepted
