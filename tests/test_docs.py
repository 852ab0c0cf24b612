"""The documentation a user reads stays true: the CLI reference is generated from the commands'
own help and is never stale; every command has a one-line summary and an example; the README's
"From Python" section runs as written."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import generate_cli  # noqa: E402


def test_the_cli_reference_is_not_stale(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", generate_cli.WIDTH)  # the width the script sets (and put back after)
    assert generate_cli.main(["--check"]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("path", [p for p, _ in generate_cli.commands()], ids=lambda p: " ".join(p) or "incident")
def test_every_command_has_a_summary_and_an_example(path):
    command = dict((tuple(p), c) for p, c in generate_cli.commands())[tuple(path)]
    summary = (command.help or "").strip().splitlines()
    assert summary and summary[0].strip().endswith("."), f"incident {' '.join(path)} needs a one-line summary"
    if not hasattr(command, "list_commands"):  # a group lists its commands; a command shows how
        assert "Example:" in generate_cli.help_text(path), f"incident {' '.join(path)} needs an Example:"


def test_the_readme_links_the_cli_reference():
    assert "docs/cli.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_from_python_section_runs_as_written(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    monkeypatch.setenv("INCIDENT_HOME", str(tmp_path / "incidents"))
    monkeypatch.chdir(ROOT)  # the example names the bundled sample reports by their path
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    namespace = runpy.run_path(str(script))
    assert namespace["exported"].files, "the example writes the cancellation file"
