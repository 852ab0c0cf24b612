"""Read on any terminal: order ids and paths are never cut, long reasons go on their own line,
partial totals say how many lines are unpriced; --version, -h and readable help."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def on_terminal(*args: str, columns: int) -> str:
    """The command as a person sees it on a terminal `columns` wide."""
    env = {**os.environ, "TTY_COMPATIBLE": "1", "COLUMNS": str(columns), "NO_COLOR": "1"}
    done = subprocess.run([Path(sys.executable).parent / "incident", *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return ANSI.sub("", done.stdout)


@pytest.mark.parametrize("columns", [60, 100, 220])
def test_order_ids_and_paths_are_never_cut(small_incident, columns):
    small_incident("cancel", "export")
    listing = on_terminal("orders", columns=columns)
    for order_id in ("111-0000001-0000001", "111-0000003-0000003", "111-0000006-0000006"):
        assert order_id in listing
    assert "01234567890123" in listing
    status = on_terminal("status", columns=columns)
    path = re.search(r"/\S*OrderCancellation-\S+\.txt", status.replace("\n", ""))
    assert path and Path(path.group()).exists()  # the whole path, not folded or cut


def test_long_reasons_go_on_their_own_line(small_incident):
    listing = on_terminal("orders", columns=220)
    assert "\n  [1] fulfilled by Amazon: ask Seller Support to cancel before it is picked" in listing


def test_partial_totals_say_how_many_lines_are_unpriced(small_incident):
    listing = small_incident("status").stdout  # piped: tab-separated
    row = next(line for line in listing.splitlines() if line.startswith("needs_attention\t"))
    assert row.endswith("\t1 lines")


def test_version_and_short_help(cli):
    assert re.fullmatch(r"incident \d+\.\d+\.\d+\n", cli("--version").stdout)
    assert "Usage: " in cli("pull", "-h").stdout and "--report FILE" in cli("pull", "-h").stdout


def test_help_shows_plain_metavars_and_one_example_per_line(cli):
    out = cli("pull", "--help").stdout
    assert "<list[" not in out and "--report FILE" in out and "--incident ID" in out
    examples = [line.strip() for line in out.splitlines() if "Example:" in line]
    assert examples == ["Example: incident pull --report all-orders.txt --report unshipped.txt",
                        "Example: incident pull --live --repeat 5"]
