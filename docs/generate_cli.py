"""Writes docs/cli.md, the CLI reference, from the commands' own --help.

    python docs/generate_cli.py          # rewrite docs/cli.md
    python docs/generate_cli.py --check  # exit 1 when docs/cli.md is stale

tests/test_docs.py runs the check, so a changed command fails the tests until this is rerun.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent / "cli.md"
WIDTH = "100"


def commands() -> list[tuple[list[str], object]]:
    """Every command and group as (path of names, click command), in `--help` order."""
    import typer.main

    from incident.cli import PANELS, app

    found: list[tuple[list[str], object]] = []

    def panel(command) -> int:  # --help lists the commands panel by panel (incident.cli.Group)
        name = getattr(command, "rich_help_panel", None)
        return PANELS.index(name) if name in PANELS else len(PANELS)

    def walk(path: list[str], command) -> None:
        found.append((path, command))
        names = getattr(command, "list_commands", lambda ctx: [])(None)
        subs = sorted(((name, command.get_command(None, name)) for name in names), key=lambda sub: panel(sub[1]))
        for name, sub in subs:
            walk([*path, name], sub)

    walk([], typer.main.get_command(app))
    return found


def help_text(path: list[str]) -> str:
    from typer.testing import CliRunner

    from incident.cli import app

    result = CliRunner().invoke(app, [*path, "--help"], prog_name="incident",
                                env={"COLUMNS": WIDTH, "TERM": "dumb", "NO_COLOR": "1"})
    if result.exit_code != 0:
        raise SystemExit(f"incident {' '.join(path)} --help failed: {result.output}")
    return result.output.rstrip() + "\n"


def render() -> str:
    parts = ["# `incident` command reference",
             "",
             "Generated from each command's `--help` by `docs/generate_cli.py`; do not edit by hand.",
             ""]
    for path, _ in commands():
        title = " ".join(["incident", *path])
        parts += [f"## `{title}`", "", "```", help_text(path).rstrip(), "```", ""]
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    os.environ.setdefault("COLUMNS", WIDTH)
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is stale: run `python docs/generate_cli.py`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
