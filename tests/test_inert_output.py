"""What reaches a terminal, a file or an e-mail is inert (issue 11, §4): report data is shown as
text only (control characters visible, rich markup as typed, no OSC 8 link, no bidi reordering),
CSV cells are never formulas, a notice from a text template is plain text, and a notice goes to
exactly one bare address."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from email import message_from_bytes
from pathlib import Path

import pytest
from conftest import ASSETS, WINDOW

SMALL_ALL, SMALL_UNSHIPPED = ASSETS / "all-orders-small.txt", ASSETS / "unshipped-small.txt"
# what an attacker puts in a product name or a promotion id (through the API, or a report for the bidi)
HOSTILE = ("Sonic \x1b[2J\x1b]8;;http://evil.example\x07click\x1b]8;;\x07 \u202eevil\u202c"
           " [bold red]BOOM[/] [link=http://evil.example]x[/link]")
RAW = ("\x1b", "\x07", "\u202e", "\u202c")


def raw_free(text: str) -> bool:
    return not any(char in text for char in RAW)


def hostile_line(home: Path, **fields) -> None:
    """An order line as the live API could bring it (the report reader refuses these characters)."""
    from decimal import Decimal

    from incident.workspace import store as store_mod

    with store_mod.open_store(home) as store, store.change("test", "pull_live", {}) as conn:
        line = store.lines()[0]
        values = {"product_name": HOSTILE, "promotion_ids": "PROMO\x1b[31m", "item_price": Decimal("100.00"),
                  **fields}
        for name, value in values.items():
            setattr(line, name, value)
        store.save_lines(conn, [line])


# -- the one function --------------------------------------------------------------------------------


def test_invisible_covers_every_control_format_and_separator_character():
    from incident.safetext import INVISIBLE

    missing = [hex(cp) for cp in range(0x110000)
               if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Zl", "Zp", "Cs") and not INVISIBLE.match(chr(cp))]
    assert missing == []


def test_shown_makes_control_characters_visible_and_keeps_text():
    from incident.safetext import shown

    assert shown("a\x1b[31mb\u202ec\tд\U000e0041") == "a\\x1b[31mb\\u202ec\\x09д\\U000e0041"
    assert shown("ソニック Crème [bold]") == "ソニック Crème [bold]" and shown(None) == ""


def test_json_inert_is_the_same_data_for_a_program():
    from incident.safetext import json_inert

    data = {"name": "x\u202ey\x85\U000e0041", "n": [1, "\x1b"]}
    text = json_inert(json.dumps(data, indent=2, ensure_ascii=False))
    assert json.loads(text) == data and raw_free(text) and "\x85" not in text


@pytest.mark.parametrize("cell, expected", [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+cmd", "'+cmd"), ("@SUM(A1)", "'@SUM(A1)"), ("-x", "'-x"),
    ("\tx", "'\tx"), ("-244.99", "-244.99"), ("12", "12"), ("plain", "plain")])
def test_formula_safe(cell, expected):
    from incident.safetext import formula_safe

    assert formula_safe(cell) == expected


def test_csv_cell_is_visible_and_never_a_formula():
    from incident.safetext import csv_cell

    assert csv_cell("=\x1b[2Jcmd") == "'=\\x1b[2Jcmd"


# -- the commands -------------------------------------------------------------------------------------


def test_a_bidi_override_and_markup_from_a_report_are_shown_as_typed(cli, tmp_path, monkeypatch):
    from rich.console import Console

    import incident.cli as cli_module

    lines = SMALL_ALL.read_text().splitlines()
    lines[1] = lines[1].replace("Sonic Pro Headphones", "Sonic \u202eevil\u202c [bold red]BOOM[/] [link=http://e.example]x[/link]")
    report = tmp_path / "all.txt"
    report.write_text("\n".join(lines) + "\n")
    cli("open", "--sku", "SKU-A", *WINDOW)
    cli("pull", "--report", report)
    piped = cli("orders").stdout  # `orders` shows no product name; the JSON and CSV do
    assert raw_free(piped)
    screen = io.StringIO()
    monkeypatch.setattr(cli_module, "out", Console(file=screen, force_terminal=True, width=400))
    cli("log")
    assert "\x1b]8;" not in screen.getvalue()  # rich drew the table, made no link
    as_json = cli("orders", "--json").stdout
    assert raw_free(as_json) and "\\u202e" in as_json
    assert json.loads(as_json)[0]["product_name"].startswith("Sonic \u202eevil")  # the data itself is unchanged
    as_csv = cli("orders", "--csv").stdout
    assert raw_free(as_csv) and "Sonic \\u202eevil\\u202c [bold red]BOOM[/]" in as_csv


def test_escape_sequences_from_the_api_never_reach_the_terminal_or_the_csv(small_incident, home, monkeypatch):
    from rich.console import Console

    import incident.cli as cli_module

    hostile_line(home)
    for args in (["orders"], ["orders", "--csv"], ["orders", "--json"], ["status"], ["status", "--json"]):
        assert raw_free(small_incident(*args).stdout), args
    as_csv = small_incident("orders", "--csv").stdout
    assert "Sonic \\x1b[2J\\x1b]8;;http://evil.example\\x07click" in as_csv and "PROMO\\x1b[31m" in as_csv
    screen = io.StringIO()
    monkeypatch.setattr(cli_module, "out", Console(file=screen, force_terminal=True, width=400))
    small_incident("orders", "--bucket", "cancellable_mfn")
    small_incident("status")
    assert "\x1b]8;" not in screen.getvalue() and "\x1b[2J" not in screen.getvalue()


def test_a_file_name_with_escape_sequences_is_shown_visible_in_pull_and_log(cli, tmp_path):
    evil = tmp_path / "all\x1b]0;pwned\x07\x1b[31m.txt"
    evil.write_bytes(SMALL_ALL.read_bytes())
    cli("open", "--sku", "SKU-A", *WINDOW, "--title", "Stacked \x1b[2J discount")
    pulled = cli("pull", "--report", evil)
    assert raw_free(pulled.stdout) and "read all\\x1b]0;pwned\\x07\\x1b[31m.txt" in pulled.stdout
    log = cli("log").stdout
    assert raw_free(log) and "all\\u001b]0;pwned" in log  # the event's JSON details, escaped as JSON does
    status = cli("status").stdout
    assert raw_free(status) and "Stacked \\x1b[2J discount" in status
    assert raw_free(cli("list").stdout)


def test_an_error_quoting_a_cell_shows_it_visible(cli, tmp_path):
    lines = SMALL_ALL.read_text().splitlines()
    lines[1] = lines[1].replace("\t100.00\t", "\t1e9:warning:[bold]\t", 1)
    report = tmp_path / "all.txt"
    report.write_text("\n".join(lines) + "\n")
    cli("open", "--sku", "SKU-A", *WINDOW)
    result = cli("pull", "--report", report, code=3)
    assert raw_free(result.stderr) and "'1e9:warning:[bold]'" in result.stderr  # no emoji, no markup


def test_the_seller_support_texts_hold_report_data_as_text_only(small_incident, home):
    small_incident("cancel", "export")
    hostile_line(home, order_status="Unshipped", fulfillment_channel="Amazon")
    result = small_incident("support", "fba-request")
    assert raw_free(result.stdout) and "PROMO\\x1b[31m" in result.stdout
    folder = next(home.glob("*/exports"))
    for path in folder.glob("support-*"):
        assert raw_free(path.read_text(encoding="utf-8")), path


# -- notices ------------------------------------------------------------------------------------------


def _eml(home: Path) -> list:
    return [message_from_bytes(p.read_bytes()) for p in sorted(home.glob("*/outbox/*.eml"))]


def test_a_notice_from_a_text_template_is_plain_text_whatever_the_product_name(cli, tmp_path, home):
    lines = SMALL_ALL.read_text().splitlines()
    lines[1] = lines[1].replace("Sonic Pro Headphones", "<script>alert(1)</script><b>Sonic</b>")
    report = tmp_path / "all.txt"
    report.write_text("\n".join(lines) + "\n")
    cli("open", "--sku", "SKU-A", *WINDOW, "--floor", "50")
    cli("pull", "--report", report, "--report", SMALL_UNSHIPPED)
    cli("cancel", "export")
    cli("notify", "render")
    cli("notify", "check", "--force", "--reason", "testing what a product name does")
    cli("notify", "send", "--via", "outbox")
    messages = _eml(home)
    assert messages and {m.get_content_type() for m in messages} == {"text/plain"}
    assert any("<script>alert(1)</script>" in m.get_payload(decode=True).decode() for m in messages)


def test_html_only_from_an_html_template_and_escaped(cli, tmp_path, home):
    lines = SMALL_ALL.read_text().splitlines()
    lines[1] = lines[1].replace("Sonic Pro Headphones", "<script>alert(1)</script>")
    report = tmp_path / "all.txt"
    report.write_text("\n".join(lines) + "\n")
    own = tmp_path / "templates" / "notice"
    own.mkdir(parents=True)
    (own / "en-US.html.j2").write_text("Order {{ order_id }}\n<p>We are sorry about {{ products }} "
                                       "({{ order_id }}).</p>\n<p>{{ seller_name }}</p>\n")
    cli("open", "--sku", "SKU-A", *WINDOW, "--floor", "50")
    cli("pull", "--report", report, "--report", SMALL_UNSHIPPED)
    cli("cancel", "export")
    cli("notify", "render", "--templates", tmp_path / "templates")
    cli("notify", "check", "--force", "--reason", "an HTML notice by mail")
    cli("notify", "send", "--via", "outbox")
    messages = _eml(home)
    assert messages and {m.get_content_type() for m in messages} == {"text/html"}
    bodies = [m.get_payload(decode=True).decode() for m in messages]
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in body for body in bodies)
    assert not any("<script>" in body or "incident: text/html" in body for body in bodies)


def test_a_notice_goes_to_exactly_one_bare_address(small_incident, home):
    small_incident("cancel", "export")
    hostile_line(home, buyer_email="victim@marketplace.amazon.com, attacker@evil.example", product_name="Sonic")
    small_incident("notify", "render")
    result = small_incident("notify", "send", "--via", "outbox", code=6)
    assert "not exactly one bare e-mail address" in result.stderr and "evil.example" not in result.stderr
    written = b"".join(p.read_bytes() for p in home.glob("*/outbox/*"))
    assert b"attacker@evil.example" not in written
    test_to = small_incident.runner.invoke(__import__("incident.cli", fromlist=["app"]).app,
                                           ["notify", "send", "--via", "outbox", "--test-to", "a@x.example, b@y.example"])
    assert test_to.exit_code == 2 and test_to.stderr.count("\n") == 1


def test_outbox_csv_cells_are_never_formulas(small_incident, home, tmp_path):
    own = tmp_path / "templates" / "notice"
    own.mkdir(parents=True)
    (own / "en-US.txt.j2").write_text("=SUM(1;2) {{ order_id }}\n"
                                      "We are sorry about order {{ order_id }}.\n{{ seller_name }}\n")
    small_incident("cancel", "export")
    small_incident("notify", "render", "--templates", tmp_path / "templates")
    small_incident("notify", "send", "--via", "outbox")
    rows = list(csv.DictReader(next(home.glob("*/outbox/outbox.csv")).open(encoding="utf-8")))
    assert rows and all(row["subject"].startswith("'=SUM(1;2)") for row in rows)

