"""incident drill: the scenarios, the autopilot end to end on simulated time (real SQS via moto's
server, the SP-API simulator through python-amazon-sp-api), polling where moto is not installed,
the scorecard and its keeping."""

from __future__ import annotations

import json
import sys

import pytest

from incident.sandbox import drills
from incident.workspace import reserved

KEYS = ("time_to_detect_s", "time_to_stop_sales_s", "time_to_submit_s", "time_to_fba_request_s",
        "mfn_orders_saved", "mfn_orders_lost", "fba_orders_saved", "fba_orders_lost")


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)


@pytest.mark.long
def test_autopilot_on_the_second_incident_prints_the_scorecard_and_keeps_it(cli, aws, home):
    # the team's last drill of this scenario, kept as `drill` keeps it (one drill run is enough)
    kept_in = reserved.drills(home)
    kept_in.mkdir()
    (kept_in / "20261101T100000Z-coupon-after-cancelled-promo.json").write_text(json.dumps(
        {"scenario": "coupon-after-cancelled-promo", "mode": "push", "time_to_detect_s": 42.0}))
    out = cli("drill", "--scenario", "coupon-after-cancelled-promo", "--autopilot").stdout
    kept = sorted(kept_in.glob("*.json"))
    assert len(kept) == 2
    card = json.loads(kept[-1].read_text())
    assert all(key in card for key in KEYS)
    assert card["time_to_detect_s"] <= 10
    assert card["time_to_stop_sales_s"] <= 60
    assert card["time_to_fba_request_s"] - card["time_to_detect_s"] <= 120
    placed = card["mfn_orders_saved"] + card["mfn_orders_lost"]
    assert placed and card["mfn_orders_saved"] / placed >= 0.95
    assert card["orders_at_bad_price"] == 400 and card["saved_share"] > 0.75  # better than the real incident
    assert set(card["ratings"].values()) <= set(("done without problems", "done with some problems",
                                                 "done with major problems", "not done"))
    detected = next(line for line in out.splitlines() if line.strip().startswith("Detected"))
    assert f"{card['time_to_detect_s']:.0f} s" in detected and detected.endswith("(last drill: 42 s)")
    assert "Saved" in out
    history = cli("drill", "history").stdout  # a card from an older version, without every time, shows "-"
    assert "20261101T100000Z-coupon-after-cancelled-promo.json" in history and kept[-1].name in history


# The autopilot by polling alone, as a plain install (no moto) runs it: test_cli.py's
# test_a_plain_install_runs_the_drill.


@pytest.fixture
def no_moto(monkeypatch):
    """moto's server cannot be imported, as after `pip install .` without the drill extra."""
    monkeypatch.setitem(sys.modules, "moto.server", None)


def test_without_moto_a_drill_polls_and_says_so(no_moto):
    from incident import drill

    assert drill.choose_mode(None) == ("poll", drill.NO_QUEUE)
    assert drill.choose_mode("poll") == ("poll", None)
    assert "incident[drill]" in drill.NO_QUEUE and "\n" not in drill.NO_QUEUE


def test_with_moto_a_drill_pushes():
    from incident import drill

    assert drill.choose_mode(None) == ("push", None)


def test_asking_for_push_without_moto_says_what_to_install(cli, home, no_moto):
    result = cli("drill", "--autopilot", "--mode", "push", code=2)
    assert "pip install 'incident[drill]'" in result.stderr and result.stderr.count("\n") == 1
    assert not (home / ".account" / "drills").exists()  # refused before anything was started


def test_a_team_scenario_file_builds_on_a_built_in_one(tmp_path):
    path = tmp_path / "our-flash-sale.yaml"
    path.write_text("based_on: deal-plus-coupon\norders: 120\nminutes: 10\ncurve: ramp\nfba_pick_minutes: 45\n")
    scenario = drills.load(str(path))
    assert (scenario.name, scenario.orders, scenario.minutes, scenario.curve) == ("our-flash-sale", 120, 10.0, "ramp")
    assert scenario.discount_share == drills.BUILTIN["deal-plus-coupon"].discount_share


@pytest.mark.parametrize("text, where, words", [
    ("orders: 400\nminutes: three\n", ":2:10:", "minutes: 'three' is not a number"),
    ("orders: 400\n  speed: 3\n", ":2:", "not valid YAML"),
    ("orderz: 400\n", ":1:1:", "'orderz' is not a scenario setting"),
    ("curve: zigzag\n", ":1:8:", "curve: 'zigzag' is not one of front, even, ramp"),
    ("mfn_share: 1.5\n", ":1:12:", "mfn_share: 1.5 is out of range"),
])
def test_a_bad_scenario_file_names_file_line_and_column(cli, tmp_path, text, where, words):
    path = tmp_path / "ours.yaml"
    path.write_text(text)
    result = cli("drill", "--scenario", path, "--autopilot", code=3)
    assert f"{path}{where}" in result.stderr and words in result.stderr
    assert "Traceback" not in result.output


def test_an_unknown_scenario_is_a_usage_error(cli):
    assert "use wrong-product, coupon-after-cancelled-promo, deal-plus-coupon" in \
        cli("drill", "--scenario", "nope", "--autopilot", code=2).stderr


def test_a_team_that_does_nothing_loses_every_order(home, monkeypatch):
    from conftest import free_port

    from incident import drill

    announced = []
    card, path, _ = drill.team_drill("coupon-after-cancelled-promo", home, speed=1800, minutes=15, port=free_port(),
                                     push=False, announce=announced.extend)
    assert any("export INCIDENT_SPAPI_ENDPOINT=http://127.0.0.1:" in line for line in announced)
    assert card["autopilot"] is False and card["time_to_detect_s"] is None
    assert set(card["ratings"].values()) == {"not done"}
    assert card["mfn_orders_saved"] == card["fba_orders_saved"] == 0
    assert card["mfn_orders_lost"] + card["fba_orders_lost"] == card["orders_at_bad_price"] == 400
    assert path.exists()
