"""Sending notices exactly once: outbox files, a real SMTP server (aiosmtpd) on 127.0.0.1 with
the sender killed at random points, and the simulator's Buyer-Seller Messaging endpoint."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import threading
import random
import re
import sqlite3
import time
from collections import Counter
from datetime import datetime
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from conftest import SAMPLES, free_port, serve_smtp, use_simulator
from processes import Run

from incident.sandbox.scenario import cancellable_reports

SENDER = "care@sonic-audio.example"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd on implicit TLS


class Inbox:
    def __init__(self):
        self.messages = []
        self.raw: list[bytes] = []  # each message as the server received it, after the SMTP transparency
        self.closing_after: int | None = None  # refuse with 421 once this many messages arrived
        self.hold_at: int | None = None  # keep the sender waiting for the answer to this message (0: the first)
        self.held, self.release = threading.Event(), threading.Event()  # it is waiting; let it have the 250

    async def handle_DATA(self, server, session, envelope):
        if self.closing_after is not None and len(self.messages) >= self.closing_after:
            return "421 4.3.2 Service shutting down, try again later"
        if self.hold_at is not None and len(self.messages) == self.hold_at and not self.release.is_set():
            self.held.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait)
        message = message_from_bytes(envelope.content)
        self.raw.append(envelope.content)
        self.messages.append((envelope.mail_from, tuple(envelope.rcpt_tos), message["Message-ID"], message))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch):
    inbox = Inbox()
    controller = serve_smtp(monkeypatch, inbox, SENDER)
    yield inbox
    controller.stop()


@pytest.fixture(params=["starttls", "ssl"])
def tls_smtp(request, monkeypatch, tmp_path):
    """A mail server that takes mail only over TLS and after a login, with a certificate from a
    test authority the client trusts through SSL_CERT_FILE, as it would a real one."""
    import ssl

    import trustme
    from aiosmtpd.smtp import AuthResult

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    logins = []

    def authenticate(server, session, envelope, mechanism, data):
        logins.append((mechanism, data.login.decode()))
        return AuthResult(success=data.login == b"seller" and data.password == b"app-password", handled=False)

    inbox = Inbox()
    options = {"authenticator": authenticate, "auth_required": True}
    if request.param == "ssl":  # aiosmtpd does not count implicit TLS as TLS for AUTH: the whole session is
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=server_context,
                                auth_require_tls=False, **options)
    else:
        controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_context,
                                require_starttls=True, **options)
    controller.start()
    for key, value in {"HOST": "127.0.0.1", "PORT": str(controller.port), "FROM": SENDER, "TLS": request.param,
                       "USER": "seller", "PASSWORD": "app-password"}.items():
        monkeypatch.setenv(f"INCIDENT_SMTP_{key}", value)
    yield inbox, logins
    controller.stop()


def ready_incident(cli, tmp_path, orders: int, marketplace: str = "US", *render_options):
    """An incident with `orders` seller-fulfilled cancellable orders, exported and rendered."""
    start, end = "2026-11-20T14:00:00-08:00", "2026-11-20T14:30:00-08:00"
    scenario, all_orders, (all_report, unshipped_report) = cancellable_reports(
        tmp_path, orders, datetime.fromisoformat(start), datetime.fromisoformat(end), marketplace)
    cli("open", "--sku", scenario.incident_product.sku, "--start", start, "--end", end, "--marketplace", marketplace)
    cli("pull", "--report", all_report, "--report", unshipped_report)
    cli("cancel", "export")
    cli("notify", "render", *render_options)
    return {o.order_id: o.buyer_email for o in all_orders}, all_orders


def rendered_notices(home) -> dict[str, tuple[str, str]]:
    """order id -> (subject, body) as `notify render` wrote them."""
    db = sqlite3.connect(next(home.glob("*/incident.db")))
    return {order_id: (subject, body) for order_id, subject, body in
            db.execute("SELECT order_id, subject, body FROM notices")}


def assert_received_as_rendered(inbox, buyers: dict[str, str], home) -> None:
    """Each mail the server received, decoded (MIME, transfer encoding, charset), reads exactly as
    the notice was rendered, and its lines end in CRLF as SMTP requires (never a bare LF or CR)."""
    from email import policy

    by_buyer = {email: order_id for order_id, email in buyers.items()}
    notices = rendered_notices(home)
    assert len(inbox.raw) == len(buyers)
    for raw in inbox.raw:
        assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998  # RFC 5321's limit on a line
        message = message_from_bytes(raw, policy=policy.default)
        subject, body = notices[by_buyer[message["To"]]]
        assert message["Subject"] == subject
        assert message.get_content().replace("\r\n", "\n") == body


@pytest.mark.parametrize("marketplace", ["US", "DE", "JP"])
def test_a_mail_arrives_as_it_was_rendered(cli, home, tmp_path, smtp, marketplace):
    buyers, _ = ready_incident(cli, tmp_path, 12, marketplace)
    assert {locale for _, locale in sqlite3.connect(next(home.glob("*/incident.db"))).execute(
        "SELECT DISTINCT 1, locale FROM notices")} == {{"US": "en-US", "DE": "de-DE", "JP": "ja-JP"}[marketplace]}
    assert "sent 12 of 12, 0 failed" in cli("notify", "send", "--via", "smtp").stdout
    assert_received_as_rendered(smtp, buyers, home)


def test_dots_long_lines_and_other_scripts_arrive_as_written(cli, home, tmp_path, smtp):
    """The SMTP transparency (a line that begins with a dot is sent with one more), lines longer
    than 78 and than 998 characters, a line that is only a dot (the end of DATA if unstuffed),
    trailing spaces, and text in other scripts."""
    (tmp_path / "tpl" / "notice").mkdir(parents=True)
    long_words = " ".join(["Entschuldigung für den Preisfehler"] * 32)  # 1,119 characters, no line break
    (tmp_path / "tpl" / "notice" / "en-US.txt.j2").write_text(
        "Order {{ order_id }}: we are sorry, 謝罪, Entschuldigung – "
        + "a long subject folded by the mail program " * 3 + "\n"
        + "Dear buyer,\n"
        + ".\n"
        + ".A line that begins with a dot, and the amount {{ amount }}\n"
        + "..two dots\n"
        + "The amount charged, {{ amount }}, is released: " + "a long line that wraps " * 4 + "{{ amount }}.\n"
        + long_words + "\n"
        + "trailing spaces   \n"
        + "Grüße, 深謝 (kanji only: kana would read as ja-JP), € {{ order_id }}\n"
        + "{{ seller_name }}\n", encoding="utf-8")
    buyers, _ = ready_incident(cli, tmp_path, 10, "US", "--templates", tmp_path / "tpl")
    assert "10 of 10 notices pass" in cli("notify", "check").stdout
    body = next(iter(rendered_notices(home).values()))[1]
    assert "\n.\n" in body and "\n.A line" in body and "   \n" in body and max(map(len, body.split("\n"))) > 998
    assert "sent 10 of 10, 0 failed" in cli("notify", "send", "--via", "smtp").stdout
    assert_received_as_rendered(smtp, buyers, home)


def test_outbox_writes_eml_files_and_a_csv_once(cli, home, tmp_path):
    buyers, _ = ready_incident(cli, tmp_path, 5)
    assert "sent 5 of 5, 0 failed" in cli("notify", "send", "--via", "outbox").stdout
    folder = next(home.glob("*/outbox"))
    rows = list(csv.DictReader((folder / "outbox.csv").open()))
    assert {r["order_id"]: r["to"] for r in rows} == buyers
    message = message_from_bytes((folder / f"{rows[0]['order_id']}.eml").read_bytes())
    assert rows[0]["order_id"] in message.get_payload(decode=True).decode() and message["To"] == buyers[rows[0]["order_id"]]
    assert "sent 0 of 0" in cli("notify", "send", "--via", "outbox").stdout


def test_smtp_sends_each_notice_once_from_the_approved_sender(cli, tmp_path, smtp):
    buyers, _ = ready_incident(cli, tmp_path, 6)
    cli("notify", "send", "--via", "smtp", "--test-to", "manager@sonic-audio.example")
    assert [m[1] for m in smtp.messages] == [("manager@sonic-audio.example",)]
    out = cli("notify", "send", "--via", "smtp", "--limit", "4").stdout
    assert "sent 4 of 4, 0 failed" in out
    assert "sent 2 of 2, 0 failed" in cli("notify", "send", "--via", "smtp").stdout
    assert "sent 0 of 0" in cli("notify", "send", "--via", "smtp").stdout
    delivered = Counter(m[1][0] for m in smtp.messages[1:])
    assert delivered == Counter(buyers.values())
    assert {m[0] for m in smtp.messages} == {SENDER}
    steps = {s["id"]: s["state"] for s in cli.json("status")["steps"]}
    assert steps["notify-buyers"] == "done"


def test_a_test_send_after_every_buyer_was_told_still_sends_one(cli, home, tmp_path, smtp):
    from email import policy

    buyers, _ = ready_incident(cli, tmp_path, 4)
    assert "sent 4 of 4, 0 failed" in cli("notify", "send", "--via", "smtp").stdout
    out = cli("notify", "send", "--via", "smtp", "--test-to", "manager@sonic-audio.example").stdout
    assert len(smtp.raw) == 5 and smtp.messages[-1][1] == ("manager@sonic-audio.example",)
    test = message_from_bytes(smtp.raw[-1], policy=policy.default)
    [(order_id, (subject, body))] = [(o, n) for o, n in rendered_notices(home).items() if o in test["Subject"]]
    assert test["Subject"] == subject and test.get_content().replace("\r\n", "\n") == body
    assert f"test notice (order {order_id}, already sent to its buyer) sent to manager@sonic-audio.example" in out
    assert "nothing went to buyers" in out
    assert Counter(m[1][0] for m in smtp.messages[:4]) == Counter(buyers.values())
    assert "sent 0 of 0" in cli("notify", "send", "--via", "smtp").stdout  # the test changed no notice
    smtp.closing_after = 0  # the test send is told what the server answered
    result = cli("notify", "send", "--via", "smtp", "--test-to", "manager@sonic-audio.example", code=5)
    assert "the test notice was not sent: the mail server said SMTPDataError 421" in result.stderr
    assert "manager@" not in result.stderr and "test notice sent" not in result.stdout


def test_a_test_send_with_no_notice_says_why_and_fails(cli, small_incident, smtp):
    result = cli("notify", "send", "--via", "smtp", "--test-to", "manager@sonic-audio.example", code=5)
    assert "no notice to send as a test" in result.stderr and "incident notify render" in result.stderr
    assert "test notice sent" not in result.stdout and smtp.messages == []


def test_a_test_send_to_the_outbox_leaves_the_buyers_files_alone(cli, home, tmp_path):
    buyers, _ = ready_incident(cli, tmp_path, 3)
    cli("notify", "send", "--via", "outbox")
    folder = next(home.glob("*/outbox"))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    out = cli("notify", "send", "--via", "outbox", "--test-to", "manager@sonic-audio.example").stdout
    assert "test notice" in out and "sent to manager@sonic-audio.example" in out
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert {name: after[name] for name in before} == before
    [test_file] = set(after) - set(before)
    assert message_from_bytes(after[test_file])["To"] == "manager@sonic-audio.example"
    cli("purge", "--yes")  # the test notice is a buyer's notice: purged with the others
    assert list(folder.iterdir()) == []


def test_smtp_over_tls_with_login(cli, tmp_path, tls_smtp):
    inbox, logins = tls_smtp
    buyers, _ = ready_incident(cli, tmp_path, 3)
    assert "sent 3 of 3, 0 failed" in cli("notify", "send", "--via", "smtp").stdout
    assert sorted(m[1][0] for m in inbox.messages) == sorted(buyers.values())
    assert [login for _, login in logins] == ["seller"]


def test_doctor_checks_the_mail_server_without_printing_the_password(cli, tls_smtp):
    out = cli("doctor", "--smtp").stdout
    assert "ok  the server answered and accepted the login" in out and "password set" in out
    assert "app-password" not in out


def test_wrong_smtp_password_is_one_clear_error_without_the_password(cli, tmp_path, tls_smtp, monkeypatch):
    ready_incident(cli, tmp_path, 2)
    monkeypatch.setenv("INCIDENT_SMTP_PASSWORD", "wrong-secret")
    result = cli("notify", "send", "--via", "smtp", code=5)
    assert "the SMTP server refused the login of 'seller'" in result.stderr
    assert "wrong-secret" not in result.stderr + result.stdout
    assert "sent" not in result.stdout


def test_smtp_settings_from_incident_toml_and_the_environment_wins(cli, tmp_path, smtp, monkeypatch):
    ready_incident(cli, tmp_path, 2)
    port = os.environ["INCIDENT_SMTP_PORT"]
    for key in ("HOST", "PORT", "FROM", "TLS"):
        monkeypatch.delenv(f"INCIDENT_SMTP_{key}")
    config = tmp_path / "incident.toml"
    config.write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\nfrom = "toml@sonic-audio.example"\n')
    monkeypatch.setenv("INCIDENT_CONFIG", str(config))
    monkeypatch.setenv("INCIDENT_SMTP_FROM", SENDER)
    assert "sent 2 of 2, 0 failed" in cli("notify", "send", "--via", "smtp").stdout
    assert {m[0] for m in smtp.messages} == {SENDER}


def test_a_server_going_away_stops_the_run_and_a_rerun_goes_on(cli, tmp_path, smtp):
    buyers, _ = ready_incident(cli, tmp_path, 6)
    smtp.closing_after = 3
    result = cli("notify", "send", "--via", "smtp", code=6)
    assert "sent 3 of 6, 1 failed" in result.stdout and "stopped early, the server went away" in result.stderr
    smtp.closing_after = None
    assert "sent 3 of 3, 0 failed" in cli("notify", "send", "--via", "smtp").stdout
    assert Counter(m[1][0] for m in smtp.messages) == Counter(buyers.values())


def test_unreachable_smtp_server_is_one_clear_error(cli, tmp_path, monkeypatch):
    ready_incident(cli, tmp_path, 2)
    monkeypatch.setenv("INCIDENT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("INCIDENT_SMTP_PORT", "1")
    monkeypatch.setenv("INCIDENT_SMTP_FROM", SENDER)
    monkeypatch.setenv("INCIDENT_SMTP_TLS", "none")
    result = cli("notify", "send", "--via", "smtp", code=5)
    assert "cannot reach the SMTP server 127.0.0.1:1" in result.stderr


def interrupt_in_flight(smtp, command: tuple, at: int, presses: int = 1) -> Run:
    """Start `incident *command`, and press Ctrl-C (SIGINT) `presses` times while the mail server
    holds the answer to message number `at` (the notice in flight), each once the run has said it
    heard the one before; then let the server answer."""
    smtp.hold_at = at
    run = Run(*command)
    while not smtp.held.wait(0.01) and run.poll() is None:  # a run that ends before it gets there ends the wait
        pass
    for press in range(1, presses + 1):
        if run.poll() is not None:
            break
        os.kill(run.pid, signal.SIGINT)
        deadline = time.monotonic() + 60  # a guard only: a run that never says it heard ends the wait
        while run.stderr.count("Ctrl-C") < press and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
    smtp.release.set()
    return run


def test_ctrl_c_finishes_the_notice_in_flight_then_says_how_to_go_on(cli, home, tmp_path, smtp):
    buyers, _ = ready_incident(cli, tmp_path, 12)
    [incident_id] = [i["id"] for i in cli.json("list")]
    run = interrupt_in_flight(smtp, ("notify", "send", "--via", "smtp"), at=4)
    code, out, err = run.communicate()
    assert code == 130, (out, err)
    assert "Ctrl-C: stopping once the notice being sent is recorded" in err
    assert "sent 5 of 12, 0 failed" in out
    assert (f"interrupted: 5 notices sent, 7 remain (the notice in flight was finished and recorded); to go on: "
            f"incident notify send --via smtp --incident {incident_id}") in err
    assert "Traceback" not in err and not any(email in out + err for email in buyers.values())
    db = sqlite3.connect(next(home.glob("*/incident.db")))
    states = dict(db.execute("SELECT state, count(*) FROM notices GROUP BY state").fetchall())
    assert states == {"sent": 5, "rendered": 7}  # none left in `sending`
    assert len(smtp.messages) == 5
    assert "sent 7 of 7, 0 failed" in Run("notify", "send", "--via", "smtp", "--incident", incident_id).communicate()[1]
    assert Counter(m[1][0] for m in smtp.messages) == Counter(buyers.values())
    assert set(Counter(m[1][0] for m in smtp.messages).values()) == {1}


def test_ctrl_c_during_the_first_notice_and_the_command_to_go_on_quoted(cli, home, tmp_path, smtp):
    buyers, _ = ready_incident(cli, tmp_path, 3)
    run = interrupt_in_flight(smtp, ("notify", "send", "--via", "smtp", "--by", "Ana O'Neil"), at=0)
    code, _, err = run.communicate()
    assert code == 130 and "interrupted: 1 notices sent, 2 remain" in err
    assert "--by 'Ana O'\"'\"'Neil'" in err  # the command, quoted as a shell reads it
    cli("notify", "send", "--via", "smtp")
    assert Counter(m[1][0] for m in smtp.messages) == Counter(buyers.values())


def test_ctrl_c_twice_stops_at_once_and_says_the_notice_may_go_again(cli, home, tmp_path, smtp):
    buyers, _ = ready_incident(cli, tmp_path, 6)
    run = interrupt_in_flight(smtp, ("notify", "send", "--via", "smtp"), at=2, presses=2)
    code, out, err = run.communicate()
    assert code == 130, (out, err)
    assert "stopped at once" in err and "may have gone out" in err and "same Message-ID" in err
    assert "Traceback" not in err and not any(email in out + err for email in buyers.values())
    cli("notify", "send", "--via", "smtp")
    per_buyer = Counter(m[1][0] for m in smtp.messages)
    assert set(per_buyer) == set(buyers.values()) and sum(per_buyer.values()) <= len(buyers) + 1
    distinct = Counter(m[1][0] for m in {(m[1], m[2]): m for m in smtp.messages}.values())
    assert set(distinct.values()) == {1}  # a copy carries the same Message-ID: the inbox shows it once


def kill_at_random_points(command: tuple, delivered, kills: int = 50, seed: int = 4) -> int:
    """Run `incident *command` again and again, killing it each time a few deliveries (1 to 12) after it
    started, plus a random delay. Returns how many runs were killed mid-way."""
    rng = random.Random(seed)
    killed = 0
    for _ in range(kills):
        target = delivered() + rng.randint(1, 12)
        process = Run(*command)
        deadline = time.monotonic() + 30  # a run that stalls is killed too, and the final run must finish
        while delivered() < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.02))
        if process.poll() is None:
            process.kill()
            killed += 1
        process.wait()
    return killed


def assert_exactly_once(home, per_order: Counter, expected: set, killed: int) -> tuple[int, dict, list]:
    """Nobody lost; a copy beyond the first only when a kill fell between Amazon's (or the mail
    server's) acceptance and our record of it, so the next run resumed that notice: every copy
    follows a claim of its own (copies never exceed the recorded attempts), and there are never
    more extra copies than kills."""
    assert set(per_order) == expected
    db = sqlite3.connect(next(home.glob("*/incident.db")))
    assert dict(db.execute("SELECT state, count(*) FROM notices GROUP BY state").fetchall()) == {"sent": len(expected)}
    attempts = dict(db.execute("SELECT order_id, attempts FROM notices").fetchall())
    resent = [key for key, n in per_order.items() if n > 1]
    assert all(n <= attempts[key] for key, n in per_order.items())
    assert sum(n - 1 for n in per_order.values()) <= killed
    return len(resent), attempts, resent


@pytest.mark.long
def test_killed_fifty_times_every_buyer_gets_exactly_one_notice(cli, home, tmp_path, smtp):
    buyers, _ = ready_incident(cli, tmp_path, 300)
    command = ("notify", "send", "--via", "smtp")
    killed = kill_at_random_points(command, lambda: len(smtp.messages))
    final = Run(*command)
    assert final.wait(300) == 0, final.stderr
    per_buyer = Counter(m[1][0] for m in smtp.messages)
    per_order = Counter({order_id: per_buyer[email] for order_id, email in buyers.items() if per_buyer[email]})
    twice, _, _ = assert_exactly_once(home, per_order, set(buyers), killed)
    distinct = Counter(m[1][0] for m in {(m[1], m[2]): m for m in smtp.messages}.values())
    assert set(distinct.values()) == {1}  # a resend carries the same Message-ID: the inbox shows it once
    print(f"smtp: {killed} kills, {len(smtp.messages)} deliveries for 500 buyers, {twice} resent (same Message-ID)")


def start_simulator(monkeypatch, orders=None):
    """The SP-API simulator on a real clock, granting this seller 200 messages a second (Amazon
    reports a seller's own limit in x-amzn-RateLimit-Limit; the client paces by it)."""
    from incident.sandbox import Simulator, seeded

    fast = {op: (200.0, 5) for op in ("getMessagingActionsForOrder", "createUnexpectedProblem", "getAttributes")}
    if orders is None:
        sim = seeded("us", processing_seconds=0, plans=fast)
    else:
        sim = Simulator(processing_seconds=0, plans=fast)
        sim.add_orders(orders)
    sim.start()
    use_simulator(monkeypatch, sim)
    return sim


@pytest.fixture
def simulator(monkeypatch):
    sim = start_simulator(monkeypatch)
    yield sim
    sim.stop()


def sample_incident(cli, *extra):
    import json

    spec = json.loads((SAMPLES / "us" / "scope.json").read_text())
    cli("open", "--sku", spec["skus"][0], "--start", spec["start"], "--end", spec["end"], "--floor", spec["floor"],
        "--marketplace", "US")
    cli("pull", "--report", SAMPLES / "us" / "all-orders.txt", "--report", SAMPLES / "us" / "unshipped.txt")
    cli("cancel", "export")
    return cli("notify", "render", *extra)


@pytest.mark.long
def test_spapi_sends_in_each_buyers_language_through_buyer_seller_messaging(cli, simulator):
    from incident.sandbox.operations import buyer_locale

    sample_incident(cli, "--live")
    out = cli("notify", "send", "--via", "spapi").stdout
    assert "sent 107 of 107, 0 failed" in out
    assert len({m["orderId"] for m in simulator.messages}) == 107 == len(simulator.messages)
    assert all(len(m["text"]) <= 2000 and m["orderId"] in m["text"] for m in simulator.messages)
    spanish = [m for m in simulator.messages if buyer_locale(simulator.orders[m["orderId"]]) == "es-US"]
    assert spanish and all("Pedido" in m["text"] or "pedido" in m["text"] for m in spanish)
    assert "sent 0 of 0" in cli("notify", "send", "--via", "spapi").stdout
    told = cli.json("status")["notices"]
    assert told["sent"] == 107 and told["by_via"] == {"spapi": 107} and told["last_sent_at"]
    table = cli("status").stdout
    assert "Buyer notices: 107 of 107 buyers owed a notice told" in table and "spapi 107" in table and "tester" in table
    assert cli("notify", "render").stdout.startswith("0 notices rendered")  # sent ones never change


def test_spapi_holds_back_a_notice_in_another_language_than_the_buyers(cli, simulator):
    from incident.sandbox.operations import buyer_locale

    sample_incident(cli)  # rendered in the marketplace's language, without asking Amazon
    spanish = {o for o, order in simulator.orders.items() if buyer_locale(order) == "es-US"}
    first = cli("notify", "send", "--via", "spapi")
    held = 107 - len({m["orderId"] for m in simulator.messages})
    assert held and f"sent {107 - held} of 107, 0 failed, {held} held back for the buyer's language" in first.stdout
    assert "notify render` rewrites them" in first.stderr
    assert f"{held} notices rendered" in cli("notify", "render").stdout
    assert f"sent {held} of {held}, 0 failed" in cli("notify", "send", "--via", "spapi").stdout
    late = [m for m in simulator.messages if m["orderId"] in spanish]
    assert len(late) == held and all("pedido" in m["text"] for m in late)
    assert len(simulator.messages) == len({m["orderId"] for m in simulator.messages}) == 107


def test_spapi_records_orders_amazon_does_not_offer_a_message_for(cli, simulator):
    sample_incident(cli)
    refused = sorted(o for o, order in simulator.orders.items() if order.channel == "Merchant")[:3]
    for order_id in refused:
        simulator.orders[order_id].status = "Cancelled"
        simulator.orders[order_id].channel = "Amazon"  # the simulator offers nothing for these
    out = cli("notify", "send", "--via", "spapi").stdout
    assert "not offered by Amazon" in out


@pytest.mark.long
def test_spapi_one_refused_order_never_stops_the_others(cli, simulator):
    """Amazon offers no unexpectedProblem for one order in five and refuses it at send for one in
    six (403 "Invalid amazonOrderId and template combination."): every other buyer is told once,
    the refused ones are recorded with Amazon's words, and a rerun does not retry them."""
    sample_incident(cli, "--live")
    owed = sorted(r["order_id"] for r in cli.json("notify", "list"))
    simulator.messaging_not_offered = set(owed[::5])
    simulator.messaging_refused = set(owed[1::6]) - simulator.messaging_not_offered
    reachable = set(owed) - simulator.messaging_not_offered - simulator.messaging_refused
    out = cli("notify", "send", "--via", "spapi").stdout
    refused, offered = len(simulator.messaging_refused), len(simulator.messaging_not_offered)
    assert f"sent {len(reachable)} of {len(owed)}, 0 failed, {offered} not offered by Amazon, " \
           f"{refused} refused by Amazon" in out
    assert sorted(m["orderId"] for m in simulator.messages) == sorted(reachable)
    assert "sent 0 of 0" in cli("notify", "send", "--via", "spapi").stdout
    assert len(simulator.messages) == len(reachable)
    notes = {r["order_id"]: r["error"] for r in cli.json("notify", "list")}
    assert all("Invalid amazonOrderId and template combination." in notes[o] for o in simulator.messaging_refused)
    assert "not sendable by messaging: owed by e-mail or a card" in cli("status").stdout


@pytest.mark.long
def test_spapi_refused_on_every_order_in_a_row_stops_and_says_why(cli, simulator):
    sample_incident(cli, "--live")
    simulator.messaging_role = False
    result = cli("notify", "send", "--via", "spapi", code=6)
    assert "refused the message for 5 orders in a row" in result.stderr and "role" in result.stderr
    states = [r["state"] for r in cli.json("notify", "list")]
    assert states.count("failed") == 5 and "not_offered" not in states  # tried again by the next run
    simulator.messaging_role = True
    assert "sent 107 of 107, 0 failed" in cli("notify", "send", "--via", "spapi").stdout


@pytest.mark.long
def test_spapi_killed_fifty_times_every_buyer_gets_exactly_one_notice(cli, home, tmp_path, monkeypatch):
    buyers, orders = ready_incident(cli, tmp_path, 300)
    expected = set(buyers)
    simulator = start_simulator(monkeypatch, orders)
    command = ("notify", "send", "--via", "spapi")
    killed = kill_at_random_points(command, lambda: len(simulator.messages), kills=50, seed=7)
    assert Run(*command).wait(300) == 0  # the rest, uninterrupted
    cli("notify", "render")  # the notices held back for buyers who read Spanish, rewritten in Spanish
    final = Run(*command)
    assert final.wait(300) == 0, final.stderr
    twice, attempts, resent = assert_exactly_once(home, Counter(m["orderId"] for m in simulator.messages),
                                                  expected, killed)
    assert all(attempts[order_id] >= 2 for order_id in resent)
    simulator.stop()
    print(f"spapi: {killed} kills, {len(simulator.messages)} messages for {len(expected)} orders, {twice} resent")


@pytest.mark.parametrize("runs", [2, 4])
@pytest.mark.parametrize("via", ["smtp", "outbox"])
def test_people_sending_at_the_same_time_never_send_a_notice_twice(cli, home, tmp_path, smtp, runs, via):
    buyers, _ = ready_incident(cli, tmp_path, 120)
    processes = [Run("notify", "send", "--via", via) for _ in range(runs)]
    outputs = [p.communicate(300) for p in processes]
    assert all(code == 0 for code, _, _ in outputs), outputs
    db = sqlite3.connect(next(home.glob("*/incident.db")))
    assert dict(db.execute("SELECT state, count(*) FROM notices GROUP BY state").fetchall()) == {"sent": 120}
    assert set(db.execute("SELECT attempts FROM notices").fetchall()) == {(1,)}  # each claimed once
    if via == "smtp":
        assert Counter(m[1][0] for m in smtp.messages) == Counter(buyers.values())
    else:
        assert len(list(next(home.glob("*/outbox")).glob("*.eml"))) == 120
    sent = sum(int(re.search(r"sent (\d+) of", out).group(1)) for _, out, _ in outputs)
    assert sent == 120


@pytest.mark.long
def test_kills_during_concurrent_runs_miss_nobody(cli, home, tmp_path, smtp):
    buyers, _ = ready_incident(cli, tmp_path, 200)
    command = ("notify", "send", "--via", "smtp")
    rng = random.Random(3)
    for _ in range(6):
        pair = [Run(*command) for _ in range(2)]
        time.sleep(rng.uniform(0.05, 0.3))  # a forked run starts in milliseconds: killed while sending
        pair[rng.randrange(2)].kill()
        for process in pair:
            process.wait(300)
    final = Run(*command)
    assert final.wait(300) == 0, final.stderr
    per_buyer = Counter(m[1][0] for m in smtp.messages)
    per_order = Counter({order_id: per_buyer[email] for order_id, email in buyers.items() if per_buyer[email]})
    assert_exactly_once(home, per_order, set(buyers), killed=6)
