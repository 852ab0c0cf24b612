"""The live path, through the real python-amazon-sp-api client against the project's SP-API
simulator on 127.0.0.1: all three pull strategies, throttling, faults, resume after a kill,
exactly-once cancellation feeds, stop-sales."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sp_api.api import Orders
from conftest import SAMPLES, free_port, use_simulator
from processes import Run

from incident import scope
from incident.amazon import feeds, live, spapi
from incident.amazon.ratelimits import TokenBucket, VirtualClock
from incident.sandbox import seeded
from incident.sandbox.scenario import from_spec
from incident.sandbox.server import Simulator
from incident.workspace import store

SPEC = json.loads((SAMPLES / "us" / "scope.json").read_text())
EXPECTED = {"affected_orders": 260, "affected_units": 309, "cancellable_mfn": 107, "fba_support": 80,
            "shipped_unrecoverable": 45, "cancelled_by_seller": 0, "cancelled_before": 15,
            "needs_attention": 13}


@pytest.fixture
def sim(monkeypatch):
    clock = VirtualClock()
    simulator = seeded("us", clock=clock, processing_seconds=0)
    simulator.start()
    use_simulator(monkeypatch, simulator, SP_API_REFRESH_TOKEN="Atzr|test",
                  LWA_APP_ID="amzn1.application-oa2-client.test", LWA_CLIENT_SECRET="s3cret-value",
                  SP_API_DEFAULT_MARKETPLACE="DE")
    yield simulator
    simulator.stop()


@pytest.fixture
def incident_store(cli, home):
    cli("open", "--sku", SPEC["skus"][0], "--start", SPEC["start"], "--end", SPEC["end"],
        "--floor", SPEC["floor"], "--marketplace", "US")
    with store.open_store(home) as opened:
        yield opened


def connect(sim: Simulator, **settings) -> spapi.Connection:
    loaded = spapi.load_settings("US")
    for key, value in settings.items():
        setattr(loaded, key, value)
    return spapi.Connection(loaded, clock=sim.clock)


def counts(s):
    return scope.counts(scope.sort_store(s))


@pytest.mark.parametrize("strategy", ["search", "v0", "report"])
def test_every_strategy_gives_the_same_picture_as_the_report_files(sim, incident_store, strategy):
    result = live.LivePull(incident_store, connect(sim), "t").run(force=strategy)
    assert result.plan.strategy == strategy
    assert counts(incident_store) == EXPECTED
    lines = {l.key: l for l in incident_store.lines()}
    cancellable = [d for d in scope.sort_store(incident_store) if d.bucket == "cancellable_mfn"]
    assert all(d.line.order_item_id and len(d.line.order_item_id) == 14 for d in cancellable)
    if strategy != "v0":  # buyer contact needs the restricted getOrderBuyerInfo on v0
        assert all(d.line.buyer_email.endswith("@marketplace.amazon.com") for d in cancellable)
    assert len(lines) == 260


def test_the_plan_prefers_search_and_uses_the_probe_page(sim, incident_store):
    result = live.LivePull(incident_store, connect(sim), "t").run()
    assert result.plan.strategy == "search"
    assert result.plan.seconds["v0"] > 600  # 400 orders one getOrderItems each: minutes
    first_pages = [q for op, q in sim.calls if op == "searchOrders" and "paginationToken" not in q]
    assert len(first_pages) == 1 and result.api_calls == 3


def test_v0_fallback_when_2026_is_not_open_to_the_app(sim, incident_store):
    sim.orders_2026 = False
    result = live.LivePull(incident_store, connect(sim), "t").run()
    assert result.plan.strategy == "v0"
    assert counts(incident_store) == EXPECTED


@pytest.mark.long
def test_busy_window_is_paced_within_the_token_bucket_without_a_429(monkeypatch, cli, home):
    clock = VirtualClock()
    spec = dict(SPEC, burst_orders=2500, background_orders=0)
    simulator = Simulator(from_spec(spec), clock=clock)
    simulator.start()
    use_simulator(monkeypatch, simulator)
    cli("open", "--sku", SPEC["skus"][0], "--start", SPEC["start"], "--end", SPEC["end"], "--marketplace", "US")
    with store.open_store(home) as s:
        start = clock.now()
        result = live.LivePull(s, connect(simulator), "t").run(force="search")
        elapsed = clock.now() - start
    simulator.stop()
    assert result.pages == 25 and result.orders_seen == 2500
    assert result.api_calls == 25  # not one call was refused
    lower_bound = (25 - 20) / 0.0056
    assert lower_bound <= elapsed <= lower_bound * 1.2


@pytest.mark.parametrize("kind, options", [
    ("500", {"times": 3}), ("503", {"times": 2}), ("throttle", {"times": 4, "retry_after": 2}),
    ("throttle", {"times": 2}), ("expired_token", {}), ("bad_pagination", {"after": 1}),
])
def test_faults_are_retried_and_nothing_is_lost_or_doubled(sim, incident_store, kind, options):
    sim.inject("searchOrders", kind, **options)
    live.LivePull(incident_store, connect(sim), "t").run(force="search")
    assert counts(incident_store) == EXPECTED


def test_retry_after_is_honoured(sim, incident_store):
    sim.inject("searchOrders", "throttle", times=1, after=1, retry_after=42)
    start = sim.clock.now()
    live.LivePull(incident_store, connect(sim), "t").run(force="search")
    assert sim.clock.now() - start >= 42


def test_a_refusal_for_want_of_a_token_costs_a_token_interval_not_a_back_off(sim):
    """A client paced at a busy seller's granted rate is refused now and then (the server counts
    tokens from when each request arrives): with the rate known, the next token is 1/rate away."""
    sim.plans["getOrder"] = (40.0, 5)
    sim.buckets["getOrder"] = TokenBucket(40.0, 5)
    connection = connect(sim)
    orders = connection.client(Orders, version="2026-01-01")
    some = sorted(sim.orders)[:8]
    for order_id in some[:2]:  # the rate is learned from Amazon's answer
        connection.call("getOrder", orders.get_order, order_id)
    sim.inject("getOrder", "throttle", times=2)
    start = sim.clock.now()
    for order_id in some[2:]:
        connection.call("getOrder", orders.get_order, order_id)
    assert sim.clock.now() - start < 0.5  # six calls at 40 a second and two refusals: a back-off took 0.5-4.5 s


def test_slow_answers_and_timeouts(sim, incident_store):
    sim.inject("searchOrders", "slow", seconds=0.15)
    sim.inject("searchOrders", "timeout", seconds=0.8, after=1)
    live.LivePull(incident_store, connect(sim, timeout=0.5), "t").run(force="search")
    assert counts(incident_store) == EXPECTED


def test_fault_that_never_ends_gives_one_clear_error(sim, incident_store, cli, tmp_path, monkeypatch):
    (tmp_path / "incident.toml").write_text("[spapi]\nmax_retries = 2\n")
    monkeypatch.setenv("INCIDENT_CONFIG", str(tmp_path / "incident.toml"))
    sim.inject("searchOrders", "503", times=100)
    result = cli("pull", "--live", code=1)
    assert result.stderr.startswith("error: searchOrders:") and "Traceback" not in result.output


def test_fatal_report_says_what_to_do(sim, incident_store):
    sim.inject("createReport", "fatal_report")
    with pytest.raises(spapi.ApiError, match="ended FATAL"):
        live.LivePull(incident_store, connect(sim), "t").run(force="report")


def test_a_fatal_report_shows_amazons_reason_from_its_document(sim, incident_store, cli):
    sim.fatal_reason = "The report could not be generated: the requested date range is too large."
    sim.inject("createReport", "fatal_report")
    result = cli("pull", "--live", "--strategy", "report", code=1)
    assert "Amazon says: The report could not be generated: the requested date range is too large." in result.stderr
    assert "no answer" not in result.stderr and "Traceback" not in result.output


def test_a_report_cancelled_in_the_first_half_hour_is_not_no_orders(monkeypatch, cli, home):
    """Orders enter the order reports about 30 minutes after purchase: 28 minutes into the
    incident Amazon cancels the All Orders report, and searchOrders (which has them) is asked."""
    from incident.timeutil import parse_iso

    start = parse_iso(SPEC["start"])
    simulator = seeded("us", clock=VirtualClock(start=start.timestamp() + 28 * 60), processing_seconds=0)
    simulator.report_delay_minutes = 30
    simulator.start()
    use_simulator(monkeypatch, simulator)
    cli("open", "--sku", SPEC["skus"][0], "--start", SPEC["start"], "--end", SPEC["end"], "--marketplace", "US")
    out = cli("pull", "--live", "--strategy", "report").stdout
    simulator.stop()
    assert "report was cancelled" in out and "first half hour" in out and "searchOrders instead" in out
    assert any(op == "getReport" for op, _ in simulator.calls)
    with store.open_store(home) as opened:
        pulled = {l.order_id for l in opened.lines()}
    searchable = simulator.now() - timedelta(minutes=2, seconds=5)
    wanted = {o.order_id for o in simulator.orders.values() if start <= o.purchase_date <= searchable
              and any(i.product.sku == SPEC["skus"][0] for i in o.items)}
    assert pulled == wanted and len(wanted) > 100


def test_a_cancelled_report_without_searchorders_fails_saying_why(sim, incident_store, cli):
    sim.orders_2026 = False
    sim.report_delay_minutes = 10 ** 8  # no order is eligible for the report yet
    result = cli("pull", "--live", "--strategy", "report", code=1)
    assert "report was cancelled" in result.stderr and "30 minutes after purchase" in result.stderr
    assert not incident_store.conn.execute("SELECT id FROM steps WHERE ticks_on = 'pull' AND state = 'done'").fetchall()


@pytest.mark.long
def test_a_killed_pull_resumes_where_it_stopped(monkeypatch, cli, home, tmp_path):
    simulator = Simulator(from_spec(dict(SPEC, burst_orders=900, background_orders=0)))
    simulator.start()
    use_simulator(monkeypatch, simulator)
    cli("open", "--sku", SPEC["skus"][0], "--start", SPEC["start"], "--end", SPEC["end"], "--marketplace", "US")
    simulator.inject("searchOrders", "slow", seconds=30, after=3)  # the 4th page hangs
    process = Run("pull", "--live")
    db = next(home.glob("*/incident.db"))
    deadline = time.time() + 30
    while time.time() < deadline:  # three pages recorded and the fourth asked (its answer hangs)
        row = sqlite3.connect(db).execute("SELECT pages FROM live_pulls").fetchone()
        if row and row[0] == 3 and any(q.get("paginationToken") == "300" for op, q in list(simulator.calls)
                                       if op == "searchOrders"):
            break
        time.sleep(0.05)
    process.kill()
    simulator.faults.clear()
    out = cli("pull", "--live").stdout
    assert "resuming the pull" in out
    tokens = [q.get("paginationToken") for op, q in simulator.calls if op == "searchOrders"]
    assert tokens.count(None) == 1 and tokens.count("100") == 1 and tokens.count("200") == 1
    assert tokens.count("300") == 2  # the page in flight when killed, asked again
    assert cli.json("status")["counts"]["affected_orders"] == 900
    simulator.stop()


def test_a_pull_stopped_between_pages_resumes_after_its_token_expired(sim, incident_store, cli, tmp_path,
                                                                      monkeypatch):
    """Amazon's searchOrders tokens live 24 hours: a pull stopped between pages and rerun a day
    later asks again from the last order it saved, and ends with every order once."""
    (tmp_path / "incident.toml").write_text("[spapi]\nmax_retries = 1\n")
    monkeypatch.setenv("INCIDENT_CONFIG", str(tmp_path / "incident.toml"))
    sim.token_lifetime = 24 * 3600
    sim.inject("searchOrders", "503", times=10, after=2)  # two pages saved, then the server goes away
    cli("pull", "--live", "--strategy", "search", code=1)
    sim.faults.clear()
    sim.clock.sleep(25 * 3600)
    out = cli("pull", "--live").stdout
    assert "resuming the pull" in out and out.count("started over from the last order saved") == 1
    assert "the token has expired" in out
    assert counts(incident_store) == EXPECTED and len(incident_store.lines()) == 260
    again = [q for op, q in sim.calls if op == "searchOrders" and "paginationToken" not in q][-1]
    assert again["createdAfter"] > "2026-11-20T22:02:00Z"  # not from the window's start
    assert cli.json("status")["counts"]["affected_orders"] == 260


def test_an_altered_token_is_refused_and_the_search_starts_over(sim, incident_store):
    sim.token_lifetime = 24 * 3600
    with incident_store.conn:
        incident_store.conn.execute("INSERT INTO live_pulls (strategy, created_after, created_before, cursor, "
                                    "started_at) VALUES ('search', ?, '2026-11-20T22:30:00Z', 'forged', "
                                    "'2026-11-20T22:40:00Z')", ("2026-11-20T22:02:00Z",))
    result = live.LivePull(incident_store, connect(sim), "t").run()
    assert result.resumed and any("Invalid paginationToken." in note and "window's start" in note
                                  for note in result.plan.notes)
    assert counts(incident_store) == EXPECTED


def test_buyer_data_amazon_withholds_is_named_as_such(sim, incident_store, cli):
    """Without the Direct-to-Consumer Delivery role Amazon sends no buyer and only the city and
    country: the pull says so once, and sending by mail names it, not "FBA orders"."""
    sim.delivery_role = False
    out = cli("pull", "--live").stdout
    assert out.count("Direct-to-Consumer Delivery role") == 1
    cli("cancel", "export")
    cli("notify", "render")
    sent = cli("notify", "send", "--via", "outbox").stdout
    assert "107 seller-fulfilled buyers' e-mail addresses were withheld by Amazon" in sent
    assert "Direct-to-Consumer Delivery role" in sent and "--via spapi" in sent and "FBA orders" not in sent


def test_a_live_pull_keeps_the_recipients_address_amazon_sends(sim, incident_store, cli):
    live.LivePull(incident_store, connect(sim), "t").run()
    cancellable = [d.line for d in scope.sort_store(incident_store) if d.bucket == "cancellable_mfn"]
    assert all(l.recipient_name and l.ship_address_1 and l.ship_postal_code and l.ship_city for l in cancellable)
    cli("purge", "--yes", "--force")
    assert not any(l.ship_address_1 or l.ship_postal_code or l.recipient_name for l in incident_store.lines())


def test_submit_cancels_once_and_updates_the_buckets(sim, incident_store, cli):
    live.LivePull(incident_store, connect(sim), "t").run()
    out = cli("cancel", "submit", "--yes").stdout
    assert "107 of 107 items cancelled, 0 refused" in out
    assert len(sim.feeds) == 1
    assert counts(incident_store)["cancellable_mfn"] == 0
    assert "nothing to submit" in cli("cancel", "submit", "--yes", code=5).stderr
    assert len(sim.feeds) == 1
    # the next pull sees them cancelled on Amazon too
    live.LivePull(incident_store, connect(sim), "t").run()
    assert counts(incident_store)["cancelled_by_seller"] == 107
    assert counts(incident_store)["cancelled_before"] == 15
    steps = {s["id"]: s["state"] for s in cli.json("status")["steps"]}
    assert steps["cancel-upload"] == "done"


def test_a_crash_after_create_feed_does_not_send_a_second_feed(sim, incident_store, monkeypatch):
    connection = connect(sim)
    live.LivePull(incident_store, connection, "t").run()
    real = feeds._record

    def crash(store_, who, submission_id, state, **values):
        if state == "feed_created":
            raise KeyboardInterrupt  # killed right after Amazon took the feed
        real(store_, who, submission_id, state, **values)

    monkeypatch.setattr(feeds, "_record", crash)
    with pytest.raises(KeyboardInterrupt):
        feeds.submit(incident_store, connection, "t", poll_seconds=30)
    monkeypatch.setattr(feeds, "_record", real)
    result = feeds.submit(incident_store, connection, "t", poll_seconds=30)
    assert result.resumed and len(sim.feeds) == 1 and result.accepted == 107


def test_refused_rows_are_recorded_with_amazons_message(sim, incident_store, cli):
    live.LivePull(incident_store, connect(sim), "t").run()
    shipped = [d.line.order_id for d in scope.sort_store(incident_store) if d.bucket == "cancellable_mfn"][:2]
    for order_id in shipped:
        sim.orders[order_id].status = "Shipped"
    result = cli("cancel", "submit", "--yes", code=6)
    assert "105 of 107 items cancelled, 2 refused" in result.stdout
    attention = {r["order_id"]: r["reason"] for r in cli.json("orders", "--bucket", "needs_attention")}
    assert all("already shipped" in attention[o] for o in shipped)


def test_refused_reason_code_says_how_to_fix(sim, incident_store, cli):
    sim.reasons.discard("PricingError")
    live.LivePull(incident_store, connect(sim), "t").run()
    result = cli("cancel", "submit", "--yes", code=6)
    assert "--reason GeneralAdjustment" in result.stdout
    result = cli("cancel", "submit", "--yes", "--reason", "GeneralAdjustment", code=5)  # refused rows wait for a fresh pull
    assert "nothing to submit" in result.stderr


def test_dry_run_sends_nothing(sim, incident_store, cli):
    live.LivePull(incident_store, connect(sim), "t").run()
    out = cli("cancel", "submit", "--dry-run").stdout
    assert "107 items in" in out and "dry run" in out and not sim.feeds


def test_stop_sales_and_undo(sim, incident_store, cli):
    sku = SPEC["skus"][0]
    assert "500 -> 0" in cli("stop-sales").stdout
    assert sim.listings[sku] == 0
    cli("stop-sales")  # again: the saved quantity stays 500
    assert "0 -> 500" in cli("stop-sales", "--undo").stdout
    assert sim.listings[sku] == 500


def test_doctor_checks_without_printing_secrets(sim, cli):
    out = cli("doctor", "--marketplace", "US").stdout
    assert "login and searchOrders answered" in out
    assert "s3cret-value" not in out and "Atzr|test" not in out


def test_doctor_reports_missing_credentials(sim, cli, monkeypatch):
    for name in spapi.CREDENTIAL_ENV:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SP_API_CONFIG_DIR", "/nonexistent")
    monkeypatch.setenv("HOME", "/nonexistent")
    assert "no SP-API credentials" in cli("doctor", "--marketplace", "US", code=2).stderr


@pytest.mark.long
def test_demo_live(cli, tmp_path):
    out = cli("demo", "--live", "--home", tmp_path / "d").stdout
    assert "107 of 107 items cancelled" in out and "plan search" in out
    assert "107 sent through the Messaging API" in out and "support annotation  ->" in out


def test_marketplace_ids_match_the_library():
    from sp_api.base import Marketplaces

    from incident.amazon.marketplaces import BY_CODE

    for code, market in BY_CODE.items():
        assert Marketplaces[code].marketplace_id == market.marketplace_id, code


def test_japanese_report_in_shift_jis_through_the_report_path(monkeypatch, cli, home):
    spec = json.loads((SAMPLES / "jp" / "scope.json").read_text())
    simulator = seeded("jp", clock=VirtualClock(), processing_seconds=0)
    simulator.start()
    use_simulator(monkeypatch, simulator)
    cli("open", "--sku", spec["skus"][0], "--start", spec["start"], "--end", spec["end"], "--floor", spec["floor"],
        "--marketplace", "JP")
    with store.open_store(home) as s:
        settings = spapi.load_settings("JP")
        live.LivePull(s, spapi.Connection(settings, clock=simulator.clock), "t").run(force="report")
        names = {l.product_name for l in s.lines()}
        via_report = counts(s)
    simulator.stop()
    assert "ソニック ノイズキャンセリング ヘッドホン ブラック" in names
    cli("open", "--sku", spec["skus"][0], "--start", spec["start"], "--end", spec["end"], "--floor", spec["floor"])
    cli("pull", "--report", SAMPLES / "jp" / "all-orders.txt", "--report", SAMPLES / "jp" / "unshipped.txt")
    assert cli.json("status")["counts"] == via_report


def test_plan_only_prints_the_plan_and_pulls_nothing(sim, incident_store, cli):
    out = cli("pull", "--live", "--plan").stdout
    assert out.startswith("plan: search (about") and "v0 ~" in out and "report ~" in out
    assert cli.json("orders") == []


def test_a_drill_unfolds_orders_arrive_pending_ones_ripen_and_stop_sales_stops_mfn_orders(cli, home, monkeypatch):
    from datetime import timedelta

    from incident.amazon import listings
    from incident.sandbox import drill
    from incident.timeutil import parse_iso

    clock = VirtualClock(start=parse_iso("2026-11-20T22:00:00Z").timestamp())
    simulator, window = drill(orders=300, starts_in=2, lasts=20, pending_minutes=5, clock=clock)
    simulator.start()
    use_simulator(monkeypatch, simulator)
    cli("open", "--sku", window["sku"], "--start", window["start"], "--end", window["end"], "--marketplace", "US")
    with store.open_store(home) as s:
        connection = spapi.Connection(spapi.load_settings("US"), clock=clock)
        clock.sleep(10 * 60)  # eight minutes into the bad price: someone notices
        live.LivePull(s, connection, "t").run()
        early = counts(s)
        early_pending = {l.order_id for l in s.lines() if l.order_status == "Pending"}
        stopped_at = simulator.now()
        listings.stop_sales(s, connection, "t")
        clock.sleep(20 * 60)  # the window is over
        live.LivePull(s, connection, "t").run()
        late = counts(s)
        lines = s.lines()
        decisions = scope.sort_store(s)
    simulator.stop()
    assert 0 < early["affected_orders"] < late["affected_orders"]  # orders kept arriving
    mfn_after_stop = [l for l in lines if l.fulfillment_channel == "Merchant" and parse_iso(l.purchase_date) > stopped_at]
    fba_after_stop = [l for l in lines if l.fulfillment_channel == "Amazon" and parse_iso(l.purchase_date) > stopped_at]
    assert not mfn_after_stop and fba_after_stop  # quantity 0 stops seller-fulfilled sales only
    ripe = simulator.now() - timedelta(minutes=5)
    pending = [d for d in decisions if d.line.order_status == "Pending"]
    assert all(parse_iso(d.line.purchase_date) > ripe for d in pending)  # older ones turned Unshipped
    assert late["cancellable_mfn"] > early["cancellable_mfn"]
    assert early_pending and not early_pending & {d.line.order_id for d in pending}


@pytest.mark.long
def test_sandbox_serve_drill_prints_how_to_connect_and_the_incident_to_open():
    port = free_port()
    command = [Path(sys.executable).parent / "incident", "sandbox", "serve", "--drill", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as in a pipe to a log file
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines = [process.stdout.readline() for _ in range(6)] if _readable(process.stdout, 20) else []
        # the variables it prints are all doctor needs: it passes on the first try
        exported = dict(word.split("=", 1) for line in lines if line.strip().startswith("export ")
                        for word in line.split()[1:])
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("INCIDENT_", "SP_API", "LWA_"))}
        doctor = subprocess.run([Path(sys.executable).parent / "incident", "doctor"], env={**clean, **exported},
                                capture_output=True, text=True, timeout=60)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert lines[0].startswith(f"SP-API simulator on http://127.0.0.1:{port} (drill: 400 orders for SONIC-HP-BLK")
    assert "INCIDENT_MARKETPLACE=US" in "".join(lines)
    assert lines[5].strip().startswith("incident open --sku SONIC-HP-BLK --start ")
    assert doctor.returncode == 0 and "ok  login and searchOrders answered" in doctor.stdout, doctor.stderr


def _readable(stream, seconds: float) -> bool:
    import select

    return bool(select.select([stream], [], [], seconds)[0])


def test_a_refused_connection_fails_at_once_saying_what_to_check(monkeypatch):
    port = free_port()  # nothing listens there
    monkeypatch.setenv("INCIDENT_SPAPI_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("INCIDENT_LWA_ENDPOINT", f"http://127.0.0.1:{port}/auth/o2/token")
    for name in ("SP_API_REFRESH_TOKEN", "LWA_APP_ID", "LWA_CLIENT_SECRET"):
        monkeypatch.setenv(name, "x")
    clock = VirtualClock(start=1_000_000.0)
    connection = spapi.Connection(spapi.load_settings("US"), clock=clock)
    from sp_api.api import Orders

    client = connection.client(Orders, version="2026-01-01")
    with pytest.raises(spapi.ApiError) as refused:
        connection.call("searchOrders", client.search_orders, createdAfter="2026-11-20T00:00:00Z")
    assert "cannot connect to" in str(refused.value) and "INCIDENT_LWA_ENDPOINT" in str(refused.value)
    assert clock.now() - 1_000_000.0 < 2  # one short retry, not half a minute of back-off
