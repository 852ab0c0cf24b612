"""incident watch against real things: the SP-API simulator through python-amazon-sp-api, a real
SQS queue (moto's server on 127.0.0.1), a real webhook receiver and a real SMTP server, SQLite on
disk. Simulated time throughout: no test waits."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import free_port, serve_smtp
from spapi_models import MODELS

from incident import watch
from incident.amazon import spapi
from incident.amazon.ratelimits import VirtualClock
from incident.drill import environment
from incident.sandbox import drills, notifications
from incident.watch import detect, metrics, push, setup, state
from incident.watch.settings import WatchSettings
from incident.workspace import store

START = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)


class Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Hook.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", Hook.received
    server.shutdown()
    server.server_close()


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mail(monkeypatch):
    inbox = Inbox()
    controller = serve_smtp(monkeypatch, inbox, "care@example.com")
    yield inbox
    controller.stop()


def drill_env(scenario: drills.DrillScenario, push_mode: bool = True):
    clock = VirtualClock(START.timestamp())
    return environment.start(scenario, START, clock, push=push_mode), clock


def watcher_for(env, clock, home: Path, mode: str = "push", **options):
    connection = spapi.Connection(spapi.load_settings("US"), clock=clock)
    settings = WatchSettings()
    if mode == "push":
        setup.setup(connection, env.queue_arn)
        settings.queue_url, settings.sqs_endpoint = env.queue_url, env.sqs.endpoint
    for key in ("webhook", "email_to"):
        if key in options:
            setattr(settings, key, options.pop(key))
    lines: list[str] = []
    built = watch.build(home, watch.Options(mode=mode, **options), settings=settings, connection=connection,
                        wait_seconds=0, terminal=lines.append)
    return built, lines


@pytest.mark.long
def test_push_catches_the_stacking_incident_within_10_seconds_and_acts_once(aws, home, webhook, mail):
    url, received = webhook
    env, clock = drill_env(drills.load("coupon-after-cancelled-promo"))
    with env:
        watcher, lines = watcher_for(env, clock, home, auto_open=True, auto_stop_sales=True, webhook=url,
                                     email_to="ops@example.com")
        first_bad = env.truth.first_bad_at
        clock.sleep((first_bad - START).total_seconds() - 1)  # the ordinary minutes before are another test's
        while datetime.fromtimestamp(clock.now(), UTC) < first_bad + timedelta(minutes=1):
            env.publisher.pump()
            watcher.tick()
            clock.sleep(1.0)
        # a restart resumes from the watch database: same episode, no second incident
        again, _ = watcher_for(env, clock, home, auto_open=True, auto_stop_sales=True)
        for _ in range(30):
            env.publisher.pump()
            again.tick()
            clock.sleep(1.0)
        quantity = env.sim.listings[env.truth.sku]
    episodes = watch.status(home)["episodes"]
    assert len(episodes) == 1, "one episode per SKU, never a storm"
    detected = datetime.fromisoformat(episodes[0]["detected_at"].replace("Z", "+00:00"))
    assert (detected - first_bad).total_seconds() <= 10
    incidents = store.list_incidents(home)
    assert len(incidents) == 1 and incidents[0].skus == [env.truth.sku]
    assert incidents[0].window_start <= first_bad
    assert quantity == 0
    with store.open_store(home, incidents[0].id) as opened:
        assert opened.step("stop-bleeding")["state"] == "done"
        assert opened.conn.execute("SELECT previous_quantity FROM stop_sales").fetchone()[0] == 500  # for --undo
        assert any(line.fulfillment_channel == "Amazon" for line in opened.lines())  # seeded: FBA request ready
    assert [a for a in lines if a.startswith("ALERT")] and len(received) == 1 and len(mail.messages) == 1
    assert "BAD PRICE" in received[0]["text"] and received[0]["sku"] == env.truth.sku
    buyers = {o.buyer_name for o in env.sim.orders.values()} | {o.buyer_email for o in env.sim.orders.values()}
    assert not any(b in received[0]["text"] or b in str(mail.messages[0]) for b in buyers)


def test_poll_catches_it_within_one_poll_interval(aws, home):
    scenario = drills.load("coupon-after-cancelled-promo")
    env, clock = drill_env(scenario, push_mode=False)
    with env:
        watcher, _ = watcher_for(env, clock, home, mode="poll")
        interval = watcher.settings.poll_minutes * 60
        first_bad = env.truth.first_bad_at
        while datetime.fromtimestamp(clock.now(), UTC) < first_bad + timedelta(minutes=4):
            watcher.tick()
            clock.sleep(interval)
    episodes = watch.status(home)["episodes"]
    assert len(episodes) == 1
    detected = datetime.fromisoformat(episodes[0]["detected_at"].replace("Z", "+00:00"))
    assert (detected - first_bad).total_seconds() <= interval
    assert episodes[0]["confirmed_at"], "the price was confirmed from the polled orders"


@pytest.mark.long
def test_a_day_of_ordinary_traffic_raises_no_alert(aws, home):
    ordinary = drills.DrillScenario("ordinary-day", orders=0, ordinary_per_hour=12, history_hours=24,
                                    starts_in_minutes=24 * 60)
    env, clock = drill_env(ordinary)
    with env:
        watcher, lines = watcher_for(env, clock, home)
        end = START + timedelta(days=1)
        while datetime.fromtimestamp(clock.now(), UTC) < end:
            env.publisher.pump()
            watcher.tick()
            clock.sleep(1800.0)  # rounds half an hour apart keep the test quick; every moment is judged below
        sent = env.publisher.sent
        settings = watcher.settings
    data = watch.status(home)
    assert sent > 250 and data["orders"] > 250
    assert data["episodes"] == [] and data["alerts"] == []
    assert not [line for line in lines if line.startswith("ALERT")]
    with state.open_db(home) as db:  # the rate at the moment of every order of the day, not only at the rounds
        moments = [r[0] for r in db.conn.execute("SELECT DISTINCT purchase_date FROM orders WHERE purchase_date >= ?",
                                                 (START.strftime("%Y-%m-%dT%H:%M:%SZ"),))]
        assert len(moments) > 250
        assert all(detect.signals(db, settings, datetime.fromisoformat(m.replace("Z", "+00:00"))) == []
                   for m in moments)


def test_each_notification_counts_once_and_a_bad_message_does_not_block_the_queue(aws, home):
    sqs = environment.LocalSqs()
    try:
        url, _ = sqs.create_queue("dedup")
        queue = push.Queue(url, sqs.endpoint, wait_seconds=0)
        scenario = drills.DrillScenario("tiny", orders=1, ordinary_per_hour=0)
        sim, _, truth = drills.build(scenario, START, VirtualClock(START.timestamp()))
        body = json.dumps(notifications.order_change(sim, truth.bad[0], START, "sub-1"))
        for text in (body, body, "not json at all"):
            queue.client.send_message(QueueUrl=url, MessageBody=text)
        with state.open_db(home) as db:
            drained = push.drain(db, queue, START, "t")
            assert (drained.recorded, drained.duplicates, drained.unreadable) == (1, 1, 1)
            assert queue.receive() == []  # all deleted once recorded
            stored = db.conn.execute("SELECT payload FROM notifications WHERE order_id IS NOT NULL").fetchone()[0]
            assert "DestinationPostalCode" not in stored and truth.bad[0].postal_code not in stored
            with pytest.raises(Exception, match="append-only"):
                db.conn.execute("DELETE FROM events")
    finally:
        sqs.stop()


@pytest.mark.long
def test_a_late_older_notification_never_takes_an_order_back_to_an_older_state(aws, home):
    """SQS delivers an order's Pending notification after its Canceled one, twice: the watch keeps
    Canceled (by the notifications' EventTime), and counts the repeat once."""
    schema = json.loads((MODELS / "notifications" / "OrderChangeNotification.json").read_text())
    sqs = environment.LocalSqs()
    try:
        url, arn = sqs.create_queue("late")
        queue = push.Queue(url, sqs.endpoint, wait_seconds=0)
        clock = VirtualClock(START.timestamp())
        sim, _, truth = drills.build(drills.DrillScenario("tiny", orders=1, ordinary_per_hour=0), START, clock)
        order = truth.bad[0]
        order.status = "Pending"
        for item in order.items:
            item.status = "Pending"
        found = notifications._state(sim)
        found["destinations"]["d-1"] = {"destinationId": "d-1", "name": "q", "resource": {"sqs": {"arn": arn}}}
        found["subscriptions"]["ORDER_CHANGE"] = {"subscriptionId": "s-1", "payloadVersion": "1.0",
                                                  "destinationId": "d-1"}
        publisher = notifications.Publisher(sim, sqs.endpoint, delay=0, out_of_order=True)
        publisher._arrivals, publisher._next = [order], 0
        clock.sleep((order.purchase_date - START).total_seconds() + 1)
        assert publisher.pump() == 0  # held back: SQS will deliver it late
        clock.sleep(60)
        order.status, order.last_updated = "Cancelled", sim.now()
        for item in order.items:
            item.status, item.cancelled_by = "Cancelled", "MERCHANT"
        assert publisher.pump() == 3  # the Canceled one, then the Pending one, twice
        received = [json.loads(m["Body"]) for m in queue.client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]]
        assert all(_check(schema, message) == [] for message in received)
        with state.open_db(home) as db:
            drained = push.drain(db, queue, sim.now(), "t")
            assert (drained.recorded, drained.duplicates) == (2, 1)
            statuses = {r["status"] for r in db.conn.execute("SELECT status FROM orders WHERE order_id = ?",
                                                             (order.order_id,))}
            assert statuses == {"Cancelled"}
    finally:
        sqs.stop()


def _check(schema: dict, value, path: str = "") -> list[str]:
    """The schema's required keys, types and enums (enough of draft-07 for these payloads)."""
    problems = []
    types = schema.get("type")
    types = types if isinstance(types, list) else [types] if types else []
    python = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list, "null": type(None)}
    if types and not isinstance(value, tuple(python[t] for t in types)):
        return [f"{path}: {type(value).__name__} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value} not in enum")
    if isinstance(value, dict):
        problems += [f"{path}/{k}: missing" for k in schema.get("required", []) if k not in value]
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                problems += _check(sub, value[key], f"{path}/{key}")
    if isinstance(value, list) and "items" in schema:
        for number, item in enumerate(value):
            problems += _check(schema["items"], item, f"{path}[{number}]")
    return problems


def test_the_simulator_posts_order_change_notifications_in_amazons_schema():
    schema = json.loads((MODELS / "notifications" / "OrderChangeNotification.json").read_text())
    scenario = drills.DrillScenario("tiny", orders=5, ordinary_per_hour=0)
    sim, _, truth = drills.build(scenario, START, VirtualClock(START.timestamp()))
    for order in truth.bad:
        assert _check(schema, notifications.order_change(sim, order, START, "sub-1")) == []


def test_watch_setup_subscribes_once_through_the_notifications_api(cli, aws, monkeypatch):
    from incident.sandbox.server import Simulator

    simulator = Simulator(clock=VirtualClock(START.timestamp()))
    simulator.start()
    for name, value in simulator.environment("x").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("INCIDENT_MARKETPLACE", "US")
    try:
        arn = "arn:aws:sqs:us-east-1:123456789012:incident-orders"
        first = cli("watch", "setup", "--sqs-arn", arn).stdout
        second = cli("watch", "setup", "--sqs-arn", arn).stdout
        assert "(created)" in first and "already there" in second and "(created)" not in second
        assert [op for op, _ in simulator.calls].count("createDestination") == 1
        assert "not an SQS queue ARN" in cli("watch", "setup", "--sqs-arn", "queue-1", code=2).stderr
    finally:
        simulator.stop()


def test_a_bad_threshold_names_the_file_line_and_column(cli, tmp_path, monkeypatch):
    config = tmp_path / "incident.toml"
    config.write_text('[spapi]\nmarketplace = "US"\n\n[watch]\nwindow_minutes = 3\n  factor = "ten"\n')
    monkeypatch.setenv("INCIDENT_CONFIG", str(config))
    result = cli("watch", "--mode", "poll", "--once", code=3)
    assert f"{config}:6:3: [watch] factor: 'ten' is not a number" in result.stderr
    assert "Traceback" not in result.output


def test_watch_once_by_polling_from_the_command_line(cli, home, monkeypatch):
    from incident.sandbox import drill

    # an hour of ordinary sales up to now, whatever the date (the samples' orders are of November
    # 2026: a baseline of the last days from them holds no SKU once that is past); the discount in ten hours
    simulator, _ = drill(starts_in=600)
    simulator.start()
    for name, value in simulator.environment("x").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("INCIDENT_MARKETPLACE", "US")
    try:
        result = cli("watch", "--mode", "poll", "--once")
        assert "0 alert(s)" in result.stdout and "baseline learnt for" in result.stderr
        assert "baseline learnt for 0 SKUs" not in result.stderr
        again = cli("watch", "--mode", "poll", "--once")  # resumes: the baseline is kept
        assert "baseline learnt" not in again.stderr
        assert cli.json("watch", "status")["episodes"] == []
    finally:
        simulator.stop()


def test_the_watch_backs_off_when_the_queue_is_gone_and_says_so(aws, home, monkeypatch):
    from incident.sandbox import seeded

    clock = VirtualClock(START.timestamp())
    simulator = seeded("us", clock=clock)
    simulator.start()
    for name, value in simulator.environment("x").items():
        monkeypatch.setenv(name, value)
    try:
        connection = spapi.Connection(spapi.load_settings("US"), clock=clock)
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        settings = WatchSettings(queue_url=f"{dead}/123456789012/gone", sqs_endpoint=dead, heartbeat_minutes=0.01)
        lines: list[str] = []
        watcher = watch.build(home, watch.Options(), settings=settings, connection=connection, wait_seconds=0,
                              terminal=lines.append)
        started = clock.now()
        rounds = iter(range(4))
        watcher.run(should_stop=lambda: next(rounds, None) is None)
        waits = [line.rsplit("in ", 1)[1] for line in lines if line.startswith("warning:")]
        assert waits == ["2 s", "4 s", "8 s", "16 s"]
        assert clock.now() - started >= 30
        assert all("127.0.0.1" not in line or "warning" not in line for line in lines)
        with pytest.raises(Exception, match="the watch round failed"):
            watcher.run(once=True)  # for cron: one clear error and a non-zero exit
    finally:
        simulator.stop()


def test_the_watch_database_migrates_itself(home):
    import sqlite3

    old = sqlite3.connect(state.path(home))
    old.executescript("CREATE TABLE orders (order_id TEXT NOT NULL, sku TEXT NOT NULL, purchase_date TEXT NOT NULL, "
                      "source TEXT NOT NULL, first_seen TEXT NOT NULL, PRIMARY KEY (order_id, sku));"
                      "INSERT INTO orders VALUES ('111-1', 'SKU-A', '2026-11-20T22:00:00Z', 'push', '2026-11-20T22:00:01Z');")
    old.close()
    with state.open_db(home) as db:
        columns = {r["name"] for r in db.conn.execute("PRAGMA table_info(orders)")}
        assert {"weight", "net_unit", "price_checked_at"} <= columns
        assert db.rate("SKU-A", START - timedelta(hours=1))[0] == 1.0  # the old row counts, weight 1
        assert db.alerts() == [] and db.episodes() == []


def test_get_order_metrics_is_a_cheap_signal_for_the_skus_listed(aws, home):
    from decimal import Decimal

    scenario = drills.load("coupon-after-cancelled-promo")
    env, clock = drill_env(scenario, push_mode=False)
    with env:
        connection = spapi.Connection(spapi.load_settings("US"), clock=clock)
        settings = WatchSettings(metrics_skus=[env.truth.sku], floors={env.truth.sku: Decimal(100)})
        watcher = watch.build(home, watch.Options(mode="poll"), settings=settings, connection=connection,
                              wait_seconds=0, terminal=lambda line: None)
        first_bad = env.truth.first_bad_at
        clock.sleep((first_bad - START).total_seconds() + 20)
        found = metrics.signals(connection, settings, {}, watcher.now())
        answers = [op for op, _ in env.sim.calls if op == "getOrderMetrics"]
        schema = json.loads((MODELS / "sales.json").read_text())["definitions"]["OrderMetricsInterval"]
        from incident.sandbox.sales import _metrics

        shaped = _metrics(env.sim, first_bad, watcher.now(), env.truth.sku)
    assert answers == ["getOrderMetrics"]
    assert {s.kind for s in found} == {"velocity", "price"} and all(s.source == "metrics" for s in found)
    assert [k for k in schema["required"] if k not in shaped] == []
