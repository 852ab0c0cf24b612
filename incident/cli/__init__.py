"""The `incident` command. Thin on purpose: each command parses its arguments, calls one domain
function, and prints.

This module holds what every command group shares: the app, the one place where the error family
becomes an exit code (`Group`), the shared options, and the output helpers (tables that turn into
tab-separated lines when piped, money, JSON, progress). Each command group lives in its own module
below, registered at the end of this file; a new group is a new module plus one import line.
"""

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


# The panels `incident --help` lists the commands in, the way a manager thinks of them: what is
# needed now first. Each command names its panel where it is registered (rich_help_panel=).
PANELS = ("During the incident", "Before it", "After it", "Set-up")


class Group(TyperGroup):
    """Turns our error family into a one-line message and an exit code, never a traceback (a failure
    of the machine, such as a full disk or a link loop, joins the family here), and makes each
    command's help readable: plain metavars, each Example on its own line."""

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

    def get_command(self, ctx: Any, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is not None and not getattr(command, "_readable", False):
            _make_readable(command)
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The commands under their panels (`rich_help_panel=` where each is registered), in
        PANELS' order; those without one under "Commands". Typer draws panels only in its rich
        markup mode, which this app leaves off so that help stays plain text."""
        listed = [(name, command) for name in self.list_commands(ctx)
                  if (command := self.get_command(ctx, name)) is not None and not command.hidden]
        if not listed:
            return
        widest = max(len(name) for name, _ in listed)
        limit = formatter.width - 6 - widest  # as Click reckons it
        panels: dict[str, list[tuple[str, str]]] = {}
        for name, command in listed:  # padded: one column for the summaries in every panel
            panels.setdefault(getattr(command, "rich_help_panel", None) or "Commands", []).append(
                (name.ljust(widest), command.get_short_help_str(limit)))
        for title in sorted(panels, key=lambda t: PANELS.index(t) if t in PANELS else len(PANELS)):
            with formatter.section(title):
                formatter.write_dl(panels[title])


def _fail(exc: IncidentError) -> NoReturn:
    err.print(f"error: {shown(exc)}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code) from None


_METAVARS = {"incident": "ID", "by": "NAME", "report": "FILE", "templates": "DIR", "home": "DIR",
             "test_to": "ADDRESS", "language": "LOCALE", "marketplace": "CODE", "seller_name": "NAME"}


def _make_readable(command: Any) -> None:
    """`--report FILE` rather than `--report <list[Path]>`; examples kept one per line (Click
    rewraps a paragraph unless it starts with a \\b line)."""
    for param in command.params:
        if getattr(param, "is_flag", False) or param.metavar is not None or param.param_type_name != "option":
            continue
        kind = getattr(getattr(param, "type", None), "name", "")
        param.metavar = _METAVARS.get(param.name) or ("N" if kind in ("integer", "float") else
                                                      param.name.upper().replace("_", "-"))
    if command.help and "Example:" in command.help:
        head, _, examples = command.help.partition("Example:")
        command.help = head + "\b\nExample:" + examples
    command._readable = True


def _version(value: bool) -> None:
    if value:
        from incident import __version__

        print(f"incident {__version__}")
        raise typer.Exit()


app = typer.Typer(cls=Group, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Run a pricing incident: scope the orders, cancel them, keep the log.")


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """Run a pricing incident: scope the orders, cancel them, keep the log."""

# soft wrap: long lines wrap in the terminal, never cut by us; no emoji: ":name:" in report data stays as typed
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

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


_WHOLE = {"order", "item code", "id", "path", "sku", "step", "at", "sent (UTC)"}  # never cut or folded
_LONG = 40  # a longer note goes on its own line below a terminal table


def table(title: str | None, columns: list[str], rows: list[list[str]], notes: str | None = None) -> None:
    """A rich table on a terminal, tab-separated lines when piped. On a terminal, order ids,
    paths and the like are never cut, and the cells of the `notes` column that are long go on
    their own line below the table, numbered. Cells are report data: shown as text only (control
    characters visible, never rich markup), on a terminal or not."""
    title = shown(title) if title else title
    columns = [shown(column) for column in columns]
    rows = [[shown(cell) for cell in row] for row in rows]
    if not out.is_terminal:
        if title:
            print(f"# {shown(title)}")
        print("\t".join(shown(column) for column in columns))
        for row in rows:
            print("\t".join(row))
        return
    natural = sum(max([len(c)] + [len(r[i]) if c != notes or len(r[i]) <= _LONG else 4 for r in rows]) + 3
                  for i, c in enumerate(columns)) + 1
    if natural > out.width:  # too narrow for a table: one block per row, nothing cut
        if title:
            out.print(title, markup=False)
        for row in rows:
            out.print(row[0], markup=False)
            out.print("  " + "; ".join(f"{c}: {v}" for c, v in zip(columns[1:], row[1:]) if v), markup=False)
        return
    grid = Table(title=Text(title) if title else None, title_justify="left")
    for column in columns:
        whole = column in _WHOLE
        width = max([len(column)] + [len(row[columns.index(column)]) for row in rows]) if whole else None
        grid.add_column(Text(column), no_wrap=whole, min_width=width, overflow="fold")
    footnotes: list[str] = []
    at = columns.index(notes) if notes in columns else None
    for row in rows:
        if at is not None and len(row[at]) > _LONG:
            footnotes.append(row[at])
            row = [*row[:at], f"[{len(footnotes)}]", *row[at + 1:]]
        grid.add_row(*(Text(cell) for cell in row))
    out.print(grid)
    for number, text in enumerate(footnotes, 1):
        out.print(f"  [{number}] {text}", markup=False)


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
                         money_text(values.get("loss"), currency),
                         f"{entry['unpriced_lines']} lines" if entry["unpriced_lines"] else ""])
    table("Affected orders", ["bucket", "what", "orders", "units", "list price", "paid", "loss", "unpriced"], rows)


def main() -> None:
    app()


# The command groups, in the order `incident --help` lists them in each panel. Imported last: each registers
# its commands on `app` and uses the helpers above.
from incident.cli import incidents, steps, orders, cancel, sandbox, notify, support, prevent, watch, drill  # noqa: E402, F401, I001
from incident.cli import after  # noqa: E402, F401, I001
