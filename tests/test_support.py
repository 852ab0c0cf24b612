"""Seller Support texts: the FBA cancellation request, the account-annotation request and the
account manager's note, each with the CSV of order ids to attach; golden files in two languages."""

from __future__ import annotations

import csv
import os
import re
import stat

import pytest
from conftest import ASSETS, SAMPLES, WINDOW

GOLDEN = ASSETS / "golden"
KINDS = ["fba-request", "annotation", "account-manager"]


def exports(home):
    return next(home.glob("*/exports"))


@pytest.fixture
def ready(small_incident, cli):
    """Exported, then Amazon shows the three exported orders cancelled."""
    small_incident("cancel", "export")
    small_incident("pull", "--report", ASSETS / "all-orders-small-cancelled.txt")
    return small_incident


def _times_made_stable(text: str) -> str:
    """Times of actions are when the test ran: the window's own times (2026-11-20) stay."""
    return re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} [A-Z]{3,4} \((?:\d{4}-\d{2}-\d{2} )?\d{2}:\d{2} UTC\)",
                  lambda m: m.group() if m.group().startswith("2026-11-20") else "<time>", text)


@pytest.mark.parametrize("language", ["en-US", "ja-JP"])
@pytest.mark.parametrize("kind", KINDS)
def test_support_text_matches_the_golden_file(ready, home, kind, language):
    ready("step", "done", "stop-bleeding")
    ready("support", "fba-request", "--sent")
    ready("notify", "render")
    ready("notify", "send", "--via", "outbox")  # the FBA buyer has no e-mail: 3 of 4 told
    ready("support", kind, "--language", language)
    # the times of actions and the log's head hash change with every run
    text = _times_made_stable(re.sub(r"\b[0-9a-f]{64}\b", "<log head>",
                                     (exports(home) / f"support-{kind}.txt").read_text(encoding="utf-8")))
    golden = GOLDEN / f"support-{kind}-{language}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_a_text_states_only_what_the_record_shows(small_incident, home):
    out = small_incident("support", "fba-request").stdout
    assert "We are stopping the sales now." in out and "We stopped" not in out
    assert "cancelled" not in out.split("Please cancel")[0]  # nothing cancelled, nothing said
    small_incident("cancel", "export")
    assert "We are cancelling our 3 seller-fulfilled orders now." in small_incident("support", "fba-request").stdout
    small_incident("step", "done", "stop-bleeding")
    out = small_incident("support", "fba-request").stdout
    assert "We stopped the sales at 20" in out
    refused = small_incident("support", "annotation", code=5)
    assert "no order is cancelled at your request yet" in refused.stderr
    assert not (exports(home) / "support-annotation.txt").exists()
    # the corrective action is a plan until the checklist shows it done
    small_incident("pull", "--report", ASSETS / "all-orders-small-cancelled.txt")
    assert "we are putting in place a second person's approval" in small_incident("support", "annotation").stdout
    small_incident("step", "done", "review-promotions")
    assert "every promo code and deal is approved by a second person" in small_incident("support", "annotation").stdout


def test_a_request_about_no_order_is_refused(cli):
    cli("open", "--sku", "SKU-A", *WINDOW)
    cli("pull", "--report", ASSETS / "all-orders-small.txt", "--report", ASSETS / "unshipped-small.txt")
    cli("step", "skip", "fba-request", "--reason", "test")
    assert "no FBA order" not in cli("support", "fba-request").stderr  # one FBA order here
    cli("open", "--sku", "SKU-OTHER", *WINDOW)
    cli("pull", "--report", ASSETS / "all-orders-small.txt")
    refused = cli("support", "fba-request", "--sent", code=5)
    assert "no FBA order in the incident" in refused.stderr


def test_texts_are_signed_by_the_seller_never_the_login_name(small_incident, monkeypatch):
    assert small_incident("support", "account-manager").stdout.rstrip().endswith("Sam Tester, Sonic Audio LLC")
    assert "Dana, Acme" in small_incident("support", "account-manager", "--signature", "Dana, Acme").stdout
    monkeypatch.delenv("INCIDENT_SELLER_NAME")
    monkeypatch.delenv("INCIDENT_SELLER_COMPANY")
    refused = small_incident("support", "account-manager", code=2)
    assert "--signature" in refused.stderr and "tester" not in refused.stdout


def test_us_texts_use_us_spelling(small_incident):
    out = small_incident("support", "fba-request").stdout
    assert "fulfillment center" in out and "fulfilment" not in out


def test_the_fba_request_sent_also_completes_the_first_contact(small_incident, cli):
    small_incident("support", "fba-request", "--sent")
    steps = {s["id"]: s["state"] for s in cli.json("status")["steps"]}
    assert steps["fba-request"] == "done" and steps["contact-support"] == "done"


def test_account_manager_note_can_be_marked_sent(small_incident, cli):
    small_incident("support", "account-manager", "--sent")
    assert {s["id"]: s["state"] for s in cli.json("status")["steps"]}["contact-support"] == "done"


def test_each_request_comes_with_its_order_ids_as_a_private_csv(ready, home):
    ready("support", "fba-request")
    ready("support", "annotation")
    folder = exports(home)
    fba = [r["order-id"] for r in csv.DictReader((folder / "support-fba-request-orders.csv").open())]
    cancelled = [r["order-id"] for r in csv.DictReader((folder / "support-annotation-orders.csv").open())]
    assert fba == ["111-0000003-0000003"]
    assert cancelled == ["111-0000001-0000001", "111-0000002-0000002", "111-0000009-0000009"]
    for path in folder.glob("support-*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_marking_a_request_sent_ticks_its_step(ready, cli):
    ready("support", "fba-request", "--sent")
    ready("support", "annotation", "--sent")
    steps = {s["id"]: s for s in cli.json("status")["steps"]}
    assert steps["fba-request"]["state"] == "done" and steps["fba-request"]["by"] == "tester"
    assert steps["annotation-request"]["state"] == "done"
    assert any(e["action"] == "support_fba_request_sent" for e in cli.json("log"))


def test_a_japanese_incident_writes_to_seller_support_in_japanese(cli, home):
    import json

    spec = json.loads((SAMPLES / "jp" / "scope.json").read_text())
    cli("open", "--sku", spec["skus"][0], "--start", spec["start"], "--end", spec["end"], "--floor", spec["floor"])
    cli("pull", "--report", SAMPLES / "jp" / "all-orders.txt", "--report", SAMPLES / "jp" / "unshipped.txt")
    assert "テクニカルサポートご担当者様" in cli("support", "fba-request").stdout
    assert "URGENT" in cli("support", "account-manager", "--language", "en-US").stdout


def test_seller_can_override_a_support_template(ready, tmp_path):
    (tmp_path / "support" / "fba-request").mkdir(parents=True)
    (tmp_path / "support" / "fba-request" / "en-US.txt.j2").write_text(
        "Cancel {{ fba_orders|length }} FBA orders\n\nOur words, {{ seller_name }}.\n")
    out = ready("support", "fba-request", "--templates", tmp_path).stdout
    assert out.startswith("Subject: Cancel 1 FBA orders\n\nOur words, Sam Tester, Sonic Audio LLC.")
