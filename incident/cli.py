"""The `incident` command. Thin on purpose: each command parses its arguments, calls one domain
function, and prints. Every IncidentError becomes one line on stderr and its exit code."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from incident import store as store_mod
from incident.errors import EXIT_PARTIAL, IncidentError, StateError, UsageError
from incident.timeutil import elapsed, local_and_utc, now_utc, parse_iso


class _Group(TyperGroup):
    """Turns our error family into a one-line message and an exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except IncidentError as exc:
            _err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Run a pricing incident: scope the orders, cancel them, keep the log.")
cancel_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Cancel the affected orders.")
step_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Tick, skip or reopen checklist steps.")
app.add_typer(cancel_app, name="cancel")
app.add_typer(step_app, name="step")

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)

IncidentOpt = Annotated[str | None, typer.Option(
    "--incident", help="Incident id (default: the most recent open incident).",
    envvar="INCIDENT_ID")]
ByOpt = Annotated[str | None, typer.Option(
    "--by", help="Who is doing this, for the log (default: your login name).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _home() -> Path:
    return store_mod.home()


def _open(incident_id: str | None) -> store_mod.Store:
    return store_mod.open_store(_home(), incident_id)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _money(value: Decimal | str | None, currency: str | None = None) -> str:
    if value is None:
        return "-"
    value = Decimal(value)
    places = Decimal(1) if currency in ("JPY", "KRW") else Decimal("0.01")
    text = f"{value.quantize(places):,}"
    return f"{text} {currency}" if currency else text


def _table(title: str | None, columns: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal, tab-separated lines when piped."""
    if _out.is_terminal:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        _out.print(table)
    else:
        if title:
            print(f"# {title}")
        print("\t".join(columns))
        for row in rows:
            print("\t".join(row))


# ---------------------------------------------------------------------------------------------


@app.command("open")
def open_incident(
    sku: Annotated[list[str], typer.Option("--sku", help="A SKU hit by the stacked discount (repeat for more).")],
    start: Annotated[str, typer.Option("--start", help="When the bad price went live (ISO-8601 with offset).")],
    end: Annotated[str, typer.Option("--end", help="When it was stopped, or now (the window is [start, end)).")],
    floor: Annotated[str | None, typer.Option("--floor", help="Only orders whose net unit price is below this amount.")] = None,
    marketplace: Annotated[str | None, typer.Option("--marketplace", help="Country code (US, UK, DE, JP, ...) or marketplace id; inferred from the reports if left out.")] = None,
    title: Annotated[str | None, typer.Option("--title", help="A short name for the incident.")] = None,
    runbook: Annotated[str, typer.Option("--runbook", help="Checklist to follow.")] = "promo-stacking",
    by: ByOpt = None,
) -> None:
    """Open an incident and print its id.

    Example: incident open --sku SONIC-HP-BLK --start 2026-11-20T14:02-08:00 --end 2026-11-20T14:30-08:00 --floor 100
    """
    from incident import marketplaces
    from incident import runbook as runbook_mod

    window_start = _parse_time(start, "--start")
    window_end = _parse_time(end, "--end")
    if window_end <= window_start:
        raise UsageError("--end must be after --start")
    floor_value = None
    if floor is not None:
        try:
            floor_value = Decimal(floor)
        except ArithmeticError:
            raise UsageError(f"--floor '{floor}' is not an amount: write it like 100 or 99.50") from None
        if not floor_value.is_finite() or floor_value <= 0:
            raise UsageError("--floor must be a positive amount")
    code = marketplaces.lookup(marketplace).code if marketplace else None
    skus = [s.strip() for s in sku if s.strip()]
    if not skus:
        raise UsageError("give at least one --sku")
    steps = runbook_mod.load(runbook)
    store = store_mod.create(_home(), title=title or f"Stacked discount on {', '.join(skus)}",
                             skus=skus, window_start=window_start, window_end=window_end,
                             floor=floor_value, marketplace=code, who=store_mod.actor(by),
                             steps=steps)
    with store:
        incident = store.incident()
        tz = marketplaces.BY_CODE[code].timezone if code else None
        print(incident.id)
        _err.print(f"Opened {incident.id}: {incident.title}\n"
                   f"  window {local_and_utc(window_start, tz)} to {local_and_utc(window_end, tz)}\n"
                   f"  folder {store.folder}\n"
                   f"Next: incident next", markup=False)


def _parse_time(text: str, option: str):
    from incident.timeutil import parse_option

    return parse_option(text, option)


@app.command("list")
def list_incidents(as_json: JsonOpt = False) -> None:
    """List the incidents under INCIDENT_HOME.

    Example: incident list
    """
    incidents = store_mod.list_incidents(_home())
    if as_json:
        _print_json([{"id": i.id, "title": i.title, "state": i.state, **i.scope()} for i in incidents])
        return
    _table(None, ["id", "state", "title"], [[i.id, i.state, i.title] for i in incidents])


@app.command()
def pull(
    report: Annotated[list[Path] | None, typer.Option("--report", help="A Seller Central order report (.txt or .gz); repeat for more.")] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="Force the files' encoding: utf-8, cp1252 or cp932.")] = None,
    live: Annotated[bool, typer.Option("--live", help="Pull through the Selling Partner API instead of files.")] = False,
    plan: Annotated[bool, typer.Option("--plan", help="With --live: only show the plan and its estimated time.")] = False,
    strategy: Annotated[str | None, typer.Option("--strategy", help="With --live: force search, v0 or report.")] = None,
    repeat: Annotated[float | None, typer.Option("--repeat", metavar="MINUTES", help="With --live: pull again every MINUTES until stopped (Ctrl-C).")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Read order reports (or the live API) into the incident and sort the affected orders.

    Example: incident pull --report all-orders.txt --report unshipped.txt
    Example: incident pull --live --repeat 5
    """
    if live:
        return _pull_live(incident, by, plan, strategy, repeat)
    if not report:
        raise UsageError("give --report FILE (repeat for more), or --live to pull through the API")
    from incident import orders

    with _open(incident) as store:
        result = orders.pull_reports(store, report, store_mod.actor(by), encoding)
        for r in result.reports:
            print(f"read {r.path.name}: {r.title}, {r.encoding}, {r.rows_read} lines, "
                  f"{len(r.lines)} for the scope's SKUs")
        print(f"{result.new_lines} new order lines, {result.updated_lines} updated")
        if result.marketplace:
            print(f"marketplace: {result.marketplace} (from the reports' sales channel)")
        for warning in result.warnings:
            _err.print(f"warning: {warning}", markup=False)
        _print_buckets(_decisions(store))


def _connection(store: store_mod.Store):
    from incident import spapi

    return spapi.Connection(spapi.load_settings(store.incident().marketplace))


def _pull_live(incident: str | None, by: str | None, plan_only: bool, strategy: str | None,
               repeat: float | None) -> None:
    import time

    from incident import live

    if strategy not in (None, "search", "v0", "report"):
        raise UsageError(f"--strategy '{strategy}' is not one of search, v0, report")
    while True:
        with _open(incident) as store:
            connection = _connection(store)
            with _progress() as update:
                puller = live.LivePull(store, connection, store_mod.actor(by), progress=update)
                result = puller.run(force=strategy, plan_only=plan_only)
            p = result.plan
            if not result.resumed:
                ways = ", ".join(f"{name} ~{_duration(sec)}" for name, sec in p.seconds.items())
                print(f"plan: {p.strategy} (about {p.estimated_orders} orders in the window, "
                      f"{p.estimated_affected} for the scope's SKUs; {ways})")
            for note in p.notes:
                print(f"note: {note}")
            if plan_only:
                return
            print(f"pulled {result.orders_seen} orders in {result.pages} pages with {result.api_calls} API calls: "
                  f"{result.new_lines} new order lines, {result.updated_lines} updated")
            _print_buckets(_decisions(store))
        if not repeat:
            return
        print(f"next pull in {repeat:g} minutes (Ctrl-C to stop)")
        try:
            time.sleep(repeat * 60)
        except KeyboardInterrupt:
            print("stopped")
            return


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "n/a"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


class _progress:
    """A rich progress bar on a terminal; a line per step otherwise."""

    def __init__(self, label: str = "pulling", unit: str = "page", count_label: str = "orders"):
        self.label, self.unit, self.count_label = label, unit, count_label

    def __enter__(self):
        if _err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[orders]} " + self.count_label), TimeRemainingColumn(),
                                 console=_err)
            self._bar.start()
            self._task = self._bar.add_task("pull", total=None, orders=0)
        else:
            self._bar = None
        self._printed = 0.0
        return self.update

    def update(self, pages: int, total: int, orders: int) -> None:
        import time

        if self._bar is not None:
            self._bar.update(self._task, completed=pages, total=total, orders=orders)
        elif time.monotonic() - self._printed >= 2 or pages >= total:  # piped: a line every 2 s at most
            self._printed = time.monotonic()
            _err.print(f"{self.unit} {pages} of ~{total}: {orders} {self.count_label}", markup=False)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()


def _decisions(store: store_mod.Store):
    from incident.scope import sort_store

    return sort_store(store)


def _print_buckets(decisions: list) -> None:
    from incident.scope import BUCKET_TITLES, money

    rows = []
    for name, entry in money(decisions).items():
        for currency, values in (entry["totals"] or {None: {}}).items():
            rows.append([name, BUCKET_TITLES[name], str(entry["orders"]), str(entry["units"]),
                         _money(values.get("list_price"), currency),
                         _money(values.get("price_paid"), currency),
                         _money(values.get("loss"), currency)])
    _table("Affected orders", ["bucket", "what", "orders", "units", "list price", "paid", "loss"], rows)


@app.command("orders")
def list_orders(
    bucket: Annotated[str | None, typer.Option("--bucket", help="Only this bucket: cancellable_mfn, fba_support, shipped_unrecoverable, already_cancelled, needs_attention.")] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (to attach to a Seller Support case).")] = False,
    incident: IncidentOpt = None,
) -> None:
    """List the affected order lines, with money. No buyer data is shown.

    Example: incident orders --bucket fba_support --csv > fba-orders.csv
    """
    from incident.cancellation import neutralise
    from incident.scope import BUCKETS

    if bucket is not None and bucket not in BUCKETS:
        raise UsageError(f"--bucket '{bucket}' is not one of {', '.join(BUCKETS)}")
    with _open(incident) as store:
        chosen = [d for d in _decisions(store) if bucket is None or d.bucket == bucket]
    records = [{
        "order_id": d.line.order_id, "order_item_id": d.line.order_item_id, "sku": d.line.sku,
        "product_name": d.line.product_name,
        "purchase_date": d.line.purchase_date, "fulfillment_channel": d.line.fulfillment_channel,
        "order_status": d.line.order_status, "units": d.units, "currency": d.line.currency,
        "list_price": d.list_price, "price_paid": d.price_paid, "loss": d.loss,
        "promotion_ids": d.line.promotion_ids, "bucket": d.bucket, "reason": d.reason,
    } for d in chosen]
    if as_json:
        _print_json(records)
    elif as_csv:
        columns = list(records[0]) if records else ["order_id", "bucket"]
        sys.stdout.write(store_mod.csv_text(columns, ([neutralise("" if r[c] is None else str(r[c])) for c in columns]
                                                      for r in records)))
    else:
        _table(f"{len(records)} affected order lines", [
            "order", "item code", "sku", "status", "channel", "units", "list", "paid", "loss", "bucket", "why"],
            [[r["order_id"], r["order_item_id"] or "-", r["sku"], r["order_status"] or "-",
              r["fulfillment_channel"] or "-", str(r["units"]), _money(r["list_price"], None),
              _money(r["price_paid"], None), _money(r["loss"], None), r["bucket"], r["reason"]]
             for r in records])


@cancel_app.command("export")
def cancel_export(
    fmt: Annotated[str, typer.Option("--format", help="txt (to upload), xlsx, or both.")] = "txt",
    reason: Annotated[str, typer.Option("--reason", help="Cancellation reason code. PricingError by default; GeneralAdjustment if Amazon rejects it.")] = "PricingError",
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Write Seller Central's Order Cancellation upload file for every cancellable item.

    Example: incident cancel export --format both
    """
    from incident import cancellation
    from incident.scope import BUCKET_TITLES

    with _open(incident) as store:
        result = cancellation.export(store, store_mod.actor(by), fmt, reason)
    orders = len({row[0] for row in result.rows})
    print(f"{len(result.rows)} items in {orders} orders go in the file (reason {result.rows[0][1]})")
    for name, lines in result.left_out.items():
        if lines:
            print(f"left out: {lines} lines in {name} ({BUCKET_TITLES[name]})")
    for path, digest in result.files:
        print(f"wrote {path}  sha256 {digest[:16]}")
    print("Upload the .txt in Seller Central: Orders > Upload order related files > Order Cancellation")


@cancel_app.command("submit")
def cancel_submit(
    reason: Annotated[str, typer.Option("--reason", help="Cancellation reason code (PricingError; GeneralAdjustment if refused).")] = "PricingError",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be sent, send nothing.")] = False,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Submit every cancellable item as one cancellation feed, exactly once, and record Amazon's answer.

    Example: incident cancel submit --yes
    """
    from incident import feeds
    from incident.scope import CANCELLABLE, money

    with _open(incident) as store:
        pending = feeds.open_submission(store)
        if pending is None:
            rows = feeds.rows_to_submit(store, reason)
            if not rows:
                raise StateError("nothing to submit: no cancellable item that is not already in a feed")
            chosen = {(r[0], r[2]) for r in rows}
            decisions = [d for d in _decisions(store) if (d.line.order_id, d.line.order_item_id) in chosen]
            totals = money(decisions)[CANCELLABLE]["totals"]
            value = ", ".join(f"{_money(t['price_paid'], c)} paid ({_money(t['list_price'], c)} list)"
                              for c, t in totals.items())
            print(f"{len(rows)} items in {len({r[0] for r in rows})} orders, {value}, reason {rows[0][1]}")
            for exported in store.exports():
                _err.print(f"warning: an upload file was written {exported['at']} ({exported['path']}); "
                           "if it was uploaded in Seller Central, those orders are cancelled already", markup=False)
            if dry_run:
                print("dry run: nothing sent")
                return
            if not yes and not typer.confirm("Send this cancellation feed to Amazon now?"):
                raise typer.Exit(1)
        else:
            print(f"continuing submission {pending['id']} ({pending['rows']} items, state {pending['state']})")
            if dry_run:
                return
        result = feeds.submit(store, _connection(store), store_mod.actor(by), reason)
    print(f"feed {result.feed_id}: {result.accepted} of {result.rows} items cancelled, {len(result.rejected)} refused")
    for item in result.rejected:
        print(f"refused: {item['order_id']} item {item['order_item_id']}: {item['error_message']}")
    if result.reason_rejected:
        print("Amazon refused the reason code: run `incident cancel submit --reason GeneralAdjustment`")
    if result.rejected:
        raise typer.Exit(EXIT_PARTIAL)


@app.command("stop-sales")
def stop_sales(
    undo: Annotated[bool, typer.Option("--undo", help="Put back the quantities saved when sales were stopped.")] = False,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Set the scope's seller-fulfilled SKUs to quantity 0 (and say what must be done by hand).

    Example: incident stop-sales
    """
    from incident import listings

    with _open(incident) as store:
        result = listings.stop_sales(store, _connection(store), store_mod.actor(by), undo)
    for sku, before, after in result.changed:
        print(f"{sku}: quantity {before} -> {after}")
    if not result.changed:
        print("no seller-fulfilled quantity changed")
    if not undo:
        print("Still to do by hand in Seller Central, then `incident step done stop-bleeding`:")
        for step in listings.MANUAL_STEPS:
            print(f"  - {step}")
        if result.fba_skus:
            print(f"  FBA SKUs: {', '.join(result.fba_skus)}")


@app.command()
def doctor(
    marketplace: Annotated[str | None, typer.Option("--marketplace", help="Marketplace to check (default: config).")] = None,
    smtp: Annotated[bool, typer.Option("--smtp", help="Check the mail server for `notify send --via smtp` instead.")] = False,
) -> None:
    """Check SP-API credentials, configuration and the connection, without printing any secret.

    Example: incident doctor --marketplace US
    Example: incident doctor --smtp
    """
    from datetime import timedelta

    from incident import spapi

    if smtp:
        from incident import messages

        settings = messages.smtp_settings()
        print(f"SMTP {settings.host}:{settings.port} ({settings.tls}), from {settings.sender}, "
              f"login {settings.user or 'none'}, password {'set' if settings.password else 'not set'}")
        messages.connect_smtp(settings).close()
        print("ok  the server answered" + (" and accepted the login" if settings.user else ""))
        return

    for source, present in spapi.credential_sources().items():
        print(f"{'ok ' if present else '-- '} {source}: {'set' if present else 'not set'}")
    settings = spapi.load_settings(marketplace)
    print(f"marketplace {settings.marketplace.code} ({settings.marketplace.marketplace_id}), "
          f"endpoint {settings.endpoint}, login {settings.lwa_endpoint}, seller id "
          f"{'set' if settings.seller_id else 'not set (needed by stop-sales)'}, config {settings.config_path or 'none'}")
    from sp_api.api import Orders

    connection = spapi.Connection(settings)
    client = connection.client(Orders, version="2026-01-01")
    since = now_utc() - timedelta(hours=1)
    connection.call("searchOrders", client.search_orders, createdAfter=store_mod.iso_utc(since), maxResultsPerPage=1)
    print("ok  login and searchOrders answered")


notify_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Apology notices to the affected buyers.")
app.add_typer(notify_app, name="notify")


@notify_app.command("render")
def notify_render(
    templates: Annotated[Path | None, typer.Option("--templates", help="A folder of your own templates (notice/<locale>.txt.j2) over the bundled ones.")] = None,
    seller_name: Annotated[str, typer.Option("--seller-name", help="How the notice is signed.")] = "Customer Service",
    live: Annotated[bool, typer.Option("--live", help="Ask Amazon each buyer's language (Messaging GetAttributes, 1 order/s); else the marketplace's.")] = False,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Render one apology notice per affected order, in the buyer's language, and check it.

    Example: incident notify render --live --seller-name "Sonic Audio"
    """
    from incident import messages

    with _open(incident) as store:
        connection = _connection(store) if live else None
        with _progress("asking buyer languages", "order", "done") if live else contextlib.nullcontext() as update:
            result = messages.render_notices(store, store_mod.actor(by), messages.Templates(templates), seller_name,
                                             connection=connection,
                                             progress=(lambda done, total: update(done, total, done)) if live else None)
        problems = messages.blocked(store)
    print(f"{result.rendered} notices rendered, {result.unchanged} unchanged, {result.already_sent} already sent")
    for bucket, count in result.waiting.items():
        step = "export or submit the cancellations" if bucket == "cancellable_mfn" else "make the FBA request (step fba-request)"
        print(f"waiting: {count} lines in {bucket} get a notice once you {step}")
    if result.unreachable:
        print(f"no buyer e-mail for {len(result.unreachable)} orders (send through the API, or pull the "
              f"Unshipped Orders report): {', '.join(result.unreachable[:10])}{' ...' if len(result.unreachable) > 10 else ''}")
    _print_blocked(problems)


def _print_blocked(problems) -> None:
    for order_id, lines in problems:
        for line in lines:
            _err.print(f"blocked: {order_id}: {line}", markup=False, soft_wrap=True)
    if problems:
        _err.print(f"{len(problems)} notices are blocked: fix the template, or `incident notify check --force "
                   "--reason TEXT`", markup=False, soft_wrap=True)


@notify_app.command("check")
def notify_check(
    force: Annotated[bool, typer.Option("--force", help="Let blocked notices be sent anyway (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the rules do not apply; logged.")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Check the rendered notices against Amazon's messaging rules; exit 6 when any is blocked.

    Example: incident notify check
    """
    from incident import messages

    with _open(incident) as store:
        if force:
            count = messages.force(store, store_mod.actor(by), reason or "")
            print(f"{count} blocked notices released: {reason}")
            return
        problems = messages.blocked(store)
        total = store.conn.execute("SELECT count(*) FROM notices").fetchone()[0]
    print(f"{total - len(problems)} of {total} notices pass Amazon's messaging rules")
    _print_blocked(problems)
    if problems:
        raise typer.Exit(EXIT_PARTIAL)


@notify_app.command("send")
def notify_send(
    via: Annotated[str, typer.Option("--via", help="spapi (Buyer-Seller Messaging), smtp, or outbox (.eml files + CSV).")],
    limit: Annotated[int | None, typer.Option("--limit", help="Send at most N notices this run.")] = None,
    test_to: Annotated[str | None, typer.Option("--test-to", help="Send one notice to this address first, nothing to buyers.")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Send every rendered notice exactly once; a rerun sends nothing new.

    Example: incident notify send --via smtp
    """
    from incident import messages

    with _open(incident) as store:
        connection = _connection(store) if via == "spapi" else None
        with _progress("sending", "notice", "done") as update:
            result = messages.send_notices(store, store_mod.actor(by), via, connection=connection, limit=limit,
                                           test_to=test_to, progress=lambda done, total: update(done, total, done))
    if result.unrendered:
        _err.print(f"warning: {result.unrendered} orders are due a notice not rendered yet: run `incident notify "
                   "render`, then send again", markup=False, soft_wrap=True)
    if result.blocked:
        _err.print(f"warning: {result.blocked} notices are blocked by Amazon's messaging rules and were not sent: "
                   "`incident notify check` says why", markup=False, soft_wrap=True)
    if test_to:
        print(f"test notice sent to {test_to}; nothing went to buyers")
        return
    print(f"sent {result.sent} of {result.total}, {result.failed} failed"
          + (f", {result.not_offered} not offered by Amazon" if result.not_offered else "")
          + (f", {result.other_language} held back for the buyer's language" if result.other_language else "")
          + (f" ({result.resumed} resumed after an interruption)" if result.resumed else ""))
    for error in result.errors[:20]:
        _err.print(f"failed: {error}", markup=False, soft_wrap=True)
    if result.other_language:
        _err.print(f"{result.other_language} buyers read another language (Amazon says so): their notices are held "
                   "back; `incident notify render` rewrites them in the buyer's language, then send again",
                   markup=False, soft_wrap=True)
    if result.stopped:
        _err.print(f"stopped early, the server went away ({result.stopped}); nothing was sent twice: run the same "
                   "command again to go on", markup=False, soft_wrap=True)
    if result.failed:
        raise typer.Exit(EXIT_PARTIAL)


@notify_app.command("list")
def notify_list(incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """Each notice: order, language, state, how and when it was sent.

    Example: incident notify list --json
    """
    from incident import messages

    with _open(incident) as store:
        rows = messages.listing(store)
    if as_json:
        _print_json(rows)
        return
    _table(f"{len(rows)} notices", ["order", "language", "state", "via", "sent (UTC)", "tries", "note"],
           [[r["order_id"], r["locale"], r["state"], r["via"] or "", r["sent_at"] or "", str(r["attempts"]),
             r["error"] or (f"forced: {r['forced_reason']}" if r["forced_reason"] else "")
             or "; ".join(r["problems"])] for r in rows])


support_app = typer.Typer(cls=_Group, no_args_is_help=True, help="Seller Support requests.")
app.add_typer(support_app, name="support")


TemplatesOpt = Annotated[Path | None, typer.Option("--templates", help="A folder of your own templates over the bundled ones.")]
LanguageOpt = Annotated[str | None, typer.Option("--language", help="Write it in this locale (en-US, ja-JP, ...); default: the marketplace's.")]


def _support(kind: str, step: str, incident: str | None, by: str | None, sent: bool,
             templates: Path | None, language: str | None) -> None:
    from incident import messages, support

    with _open(incident) as store:
        paths = support.write_request(store, kind, messages.Templates(templates), language)
        if kind == "annotation":
            told = messages.summary(store)
            if told["sent"] < told["total"] or not told["total"]:
                _err.print(f"warning: {told['sent']} of {told['total']} buyers told so far: Seller Support asks for "
                           "proof that every buyer was told (`incident notify send`)", markup=False, soft_wrap=True)
        print(paths[0].read_text(encoding="utf-8"))
        _err.print(f"wrote {paths[0]} and {paths[1]} (attach the CSV)", markup=False, soft_wrap=True)
        if sent:
            support.mark_sent(store, kind, step, store_mod.actor(by))
            _err.print(f"{step}: done", markup=False)
        else:
            _err.print(f"Once sent: incident support {kind} --sent", markup=False)


@support_app.command("fba-request")
def support_fba(sent: Annotated[bool, typer.Option("--sent", help="Mark it sent (ticks the checklist step).")] = False,
                templates: TemplatesOpt = None, language: LanguageOpt = None,
                incident: IncidentOpt = None, by: ByOpt = None) -> None:
    """The request to Seller Support to cancel the FBA orders, with a CSV of their order ids.

    Example: incident support fba-request --sent
    """
    _support("fba-request", "fba-request", incident, by, sent, templates, language)


@support_app.command("annotation")
def support_annotation(sent: Annotated[bool, typer.Option("--sent", help="Mark it sent (ticks the checklist step).")] = False,
                       templates: TemplatesOpt = None, language: LanguageOpt = None,
                       incident: IncidentOpt = None, by: ByOpt = None) -> None:
    """The request to annotate the account after the cancellations, with the evidence.

    Example: incident support annotation --sent
    """
    _support("annotation", "annotation-request", incident, by, sent, templates, language)


@support_app.command("account-manager")
def support_account_manager(templates: TemplatesOpt = None, language: LanguageOpt = None,
                            incident: IncidentOpt = None, by: ByOpt = None) -> None:
    """A short urgent note for an account manager.

    Example: incident support account-manager
    """
    _support("account-manager", "contact-support", incident, by, False, templates, language)


sandbox_app = typer.Typer(cls=_Group, no_args_is_help=True, help="The local SP-API simulator.")
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("serve")
def sandbox_serve(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8123,
    sample: Annotated[str, typer.Option("--sample", help="Seed from this bundled sample: us or jp.")] = "us",
    drill: Annotated[bool, typer.Option("--drill", help="A live drill instead: a stacked discount goes live in 2 minutes and orders keep arriving.")] = False,
    orders: Annotated[int, typer.Option("--orders", help="Drill: orders at the bad price.")] = 400,
    minutes: Annotated[float, typer.Option("--minutes", help="Drill: how long the bad price stays live.")] = 15.0,
) -> None:
    """Serve a simulated seller account on 127.0.0.1 until Ctrl-C.

    Example: incident sandbox serve --drill
    """
    import time

    from incident import sandbox

    if drill:
        simulator, scope = sandbox.drill(orders=orders, lasts=minutes)
        label = f"drill: {orders} orders for {scope['sku']} from {scope['start']} to {scope['end']}"
    else:
        simulator, scope, label = sandbox.seeded(sample), None, f"{sample} sample"
    url = simulator.start(port=port)
    print(f"SP-API simulator on {url} ({label}, seller {simulator.seller_id}). Use it with:")
    variables = [f"{name}={value}" for name, value in simulator.environment().items()]
    print(f"  export {' '.join(variables[:3])}")
    print(f"  export {' '.join(variables[3:])}")
    if scope:
        print("When you notice the bad price, open the incident and pull as it unfolds:")
        print(f"  incident open --sku {scope['sku']} --start {scope['start']} --end {scope['end']} "
              f"--marketplace {scope['marketplace']}")
        print("  incident stop-sales && incident pull --live --repeat 2")
    sys.stdout.flush()  # the banner must reach a log or a pipe now, not when the server stops
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        simulator.stop()


@step_app.command("done")
def step_done(
    step_id: Annotated[str, typer.Argument(metavar="ID", help="Step id, as `incident status` shows it.")],
    note: Annotated[str | None, typer.Option("--note", help="What was done, for the report.")] = None,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Tick a step done.

    Example: incident step done stop-bleeding --note "promo SOCIAL20 ended 14:31"
    """
    _mark(incident, step_id, "done", by, note)


@step_app.command("skip")
def step_skip(
    step_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Why the step does not apply.")],
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Skip a step, saying why.

    Example: incident step skip fba-request --reason "no FBA orders"
    """
    _mark(incident, step_id, "skipped", by, reason)


@step_app.command("reopen")
def step_reopen(
    step_id: Annotated[str, typer.Argument(metavar="ID")],
    reason: Annotated[str, typer.Option("--reason", help="Why the step must be done again.")],
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Reopen a done or skipped step.

    Example: incident step reopen cancel-upload --reason "upload rejected the reason code"
    """
    _mark(incident, step_id, "open", by, reason)


def _mark(incident: str | None, step_id: str, state: str, by: str | None, note: str | None) -> None:
    from incident import runbook

    with _open(incident) as store:
        runbook.mark(store, step_id, state, store_mod.actor(by), note)
        print(f"{step_id}: {state}")


def _describe_step(store: store_mod.Store, step: Any) -> list[str]:
    from incident import runbook

    lines = [f"Next: {step['title']}  [{step['id']}]{'' if step['required'] else '  (optional)'}",
             f"  Why: {step['why']}", f"  Who: {step['who']}"]
    if step["manual"]:
        lines.append(f"  In Seller Central: {step['manual']}")
    args = runbook.command_args(step, store.incident())
    if args:
        lines.append(f"  Run: {runbook.show_command(args)}")
    if step["follow_up"]:
        lines.append(f"  Then: {step['follow_up']}")
    else:
        lines.append(f"  Then: incident step done {step['id']}   (or: incident step skip {step['id']} --reason ...)"
                     if not step["ticks_on"] or not args else "  The step ticks itself when the command succeeds.")
    return lines


@app.command("next")
def next_step(incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """Show the next open step: what to do, why, and the exact command.

    Example: incident next
    """
    from incident import runbook

    with _open(incident) as store:
        step = runbook.next_open(store)
        if as_json:
            _print_json(None if step is None else {
                "id": step["id"], "title": step["title"], "why": step["why"], "who": step["who"],
                "manual": step["manual"], "command": runbook.command_args(step, store.incident())})
            return
        if step is None:
            print("Every step is done or skipped. Run `incident status` for the summary.")
            return
        print("\n".join(_describe_step(store, step)))


@app.command()
def guide(incident: IncidentOpt = None, by: ByOpt = None) -> None:
    """Walk through the open steps one by one, asking before running each command.

    Example: incident guide
    """
    from incident import runbook

    who = store_mod.actor(by)
    with _open(incident) as store:
        incident_id = store.incident().id
    asked: set[str] = set()
    while True:
        with store_mod.open_store(_home(), incident_id) as store:
            steps = [s for s in store.steps() if s["state"] == "open" and s["id"] not in asked]
            if not steps:
                print("No open steps left to go through. `incident status` shows where things stand.")
                return
            step = steps[0]
            asked.add(step["id"])
            print()
            print("\n".join(_describe_step(store, step)))
            args = runbook.command_args(step, store.incident())
        if args:
            for position, question in runbook.prompts(args):
                args[position] = typer.prompt(f"  {question}")
            if typer.confirm(f"  Run `{runbook.show_command(args)}` now?", default=True):
                completed = subprocess.run([sys.executable, "-m", "incident", *args[1:]],
                                           env={**os.environ, "INCIDENT_HOME": str(_home())})
                if completed.returncode != 0:
                    print(f"  The command failed (exit {completed.returncode}); fix the problem and "
                          f"run `incident guide` again.")
                    continue
        with store_mod.open_store(_home(), incident_id) as store:
            if store.step(step["id"])["state"] != "open":
                print(f"  {step['id']}: done")
                continue
            answer = typer.prompt("  Is this step done? [y]es / [s]kip / [l]ater / [q]uit",
                                  default="l").strip().lower()[:1]
            if answer == "y":
                runbook.mark(store, step["id"], "done", who)
                print(f"  {step['id']}: done")
            elif answer == "s":
                reason = typer.prompt("  Why skip it?")
                runbook.mark(store, step["id"], "skipped", who, reason)
            elif answer == "q":
                return


@app.command()
def status(incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """Where the incident stands: time since it started, each step, each bucket, the exports.

    Example: incident status --json
    """
    from incident import marketplaces, messages
    from incident.scope import counts, money

    with _open(incident) as store:
        inc = store.incident()
        decisions = _decisions(store)
        steps = store.steps()
        exports = store.exports()
        notices = messages.summary(store)
    now = now_utc()
    step_records = [{"id": s["id"], "title": s["title"], "state": s["state"], "at": s["at"],
                     "by": s["by"], "note": s["note"], "required": bool(s["required"])} for s in steps]
    export_records = [{"at": e["at"], "path": e["path"], "format": e["format"], "rows": e["rows"],
                       "sha256": e["sha256"], "reason": e["reason"]} for e in exports]
    if as_json:
        _print_json({"id": inc.id, "title": inc.title, "state": inc.state, "scope": inc.scope(),
                     "opened_at": store_mod.iso_utc(inc.opened_at), "opened_by": inc.opened_by,
                     "elapsed_seconds": int((now - inc.window_start).total_seconds()),
                     "counts": counts(decisions), "money": money(decisions),
                     "steps": step_records, "exports": export_records, "notices": notices})
        return
    tz = marketplaces.BY_CODE[inc.marketplace].timezone if inc.marketplace else None
    print(f"{inc.id}: {inc.title}  [{inc.state}]")
    print(f"  {elapsed(now - inc.window_start)} since the bad price went live "
          f"({local_and_utc(inc.window_start, tz)}); opened {local_and_utc(inc.opened_at, tz)} by {inc.opened_by}")
    print(f"  SKUs {', '.join(inc.skus)}; window to {local_and_utc(inc.window_end, tz)}"
          f"{f'; floor {inc.floor}' if inc.floor is not None else ''}; marketplace {inc.marketplace or 'not known yet'}")
    done = sum(1 for s in steps if s["state"] != "open")
    rows = []
    for s in steps:
        when = elapsed(parse_iso(s["at"]) - inc.window_start) if s["at"] else ""
        rows.append([s["id"], s["state"] + ("" if s["required"] else " (optional)"), when,
                     s["by"] or "", s["title"]])
    _table(f"Checklist: {done} of {len(steps)} steps done or skipped",
           ["step", "state", "when", "who", "what"], rows)
    _print_buckets(decisions)
    if exports:
        _table("Exports", ["when", "format", "rows", "path"],
               [[elapsed(parse_iso(e["at"]) - inc.window_start), e["format"], str(e["rows"]), e["path"]]
                for e in exports])
    if notices["total"]:
        def when(at: str | None) -> str:
            return f"{elapsed(parse_iso(at) - inc.window_start)} ({local_and_utc(parse_iso(at), tz)})" if at else ""

        _table(f"Buyer notices: {notices['sent']} of {notices['total']} buyers told",
               ["state", "how", "count", "first", "last", "by"],
               [["sent", ", ".join(f"{via} {n}" for via, n in notices["by_via"].items()), str(notices["sent"]),
                 when(notices["first_sent_at"]), when(notices["last_sent_at"]), ", ".join(notices["sent_by"])]]
               + [[state.replace("_", " "), "", str(notices[state]), "", "", ""]
                  for state in ("failed", "not_offered", "blocked", "rendered", "sending") if notices[state]])


@app.command("log")
def show_log(incident: IncidentOpt = None, as_json: JsonOpt = False) -> None:
    """The incident's timeline: every change, when and by whom (UTC).

    Example: incident log
    """
    with _open(incident) as store:
        events = store.events()
    if as_json:
        _print_json(events)
        return
    _table("Timeline (UTC)", ["#", "at", "who", "what", "details"],
           [[str(e["seq"]), e["at"], e["actor"], e["action"],
             json.dumps(e["details"], ensure_ascii=False, sort_keys=True)] for e in events])


@app.command()
def purge(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    incident: IncidentOpt = None,
    by: ByOpt = None,
) -> None:
    """Erase buyer names and e-mail addresses from the incident (keeps orders and the log).

    Example: incident purge --yes
    """
    with _open(incident) as store:
        if not yes and not typer.confirm("Erase the buyers' names and e-mail addresses?"):
            raise typer.Exit(1)
        count = store.purge_personal_data(store_mod.actor(by))
    print(f"erased buyer data from {count} order lines")


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option("--home", help="Where to keep the demo incidents (default: a new temporary folder).")] = None,
    live: Annotated[bool, typer.Option("--live", help="Run against the local SP-API simulator: serve, pull, stop-sales, export, submit, status.")] = False,
) -> None:
    """Run the whole path on the bundled samples: open, pull, export, support, notices, status (offline).

    Example: incident demo
    Example: incident demo --live
    """
    from incident import demo as demo_mod

    for incident_home, incident_id, notes in (demo_mod.run_live(home) if live else demo_mod.run(home)):
        print("\n".join(notes))
        os.environ["INCIDENT_HOME"] = str(incident_home)
        status(incident=incident_id, as_json=False)
        print()
    print(f"Demo incidents are in {incident_home}. Try: INCIDENT_HOME={incident_home} incident next")


def main() -> None:
    app()
