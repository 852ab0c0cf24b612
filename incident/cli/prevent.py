"""Before a promotion goes live: `incident preflight` (the worst stacked price per SKU and stretch
of time, and what is wrong) and `incident preflight approve` (a second person's approval)."""

import json
import os
import sys
import time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from incident.cli import Group, JsonOpt, app, err, home, money_text, out, print_json
from incident.errors import UsageError
from incident.timeutil import local_and_utc, now_utc, parse_option
from incident.workspace import store as store_mod

preflight_app = typer.Typer(cls=Group, no_args_is_help=False, invoke_without_command=True)
app.add_typer(preflight_app, name="preflight", rich_help_panel="Before it")

PlanOpt = Annotated[Path | None, typer.Option("--plan", help="Plan file (CSV or YAML): promo codes and promotions Amazon does not show, planned sale prices.")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Do not read the live account, even with SP-API credentials.")]
MarketplaceOpt = Annotated[str | None, typer.Option("--marketplace", help="Country code or marketplace id (default: INCIDENT_MARKETPLACE or incident.toml).")]
AtOpt = Annotated[str | None, typer.Option("--at", help="Check as of this time (ISO-8601 with offset; default: now).")]


def _sources(plan: Path | None, prices: Path | None, rules: Path | None, offline: bool, marketplace: str | None):
    """Live whenever SP-API credentials are configured (as for `pull --live`), unless --offline."""
    from incident.amazon import marketplaces, spapi
    from incident.prevent.preflight import Sources

    sources = Sources(plan=plan, prices=prices, rules=rules)
    if not offline and any(spapi.credential_sources().values()):
        settings = spapi.load_settings(marketplace)
        sources.connection, sources.marketplace = spapi.Connection(settings), settings.marketplace
    else:
        from incident import config

        code = marketplace or os.environ.get("INCIDENT_MARKETPLACE") or config.section("spapi")[0].get("marketplace")
        sources.marketplace = marketplaces.lookup(code) if code else None
    return sources


def _at(text: str | None):
    return parse_option(text, "--at") if text else now_utc()


@preflight_app.callback()
def preflight(
    ctx: typer.Context,
    plan: PlanOpt = None,
    prices: Annotated[Path | None, typer.Option("--prices", help="Prices file (CSV: sku, floor, unit_cost; list_price, asin, name optional).")] = None,
    offline: OfflineOpt = False,
    marketplace: MarketplaceOpt = None,
    rules: Annotated[Path | None, typer.Option("--rules", envvar="INCIDENT_STACKING_RULES", help="Your own stacking rules (a copy of rules/stacking.yaml).")] = None,
    at: AtOpt = None,
    cooling_off: Annotated[float, typer.Option("--cooling-off", metavar="HOURS", help="Flag a promotion starting this soon after another one's cancellation or end on the same SKU.")] = 24.0,
    min_share: Annotated[str, typer.Option("--min-share", metavar="PERCENT", help="Flag a worst price under this share of the list price.")] = "50",
    show_all: Annotated[bool, typer.Option("--all", help="Show every stretch of time, not only the flagged ones.")] = False,
    as_json: JsonOpt = False,
    by: Annotated[str | None, typer.Option("--by", help="Who runs the check, for the log (default: your login name).")] = None,
) -> None:
    """Check every running and planned promotion: the worst stacked price per SKU, and what must not go live.

    Reads the live account when SP-API credentials are configured (as `pull --live` does), plus
    the plan and prices files. Exits 1 when anything critical is found (a worst price under the
    floor or the unit cost), so it can run from cron or CI before every change.

    Example: incident preflight --plan plan.yaml --prices prices.csv

    Example: incident preflight --offline --plan samples/preflight/plan.yaml --prices samples/preflight/prices.csv --at 2026-11-19T00:00Z
    """
    if ctx.invoked_subcommand is not None:
        return
    from incident.prevent import preflight as preflight_mod
    from incident.prevent.flags import Limits

    try:
        share = Decimal(min_share.rstrip("%"))
    except InvalidOperation:
        raise UsageError(f"--min-share '{min_share}' is not a percentage: write it like 50") from None
    if not 0 <= share <= 100 or cooling_off < 0:
        raise UsageError("--min-share takes 0 to 100, --cooling-off 0 hours or more")
    sources = _sources(plan, prices, rules, offline, marketplace)
    limits = Limits(_at(at), cooling_off, share)
    report = preflight_mod.run(home(), sources, limits, store_mod.actor(by),
                               progress=_progress() if sources.connection else None)
    for note in report.notes:
        err.print(f"note: {note}", markup=False, soft_wrap=True)
    if as_json:
        data = preflight_mod.as_json(report, show_all)
        if out.is_terminal:
            print_json(data)
        else:  # one line when piped: a big account's answer is megabytes, indenting it costs seconds
            sys.stdout.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n")
    else:
        _print(report, show_all)
    if report.critical:
        raise typer.Exit(1)


@preflight_app.command("approve")
def approve(
    promotion: Annotated[str, typer.Argument(help="The promotion's id (Amazon's promotionId, or the plan entry's id).")],
    by: Annotated[str, typer.Option("--by", help="Who approves: never the person who set it up.")],
    plan: PlanOpt = None,
    offline: OfflineOpt = False,
    marketplace: MarketplaceOpt = None,
) -> None:
    """Approve a promotion's current products, discount and dates as the second person.

    Refused when the approver set it up; any later change voids the approval.

    Example: incident preflight approve INSTA60 --by mia --plan plan.yaml
    """
    from incident.prevent import preflight as preflight_mod

    sources = _sources(plan, None, None, offline, marketplace)
    found, approval, new = preflight_mod.approve(home(), sources, promotion, by)
    if new:
        print(f"approved {found.id} ('{found.title}') by {approval.by}: its products, discount and dates as they "
              "are now; any change voids the approval")
    else:
        print(f"{found.id} was already approved by {approval.by} at {approval.at}, as it is now")


def _progress():
    printed = [0.0]

    def update(phase: str, done: int, total: int) -> None:
        if time.monotonic() - printed[0] >= 2 or done >= total:
            printed[0] = time.monotonic()
            err.print(f"reading {phase}: {done} of {total}", markup=False)
    return update


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A table whose cells are shown as text only (never as rich markup): they come from
    Amazon and the seller's files. Tab-separated lines when piped."""
    if out.is_terminal:
        shown = Table(title=title, title_justify="left")
        for column in columns:
            shown.add_column(column)
        for row in rows:
            shown.add_row(*(Text(cell) for cell in row))
        out.print(shown)
    else:  # one write: a big account has tens of thousands of rows
        lines = [f"# {title}", "\t".join(columns)] + ["\t".join(cell.replace("\t", " ") for cell in row) for row in rows]
        sys.stdout.write("\n".join(lines) + "\n")


@lru_cache(maxsize=65536)
def _when(value, tz: str | None, missing: str) -> str:
    """A time in the marketplace's zone and UTC (the same bounds recur on many rows)."""
    return local_and_utc(value, tz) if value is not None else missing


def _print(report, show_all: bool) -> None:
    tz = report.marketplace.timezone if report.marketplace else None
    currency = report.marketplace.currency if report.marketplace else None
    products = report.catalog.products
    stretches = [s for s in report.stretches if show_all or s.flags]
    rows = []
    for s in stretches:
        product = products.get(s.sku)
        rows.append([s.sku, _when(s.start, tz, "before"), _when(s.end, tz, "open-ended"),
                     money_text(s.worst_price, currency), money_text(product.list_price if product else None, currency),
                     money_text(product.floor if product else None, currency), " + ".join(s.promotion_ids),
                     ", ".join(s.flags) or "-"])
    if rows:
        _table("Worst price per SKU and stretch of time" + ("" if show_all else " (flagged only; --all for every one)"),
               ["sku", "from", "until", "worst price", "list price", "floor", "live together", "flags"], rows)
    if report.flags:
        _table("Flags", ["severity", "flag", "sku", "when", "promotions", "why"], [
            [f.severity, f.code, ", ".join(f.skus[:3]) + (f" (+{len(f.skus) - 3})" if len(f.skus) > 3 else "") or "-",
             f"{_when(f.start, tz, 'before')} to {_when(f.end, tz, 'open-ended')}" if f.start or f.end else "-",
             ", ".join(f.promotions) or "-", f.reason] for f in report.flags])
    live = "live account and " if report.sources["live"] else ""
    print(f"{report.outcome}: {report.critical} critical, {report.warnings} warnings; "
          f"{sum(1 for p in report.promotions if p.is_promotion)} promotions from the {live}files, "
          f"{len({s.sku for s in report.stretches})} SKUs, {len(report.stretches)} stretches (run #{report.run_id})")
