"""Seller Support texts: the FBA cancellation request, the account-annotation request and the
account manager's note, each with the CSV of order ids to attach; golden files in two languages."""

from __future__ import annotations

import csv
import os
import re
import stat

import pytest
from conftest import ASSETS, SAMPLES

GOLDEN = ASSETS / "golden"
KINDS = ["fba-request", "annotation", "account-manager"]


def exports(home):
    return next(home.glob("*/exports"))


@pytest.fixture
def ready(small_incident, cli):
    small_incident("cancel", "export")
    return small_incident


@pytest.mark.parametrize("language", ["en-US", "ja-JP"])
@pytest.mark.parametrize("kind", KINDS)
def test_support_text_matches_the_golden_file(ready, home, kind, language):
    ready("step", "done", "fba-request")
    ready("notify", "render")
    ready("notify", "send", "--via", "outbox", code=6)  # the FBA buyer has no e-mail: 3 of 4 told
    ready("support", kind, "--language", language)
    # the log's head hash changes with every run's times and paths
    text = re.sub(r"\b[0-9a-f]{64}\b", "<log head>", (exports(home) / f"support-{kind}.txt").read_text(encoding="utf-8"))
    golden = GOLDEN / f"support-{kind}-{language}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


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
    assert out.startswith("Subject: Cancel 1 FBA orders\n\nOur words, tester.")
