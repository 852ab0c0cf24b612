"""The `incident` command. Thin on purpose: each command parses its arguments, calls one domain
function, and prints.

This module holds what every command group shares: the app, the one place where the error family
becomes an exit code (`Group`), the shared options, and the output helpers (tables that turn into
tab-separated lines when piped, money, JSON, progress). Each command group lives in its own module
below, registered at the end of this file; a new group is a new module plus one import line.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from incident.errors import IncidentError
from incident.safetext import json_inert, shown
from incident.workspace import store as store_mod
from incident.workspace.failures import explain


class Group(TyperGroup):
    """Turns our error family into a one-line message and an exit code, never a traceback; a
    failure of the machine (disk full, read-only, permissions, a link loop) joins the family here."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except IncidentError as exc:
            _fail(exc)
        except (sqlite3.Error, OSError) as exc:
            problem = explain(exc, home())
            if problem is None:
                raise
            _fail(problem)


def _fail(exc: IncidentError) -> NoReturn:
    err.print(f"error: {shown(exc)}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code) from None


app = typer.Typer(cls=Group, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Run a pricing incident: scope the orders, cancel them, keep the log.")

out = Console(highlight=False, emoji=False)  # ":name:" in report data stays as typed
err = Console(stderr=True, highlight=False, emoji=False)

IncidentOpt = Annotated[str | None, typer.Option(
    "--incident", help="Incident id (default: the most recent open incident).",
    envvar="INCIDENT_ID")]
ByOpt = Annotated[str | None, typer.Option(
    "--by", help="Who is doing this, for the log (default: your login name).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def home() -> Path:
    return store_mod.home()


def open_store(incident_id: str | None) -> store_mod.Store:
    store = store_mod.open_store(home(), incident_id)
    warn_skipped(store.skipped)
    return store


def warn_skipped(problems: list[str]) -> None:
    """Name each folder passed over (damaged, not the user's) and go on."""
    for problem in problems:
        err.print(f"warning: skipped {shown(problem)}", markup=False, highlight=False, soft_wrap=True)


def connection(store: store_mod.Store):
    """The SP-API connection for the incident's marketplace."""
    from incident.amazon import spapi

    return spapi.Connection(spapi.load_settings(store.incident().marketplace))


def print_json(data: Any) -> None:
    sys.stdout.write(json_inert(json.dumps(data, indent=2, ensure_ascii=False, default=str)) + "\n")


def money_text(value: Decimal | str | None, currency: str | None = None) -> str:
    if value is None:
        return "-"
    value = Decimal(value)
    places = Decimal(1) if currency in ("JPY", "KRW") else Decimal("0.01")
    text = f"{value.quantize(places):,}"
    return f"{text} {currency}" if currency else text


def duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "n/a"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal, tab-separated lines when piped. Cells are report data: shown
    as text only (control characters visible, never rich markup), on a terminal or not."""
    if out.is_terminal:
        grid = Table(title=Text(shown(title)) if title else None, title_justify="left")
        for column in columns:
            grid.add_column(Text(shown(column)))
        for row in rows:
            grid.add_row(*(Text(shown(cell)) for cell in row))
        out.print(grid)
    else:
        if title:
            print(f"# {shown(title)}")
        print("\t".join(shown(column) for column in columns))
        for row in rows:
            print("\t".join(shown(cell) for cell in row))


class progress:
    """A rich progress bar on a terminal; a line per step otherwise."""

    def __init__(self, label: str = "pulling", unit: str = "page", count_label: str = "orders"):
        self.label, self.unit, self.count_label = label, unit, count_label

    def __enter__(self):
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[orders]} " + self.count_label), TimeRemainingColumn(),
                                 console=err)
            self._bar.start()
            self._task = self._bar.add_task("pull", total=None, orders=0)
        else:
            self._bar = None
        self._printed = 0.0
        return self.update

    def update(self, pages: int, total: int, count: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=pages, total=total, orders=count)
        elif time.monotonic() - self._printed >= 2 or pages >= total:  # piped: a line every 2 s at most
            self._printed = time.monotonic()
            err.print(f"{self.unit} {pages} of ~{total}: {count} {self.count_label}", markup=False)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()


def decisions(store: store_mod.Store):
    from incident.scope import sort_store

    return sort_store(store)


def print_buckets(sorted_lines: list) -> None:
    from incident.scope import money

    print_money(money(sorted_lines))


def print_money(entries: dict) -> None:
    """The affected orders per bucket with their money (scope.money() or totals.money_by_batch())."""
    from incident.scope import BUCKET_TITLES

    rows = []
    for name, entry in entries.items():
        for currency, values in (entry["totals"] or {None: {}}).items():
            rows.append([name, BUCKET_TITLES[name], str(entry["orders"]), str(entry["units"]),
                         money_text(values.get("list_price"), currency),
                         money_text(values.get("price_paid"), currency),
                         money_text(values.get("loss"), currency)])
    table("Affected orders", ["bucket", "what", "orders", "units", "list price", "paid", "loss"], rows)


def main() -> None:
    app()


# The command groups, in the order `incident --help` lists them. Imported last: each registers
# its commands on `app` and uses the helpers above.
from incident.cli import incidents, orders, cancel, sandbox, notify, support  # noqa: E402, F401, I001
