"""A checklist that follows what happened: `next` never suggests a command that would fail now,
the guide stops at a failed command, goes through render, check and send, and says at the end
how many steps are still open."""

from __future__ import annotations

import pytest

from conftest import ASSETS, WINDOW


def test_next_says_not_yet_instead_of_a_command_that_would_fail(cli):
    cli("open", "--sku", "SKU-OTHER", *WINDOW)  # one seller-fulfilled line, its item code not known yet
    cli("pull", "--report", ASSETS / "all-orders-small.txt")
    for step in ("stop-bleeding", "contact-support"):
        cli("step", "done", step)
    nxt = cli.json("next")
    assert nxt["id"] == "cancel-export" and "no order can be cancelled by you now" in nxt["not_yet"]
    cli("step", "skip", "cancel-export", "--reason", "test")
    cli("step", "skip", "cancel-upload", "--reason", "test")
    nxt = cli.json("next")
    assert nxt["id"] == "fba-request" and "no FBA order" in nxt["not_yet"]
    assert "Run:" not in cli("next").stdout and "Not yet: no FBA order" in cli("next").stdout


def test_the_guide_stops_at_a_failed_command(cli):
    cli("open", "--sku", "SKU-A", *WINDOW, "--floor", "50")
    answers = "\n".join(["y", str(ASSETS / "missing.txt"), str(ASSETS / "unshipped-small.txt"), "y"]) + "\n"
    result = cli("guide", input=answers, code=3)
    assert "the guide stops here" in result.stdout
    assert "contact-support" not in result.stdout.split("the guide stops here")[1]


@pytest.mark.long
def test_the_guide_goes_through_render_check_and_send_and_counts_what_is_open(small_incident, cli):
    for step in ("stop-bleeding", "contact-support"):
        cli("step", "done", step)
    cli("cancel", "export")
    cli("step", "done", "cancel-upload")
    cli("support", "fba-request", "--sent")
    # order 9's product name holds a link: the check fails and the guide stops there
    out = cli("guide", input="Sonic Audio\ny\ny\n", code=6).stdout
    assert "Run `incident notify check" in out and "the guide stops here" in out
    cli("notify", "check", "--force", "--reason", "the link is the product's own name")
    answers = "\n".join([
        "Sonic Audio", "y",    # notify render --seller-name ...
        "y",                   # notify check
        "outbox", "y",         # notify send --via outbox
        "l",                   # the notices step: later (the FBA buyer is reached through the API only)
        "l",                   # annotation: not yet (nothing cancelled on Amazon yet), later
        "n",                   # review-promotions: not running preflight now
        "q",
    ]) + "\n"
    out = cli("guide", input=answers).stdout
    assert "Run `incident notify send" in out
    assert cli.json("status")["notices"]["sent"] == 3  # the commands run as their own processes
    assert "steps are still open" in out and "Left for later: notify-buyers, annotation-request" in out
