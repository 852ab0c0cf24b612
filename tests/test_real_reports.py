"""Real report files (../shared/real-reports, beside the repository as CI lays it out) read to the
outcome their expected.json states: the orders per bucket and the exact upload rows, or a clear
one-line refusal where that is allowed. The stricter reading of issue 11 must refuse none of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REAL_REPORTS, needs_real_reports, with_already_cancelled

from incident.cli import app

CASES = sorted(REAL_REPORTS.glob("*/expected.json"))


@needs_real_reports
@pytest.mark.parametrize("expected_file", CASES, ids=lambda p: p.parent.name)
def test_a_real_report_reads_to_its_expected_outcome(cli, expected_file):
    expected = json.loads(expected_file.read_text())
    reports = [expected_file.parent / name for name in expected["reports"]]
    scope = expected["scope"]
    cli("open", *[arg for sku in scope["sku"] for arg in ("--sku", sku)], "--start", scope["start"],
        "--end", scope["end"], *(["--floor", scope["floor"]] if scope.get("floor") else []))
    pulled = cli.runner.invoke(app,
                               ["pull", *[arg for path in reports for arg in ("--report", str(path))]])
    if expected["pull"] == "either" and pulled.exit_code != 0:
        assert pulled.exit_code == 3 and pulled.stderr.count("\n") == 1 and "Traceback" not in pulled.output
        assert cli.json("orders") == []
        return
    assert pulled.exit_code == 0, pulled.output
    counts = with_already_cancelled(cli.json("status")["counts"])
    assert {bucket: counts[bucket] for bucket in expected["counts"]} == expected["counts"]
    if expected["cancel_rows"]:
        cli("cancel", "export")
        upload = next(Path(e["path"]) for e in cli.json("status")["exports"])
        rows = [line.split("\t") for line in upload.read_text().splitlines()[2:]]
        assert [[order_id, item] for order_id, _, item in rows] == expected["cancel_rows"]
    else:
        cli("cancel", "export", code=5)
    if expected.get("attention_reason_any"):  # any of these words in each line's reason
        reasons = [line["reason"].lower() for line in cli.json("orders") if line["bucket"] == "needs_attention"]
        assert reasons and all(any(word.lower() in reason for word in expected["attention_reason_any"])
                               for reason in reasons)
