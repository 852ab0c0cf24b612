"""Preflight: the worst stacked price per SKU and stretch of time, the flags, and second-person
approvals. Live through the real python-amazon-sp-api client against the project's simulator
(Promotions API 2025-12-01 and getListingsItem), offline from real files, with the account
database on disk."""

from __future__ import annotations

import copy
import json
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from conftest import SAMPLES, use_simulator
from spapi_models import MODELS

from incident.amazon import spapi
from incident.amazon.ratelimits import RealClock, VirtualClock
from incident.prevent import listing_prices, preflight, promotions_api, rules
from incident.prevent import plan as plan_mod
from incident.prevent.flags import Limits
from incident.prevent.model import Benefit, Catalog, Promotion
from incident.sandbox import promotions as sim_promotions
from incident.sandbox.scenario import Scenario
from incident.sandbox.server import Simulator
from incident.workspace import reserved
from incident.workspace.account import ACCOUNT_DB, open_account

PLAN, PRICES = SAMPLES / "preflight" / "plan.yaml", SAMPLES / "preflight" / "prices.csv"
SAMPLE_AT = "2026-11-19T00:00Z"
FAST = {name: (50.0, 50) for name in sim_promotions.PLANS}  # for a client on the real clock


def account_simulator(*names: str, extra_skus: int = 0, clock=None, plans=FAST, **options) -> Simulator:
    """A US account with the sample catalogue and the named promotion scenarios, no orders.
    The Promotions API is fast unless `plans` says otherwise (Amazon's unpublished 0.1/s would
    make a command-line test wait)."""
    clock = clock or VirtualClock()
    now = datetime.fromtimestamp(clock.now()).astimezone()
    scenario = Scenario("US", 1, begin=now, finish=now, window_start=now, window_end=now, burst_orders=0,
                        background_orders=0, extra_skus=extra_skus)
    simulator = Simulator(scenario, clock=clock, plans=plans, **options)
    simulator.promotions = sim_promotions.book(scenario.catalog, simulator.now(), "USD", names=names)
    return simulator


@pytest.fixture
def live(monkeypatch, home):
    """Run preflight against a started simulator, through the real client, on its virtual clock."""
    started = []

    def run(simulator: Simulator, **files) -> preflight.Report:
        if simulator not in started:
            simulator.start()
            started.append(simulator)
            use_simulator(monkeypatch, simulator)
            monkeypatch.setenv("INCIDENT_MARKETPLACE", "US")
        settings = spapi.load_settings("US")
        sources = preflight.Sources(connection=spapi.Connection(settings, clock=simulator.clock),
                                    marketplace=settings.marketplace, **files)
        return preflight.run(home, sources, Limits(simulator.now()), "tester")
    yield run
    for simulator in started:
        simulator.stop()


def as_json(cli, *args, code: int = 1) -> dict:
    return json.loads(cli(*args, "--json", code=code).stdout)


def codes(report: preflight.Report, promotion_id: str | None = None) -> set[str]:
    return {f.code for f in report.flags if promotion_id is None or promotion_id in f.promotions}


def by_title(report: preflight.Report, fragment: str) -> str:
    return next(p.id for p in report.promotions if fragment in p.title)


# -- the incidents, live ---------------------------------------------------------------------

@pytest.mark.long
def test_incident_1_a_promo_code_on_the_wrong_product_with_a_coupon(live):
    report = live(account_simulator("incident-1", "clean"))
    code = by_title(report, "Instagram")
    assert {"wrong_product", "coupon_overlap", "below_floor", "shared_code_unlimited", "amazon_issue"} <= codes(report, code)
    wrong = next(f for f in report.flags if f.code == "wrong_product")
    assert "names CASE-HP-GRY" in wrong.reason and "SONIC-HP-BLK" in wrong.reason
    stacked = next(s for s in report.stretches if code in s.promotion_ids)
    assert stacked.worst_price == 0 and stacked.sku == "SONIC-HP-BLK"  # 40% + 60% of the original price
    assert "HAS_OVERLAPPING_PROMOTIONS" in next(f.reason for f in report.flags if f.code == "amazon_issue")
    assert report.outcome == "critical"


def test_incident_2_a_coupon_right_after_a_cancelled_promo_code(live):
    simulator = account_simulator("incident-2")
    cancelled = simulator.promotions.promotions[0].cancelled_at.replace(microsecond=0)
    report = live(simulator)
    coupon, code = by_title(report, "50% coupon"), by_title(report, "30% code")
    assert next(p for p in report.promotions if p.id == code).status == "CANCELLED"
    cooling = next(f for f in report.flags if f.code == "cooling_off")
    assert cooling.promotions == [coupon, code] and "3.0 h after" in cooling.reason and "was cancelled" in cooling.reason
    # the cancelled code may still be live for the rules' 24 hours: the stack is priced and critical
    stacked = next(s for s in report.stretches if set(s.promotion_ids) == {coupon, code})
    assert stacked.worst_price == Decimal("249.99") * Decimal("0.2")
    assert stacked.end == cancelled + timedelta(hours=24)
    assert {"below_floor", "coupon_overlap"} <= set(stacked.flags)


def test_a_lightning_deal_stacked_on_a_coupon(live):
    report = live(account_simulator("lightning"))
    deal = by_title(report, "Lightning")
    stacked = next(s for s in report.stretches if deal in s.promotion_ids)
    # the deal's price is the base; the coupon's 30% is of the original price (the worst case)
    assert stacked.worst_price == Decimal("9.09") - Decimal("12.99") * Decimal("0.3")
    assert {"below_floor", "coupon_overlap"} <= set(stacked.flags)
    floor = next(f for f in report.flags if f.code == "below_floor")
    assert "minimum price" in floor.reason and floor.skus == ["CABLE-USBC-2M"]


def test_a_clean_set_passes_once_approved(live, cli):
    simulator = account_simulator("clean")
    report = live(simulator)
    assert codes(report) == {"not_approved"} and report.critical == 0
    for promotion in report.promotions:
        cli("preflight", "approve", promotion.id, "--by", "mia")
    again = live(simulator)
    assert again.flags == [] and again.outcome == "clean"
    assert {a.state for a in again.approvals.values()} == {"valid"}


def test_a_throttled_promotions_api_is_retried_not_fatal(live):
    simulator = account_simulator("incident-1", "lightning", "clean", plans=sim_promotions.PLANS)
    fault = simulator.inject("getPromotion", "throttle", times=3, after=1)
    searched = simulator.inject("searchPromotions", "throttle", times=1, retry_after=2.0)
    report = live(simulator)
    assert fault.times == 0 and searched.times == 0
    assert len([p for p in report.promotions if p.is_promotion]) == 6
    # afterwards the client paces by x-amzn-RateLimit-Limit: the server's own bucket never refused it
    assert simulator.throttled.get("getPromotion", 0) == 0


def test_a_catalog_selection_is_every_product_but_its_exclusions(live, tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text(PRICES.read_text(encoding="utf-8"), encoding="utf-8")
    report = live(account_simulator("catalog"), prices=prices)
    store_wide = by_title(report, "Store-wide")
    covered = {s.sku for s in report.stretches if store_wide in s.promotion_ids}
    assert covered == {"SONIC-HP-WHT", "CABLE-USBC-2M", "CASE-HP-GRY", "CAFE-MUG-CREME"}  # SONIC-HP-BLK excluded
    assert "catalog_selection" in codes(report, store_wide)


def test_selections_and_searches_are_paged_to_the_end(live):
    simulator = account_simulator(extra_skus=250)
    catalog = simulator.scenario.catalog
    now = simulator.now()
    deal = sim_promotions.scenario("lightning", catalog, now, "USD")[1]
    deal.items = [sim_promotions._item(p, {"type": "DISCOUNTED_PRICE", "discount": {"type": "PERCENTAGE_OFF",
                                                                                      "percentOff": 10}})
                  for p in catalog[5:]]
    filler = [sim_promotions.scenario("clean", catalog, now, "USD")[0] for _ in range(30)]
    for number, promotion in enumerate(filler):
        promotion.promotion_id = f"sim-filler-{number}"
        promotion.end = now - timedelta(days=30)  # expired long ago: filtered out, pages come back empty
    cancelled = sim_promotions.scenario("incident-2", catalog, now, "USD")[0]  # cancelled an hour ago
    simulator.promotions.promotions = filler + [deal, cancelled]
    report = live(simulator)
    assert cancelled.promotion_id in {p.id for p in report.promotions}  # on the second page of the second search
    found = next(p for p in report.promotions if p.id == deal.promotion_id)
    assert len(found.items) == 250 and {i.sku for i in found.items} == {p.sku for p in catalog[5:]}
    pages = [q for op, q in simulator.calls if op == "getSelection"]
    assert len(pages) == 2 and all(q.get("paginationToken") and q.get("revisionId") == "1" for q in pages)
    searches = [q for op, q in simulator.calls if op == "searchPromotions"]
    assert len(searches) == 4  # 32 promotions at 25 a page, for the current and then the recent statuses


# -- approvals -------------------------------------------------------------------------------

def test_the_person_who_set_it_up_cannot_approve_it(cli, home):
    refused = cli("preflight", "approve", "INSTA60", "--by", "Jun", "--plan", PLAN, "--offline", code=5)
    assert "INSTA60 ('Instagram 60% code') was set up by jun: Jun cannot approve it" in refused.output
    assert not reserved.database(home, ACCOUNT_DB, create=False).exists() or not open_account(home).approvals()
    cli("preflight", "approve", "INSTA60", "--by", "mia", "--plan", PLAN, "--offline")
    with open_account(home) as account:
        assert account.approvals()["INSTA60"]["approved_by"] == "mia"


def test_a_plan_note_names_who_set_up_an_amazon_promotion(live, cli, tmp_path, monkeypatch):
    simulator = account_simulator("incident-1")
    report = live(simulator)
    code = by_title(report, "Instagram")
    notes = tmp_path / "plan.yaml"
    notes.write_text(f"promotions:\n  - promotion_id: {code}\n    set_up_by: jun\n    meant_for: the hard case\n")
    refused = cli("preflight", "approve", code, "--by", "jun", "--plan", notes, code=5)
    assert "cannot approve" in refused.output
    assert "no promotion 'sim-nothing'" in cli("preflight", "approve", "sim-nothing", "--by", "mia", code=2).output
    assert [op for op, _ in simulator.calls].count("searchPromotions") == 2  # approving reads only that one
    assert next(p for p in live(simulator, plan=notes).promotions if p.id == code).meant_for == "the hard case"


def test_any_change_voids_an_approval(cli, home, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.read_text(encoding="utf-8"), encoding="utf-8")
    cli("preflight", "approve", "LD-CABLE", "--by", "mia", "--plan", plan, "--offline")
    first = as_json(cli, "preflight", "--offline", "--plan", plan, "--prices", PRICES, "--at", SAMPLE_AT)
    assert next(p for p in first["promotions"] if p["id"] == "LD-CABLE")["approval"]["state"] == "valid"
    plan.write_text(plan.read_text(encoding="utf-8").replace("price: 9.99", "price: 8.99"), encoding="utf-8")
    second = as_json(cli, "preflight", "--offline", "--plan", plan, "--prices", PRICES, "--at", SAMPLE_AT)
    approval = next(p for p in second["promotions"] if p["id"] == "LD-CABLE")["approval"]
    assert approval["state"] == "void" and approval["reason"] == "discount changed since the approval"
    assert any(f["code"] == "not_approved" and "void" in f["reason"] for f in second["flags"])
    plan.write_text(plan.read_text(encoding="utf-8").replace("price: 8.99", "price: 9.99"), encoding="utf-8")
    third = as_json(cli, "preflight", "--offline", "--plan", plan, "--prices", PRICES, "--at", SAMPLE_AT)
    assert next(p for p in third["promotions"] if p["id"] == "LD-CABLE")["approval"]["state"] == "void"  # for good
    with open_account(home) as account:
        actions = [e["action"] for e in account.events()]
        assert actions.count("void_approval") == 1 and actions.count("preflight") == 3
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            account.conn.execute("DELETE FROM events")


# -- offline, from files -----------------------------------------------------------------------

def test_the_sample_plan_flags_both_incidents_offline(cli, home):
    result = cli("preflight", "--offline", "--plan", PLAN, "--prices", PRICES, "--at", SAMPLE_AT,
                 "--marketplace", "US", code=1)
    assert "SONIC-HP-BLK\t2026-11-20 14:00 PST (22:00 UTC)" in result.stdout
    data = as_json(cli, "preflight", "--offline", "--plan", PLAN, "--prices", PRICES, "--at", SAMPLE_AT)
    flagged = {(f["code"], tuple(f["promotions"])) for f in data["flags"]}
    assert ("wrong_product", ("INSTA60",)) in flagged and ("shared_code_unlimited", ("INSTA60",)) in flagged
    assert ("cooling_off", ("COUPON-HP-WHT-50", "WHT-30")) in flagged
    assert ("coupon_overlap", ("LD-CABLE", "COUPON-CABLE-30")) in flagged
    assert {f["code"] for f in data["flags"] if f["severity"] == "critical"} == {"below_floor", "below_cost"}
    with open_account(home) as account:
        assert [r["outcome"] for r in account.runs()] == ["critical", "critical"]


def test_the_json_shape(cli):
    data = as_json(cli, "preflight", "--offline", "--plan", PLAN, "--prices", PRICES, "--at", SAMPLE_AT, "--all")
    assert list(data) == ["version", "checked_at", "marketplace", "currency", "sources", "run", "outcome", "summary",
                          "flags", "stretches", "promotions", "notes"]
    assert list(data["flags"][0]) == ["code", "severity", "reason", "promotions", "skus", "start", "end"]
    assert list(data["stretches"][0]) == ["sku", "start", "end", "worst_price", "list_price", "floor", "unit_cost",
                                          "promotions", "flags"]
    assert list(data["promotions"][0]) == ["id", "source", "kind", "title", "status", "start", "end", "cancelled_at",
                                           "set_up_by", "approval"]
    mug = next(s for s in data["stretches"] if s["sku"] == "CAFE-MUG-CREME")
    assert mug == {"sku": "CAFE-MUG-CREME", "start": "2026-11-21T08:00:00Z", "end": "2026-11-29T07:59:00Z",
                   "worst_price": "15.99", "list_price": "18.50", "floor": "10.00", "unit_cost": "4.20",
                   "promotions": ["MUG-SALE"], "flags": []}


def test_the_csv_plan_reads_as_the_yaml_one():
    csv_plan = plan_mod.read(SAMPLES / "preflight" / "plan.csv")
    yaml_plan = plan_mod.read(PLAN)
    assert [p.content_hash() for p in csv_plan.promotions] == [p.content_hash() for p in yaml_plan.promotions]
    assert [(p.set_up_by, p.meant_for) for p in csv_plan.promotions] == [(p.set_up_by, p.meant_for) for p in yaml_plan.promotions]


@pytest.mark.parametrize("name, text, where, words", [
    ("plan.yaml", "promotions:\n  - kind: coupon\n    discount: 20%\n    skus: [A]\n    start: 2026-11-20 14:00\n",
     "plan.yaml:5:12", "not a time with a UTC offset"),
    ("plan.yaml", "promotions:\n  - kind: coupn\n    discount: 20%\n    skus: [A]\n", "plan.yaml:2:11", "kind 'coupn'"),
    ("plan.yaml", "promotions:\n  - kind: coupon\n    discount: 20%\n    skuss: [A]\n", "plan.yaml:4:12",
     "'skuss' is not a field"),
    ("plan.yaml", "promotions:\n  - kind: coupon\n  discount: [\n", "plan.yaml:3:3", "not valid YAML"),
    ("plan.csv", "id,kind,discount,skus,start\nX,promo_code,1.234.5,A,2026-11-20T14:00Z\n", "plan.csv:2:3",
     "'1.234.5' is not an amount"),
    ("plan.csv", "id,kind,price,skus\nX,coupon,9.99,A\n", "plan.csv:2:3", "takes a discount, not a price"),
])
def test_a_bad_plan_file_is_one_clear_line_and_writes_nothing(cli, home, tmp_path, name, text, where, words):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = cli("preflight", "--offline", "--plan", path, code=3)
    line = result.output.strip()
    assert line.startswith("error: ") and f"{where}" in line and words in line and "Traceback" not in line
    assert len(line.splitlines()) == 1
    assert not reserved.database(home, ACCOUNT_DB, create=False).exists()


def test_a_bad_prices_file_names_line_and_column(cli, tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text("sku,floor,unit_cost\nA,10,5\nB,ten,5\n", encoding="utf-8")
    result = cli("preflight", "--offline", "--plan", PLAN, "--prices", prices, code=3)
    assert "prices.csv:3:2: column 'floor': 'ten' is not an amount" in result.output
    prices.write_text("sku,floor\nA,10\nA,11\n", encoding="utf-8")
    assert "listed twice (also on line 2)" in cli("preflight", "--offline", "--prices", prices, code=3).output


def test_the_stacking_rules_are_data_the_seller_can_replace(cli, tmp_path):
    text = rules.default_path().read_text(encoding="utf-8")
    assert text.count("    source:") == 3 and rules.load().cancelled_stays_live_hours == 24
    mine = tmp_path / "stacking.yaml"
    # a seller who finds that coupons never stack with promo codes: each stands alone
    mine.write_text(text.replace("    kinds: [COUPON, PROMO_CODE, BASKET_BUILDING]\n    effect: add",
                                 "    kinds: [COUPON, PROMO_CODE, BASKET_BUILDING]\n    effect: alone"), encoding="utf-8")
    data = as_json(cli, "preflight", "--offline", "--plan", PLAN, "--prices", PRICES, "--at", SAMPLE_AT, "--all",
                    "--rules", mine)
    stack = next(s for s in data["stretches"] if s["promotions"] == ["COUPON-HP-BLK-40", "INSTA60"])
    assert stack["worst_price"] == "100.00"  # the better of 40% and 60% alone, not both
    mine.write_text(text.replace("effect: base", "effect: basis"), encoding="utf-8")
    assert "effect 'basis' is not known" in cli("preflight", "--offline", "--plan", PLAN, "--rules", mine, code=3).output


def test_discounts_add_up_against_the_original_price():
    stacking = rules.load()
    coupon, code, deal = (stacking.rule_for(Promotion("x", "plan", kind, "x", "PLANNED", None, None))
                          for kind in ("COUPON", "PROMO_CODE", "DEAL"))
    ten_off, ten_percent = Benefit(amount=Decimal(10)), Benefit(percent=Decimal(10))
    assert stacking.worst_price(Decimal(100), [(coupon, ten_off), (code, ten_percent)]) == 80  # Amazon's own example
    assert stacking.worst_price(Decimal(100), [(deal, Benefit(price=Decimal(70))), (coupon, Benefit(percent=Decimal(40)))]) == 30
    assert stacking.worst_price(Decimal(100), [(coupon, Benefit(percent=Decimal(70))), (code, Benefit(percent=Decimal(50)))]) == 0
    assert stacking.worst_price(None, [(coupon, ten_percent)]) is None


def test_a_deal_above_an_incidents_price_within_30_days_is_flagged(small_incident, cli, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("promotions:\n  - id: DEAL-A\n    kind: best_deal\n    price: 90\n    skus: [SKU-A]\n"
                    "    start: 2026-11-25T00:00Z\n    end: 2026-11-28T00:00Z\n    set_up_by: jun\n", encoding="utf-8")
    data = as_json(cli, "preflight", "--offline", "--plan", plan, "--at", "2026-11-21T00:00Z", code=0)
    after = next(f for f in data["flags"] if f["code"] == "after_incident")
    assert after["promotions"] == ["DEAL-A"] and after["skus"] == ["SKU-A"] and "lowest price of the last 30 days" in after["reason"]
    plan.write_text(plan.read_text(encoding="utf-8").replace("2026-11-2", "2026-12-2"), encoding="utf-8")
    later = as_json(cli, "preflight", "--offline", "--plan", plan, "--at", "2026-12-21T00:00Z", code=0)
    assert not any(f["code"] == "after_incident" for f in later["flags"])


def test_text_from_files_is_shown_as_text_not_markup(cli, tmp_path, monkeypatch):
    from rich.console import Console

    monkeypatch.setattr("incident.cli.prevent.out", Console(force_terminal=True, width=400))
    plan = tmp_path / "plan.csv"
    plan.write_text("id,kind,title,discount,skus,start\nX,coupon,[bold red]50% off[/bold red],50%,A,2026-11-20T00:00Z\n",
                    encoding="utf-8")
    shown = cli("preflight", "--offline", "--plan", plan, "--at", "2026-11-19T00:00Z").stdout
    assert "[bold red]50% off[/bold red]" in shown


# -- the simulator answers in Amazon's shapes --------------------------------------------------

def _strict(model: dict, name: str) -> dict:
    """The model's definition as a JSON schema that also refuses fields the model does not have."""
    import jsonschema

    definitions = copy.deepcopy(model["definitions"])

    def flat(schema: dict) -> dict:
        if "$ref" in schema:
            return flat(definitions[schema["$ref"].split("/")[-1]])
        if "allOf" in schema:
            merged = {"type": "object", "properties": {}, "required": []}
            for part in schema["allOf"]:
                part = flat(part)
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += part.get("required", [])
            return merged
        return schema

    for key, schema in list(definitions.items()):
        schema = definitions[key] = flat(schema)
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    validator = jsonschema.Draft4Validator({"$ref": f"#/definitions/{name}", "definitions": definitions})
    return validator


def _answer(simulator: Simulator, path: str, query: dict) -> dict:
    """What the simulator's operation answers for this path (called directly, as the server does)."""
    import re

    from incident.sandbox.operations import ROUTES

    for pattern, _, _, handler in ROUTES:
        match = re.fullmatch(pattern, path)
        if match:
            status, payload, *_ = handler(simulator, match, query, b"", None)
            assert status == 200, payload
            return payload
    raise AssertionError(path)


def test_the_simulators_promotions_answers_follow_amazons_model(live):
    model = json.loads((MODELS / "promotions_2025-12-01.json").read_text(encoding="utf-8"))
    simulator = account_simulator("incident-1", "incident-2", "lightning", "clean", "catalog")
    simulator.promotions.promotions[0].latest_revision = {
        "revisionStatus": "PROCESSING", "promotionId": "x", "trackingId": "x", "marketplaceId": "ATVPDKIKX0DER",
        "promotionTitle": "edit", "promotionType": "COUPON", "schedule": {}, "selection": {"type": "ITEMS"},
        "createdDate": "2026-11-20T00:00:00Z", "lastUpdatedDate": "2026-11-20T00:00:00Z"}
    assert "revision_pending" in codes(live(simulator))
    base = "/promotions/2025-12-01/promotions"
    search = _answer(simulator, base, {"marketplaceIds": "ATVPDKIKX0DER", "includedData": "ISSUES", "limit": "3"})
    errors = list(_strict(model, "SearchPromotionsResponse").iter_errors(search))
    assert not errors and search["pagination"]["nextToken"], errors[:1]
    for promotion in simulator.promotions.promotions:
        answer = _answer(simulator, f"{base}/{promotion.promotion_id}", {"includedData": "SELECTION,ISSUES"})
        errors = list(_strict(model, "GetPromotionResponse").iter_errors(answer))
        assert not errors, f"{promotion.title}: {errors[0].message} at {list(errors[0].path)}"
        if not promotion.catalog:
            selection = _answer(simulator, f"{base}/{promotion.promotion_id}/selections/{promotion.selection_id}",
                                {"revisionId": "1"})
            errors = list(_strict(model, "GetSelectionResponse").iter_errors(selection))
            assert not errors, errors[0].message


def test_amazons_own_examples_parse():
    model = json.loads((MODELS / "promotions_2025-12-01.json").read_text(encoding="utf-8"))
    paths = model["paths"]
    examples = [e["response"] for e in paths["/promotions/2025-12-01/promotions/{promotionId}"]["get"]["responses"]["200"]
                ["x-amzn-api-sandbox"]["static"]]
    parsed = {p.id: p for p in map(promotions_api.from_amazon, examples)}
    deal = parsed["d4e5f6a7-b8c9-0123-defg-hi4567890123"]
    assert [i.benefit for i in deal.items] == [Benefit(price=Decimal(15)), Benefit(amount=Decimal(10))]
    assert parsed["e5f6a7b8-c9d0-1234-efgh-ij5678901234"].kind == "PROMO_CODE"
    assert parsed["86396572-e0e3-4dc6-a072-410f461dee60"].revision_status == "FAILED"
    assert parsed["a1b2c3d4-e5f6-7890-abcd-ef1234567890"].issues[0].code == "HAS_OVERLAPPING_PROMOTIONS"
    searched = paths["/promotions/2025-12-01/promotions"]["get"]["responses"]["200"]["x-amzn-api-sandbox"]["static"][0]
    summaries = [promotions_api.from_amazon(s) for s in searched["response"]["promotions"]]
    assert [p.kind for p in summaries] == ["DEAL", "BASKET_BUILDING"] and summaries[1].stacking == "NOT_ALLOWED"
    selections = paths["/promotions/2025-12-01/promotions/{promotionId}/selections/{selectionId}"]["get"]["responses"]["200"]
    catalog = selections["x-amzn-api-sandbox"]["static"][2]["response"]["selection"]
    parsed_catalog = promotions_api.from_amazon({"promotionId": "c", "promotionType": "COUPON", "selection": catalog})
    assert parsed_catalog.catalog and [i.asin for i in parsed_catalog.excluded] == ["B08N5WRWNW", "B07XJ8C8F5"]
    listings = json.loads((MODELS / "listingsItems_2021-08-01.json").read_text(encoding="utf-8"))
    listing = (listings["paths"]["/listings/2021-08-01/items/{sellerId}/{sku}"]["get"]["responses"]["200"]
               ["x-amzn-api-sandbox"]["static"][0]["response"])
    catalog = Catalog()
    assert listing_prices.apply(catalog, listing["sku"], listing, "ATVPDKIKX0DER", "America/Los_Angeles") is None
    product = catalog.products["GM-ZDPI-9B4E"]
    assert (product.asin, product.list_price, product.name) == ("B071VG5N9D", Decimal("100.00"),
                                                                "Hardside Carry-On Spinner Suitcase Luggage")


def test_get_listings_item_shows_the_offer_sale_and_minimum_price(live):
    import jsonschema

    model = json.loads((MODELS / "listingsItems_2021-08-01.json").read_text(encoding="utf-8"))
    simulator = account_simulator("clean")
    now = simulator.now()
    simulator.promotions.prices["CAFE-MUG-CREME"].sale = (Decimal("15.99"), now + timedelta(days=1), now + timedelta(days=3))
    report = live(simulator)
    sale = next(s for s in report.stretches if "sale-price:CAFE-MUG-CREME" in s.promotion_ids)
    assert sale.start == (now + timedelta(days=1)).replace(microsecond=0)
    mug = report.catalog.products["CAFE-MUG-CREME"]
    assert (mug.list_price, mug.floor, mug.floor_source) == (Decimal("18.5"), Decimal("8.32"), "minimum price")
    answer = _answer(simulator, f"/listings/2021-08-01/items/{simulator.seller_id}/CAFE-MUG-CREME",
                     {"includedData": "summaries,attributes"})
    schema = {"$ref": "#/definitions/Item", "definitions": model["definitions"]}
    jsonschema.Draft4Validator(schema).validate(answer)
    offer = answer["attributes"]["purchasable_offer"][0]
    assert set(offer) == {"marketplace_id", "currency", "audience", "our_price", "minimum_seller_allowed_price",
                          "discounted_price"}


def test_preflight_from_the_command_line_against_the_simulator(cli, monkeypatch):
    simulator = account_simulator("incident-1", "incident-2", "lightning", "clean", clock=RealClock())
    simulator.start()
    try:
        use_simulator(monkeypatch, simulator)
        monkeypatch.setenv("INCIDENT_MARKETPLACE", "US")
        result = cli("preflight", code=1)
        assert "Flags" in result.stdout and "wrong_product" in result.stdout and "cooling_off" in result.stdout
        assert "promotions from the live account and files" in result.stdout
    finally:
        simulator.stop()



def test_listings_are_read_while_get_promotion_waits_for_its_token(live):
    simulator = account_simulator("incident-1", "incident-2", "lightning", "clean", plans=sim_promotions.PLANS)
    live(simulator)
    order = [op for op, _ in simulator.calls if op in ("getPromotion", "getListingsItem", "searchPromotions")]
    last_detail = max(i for i, op in enumerate(order) if op == "getPromotion")
    assert "getListingsItem" in order[:last_detail]  # not all left for the end
    assert order.count("searchPromotions") == 2 and order.count("getListingsItem") == 5


@pytest.mark.parametrize("meant_for, wrong", [
    ("our Instagram followers, for the hard case", "Hard Case for Headphones - Grey (CASE-HP-GRY)"),
    ("Sonic headphones launch", None),
    ("Black Friday", None),  # one word of a name is not naming it
    ("for B0CX1CB010", "B0CX1CB010"),
])
def test_wrong_product_by_the_words_of_a_products_name(cli, tmp_path, meant_for, wrong):
    plan = tmp_path / "plan.yaml"
    plan.write_text("promotions:\n  - id: CODE\n    kind: promo_code\n    discount: 10%\n    skus: [SONIC-HP-BLK]\n"
                    f"    start: 2026-11-20T00:00Z\n    meant_for: {meant_for}\n", encoding="utf-8")
    data = as_json(cli, "preflight", "--offline", "--plan", plan, "--prices", PRICES, "--at", SAMPLE_AT, code=0)
    found = [f["reason"] for f in data["flags"] if f["code"] == "wrong_product"]
    assert (found and wrong in found[0]) if wrong else not found
