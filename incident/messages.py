"""Buyer apology notices: rendered from jinja2 templates in the buyer's language, checked against
Amazon's Buyer-Seller Messaging rules, kept in the incident database with an idempotency key
so that each buyer is told exactly once.

Who gets one: every affected order in cancellable_mfn once its cancellation was exported or
submitted, and every order in fba_support once the Seller Support request was made. Orders with
no way to reach the buyer are listed, not dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from incident import marketplaces
from incident.errors import InputFileError, StateError, UsageError
from incident.resources import data_dir
from incident.scope import CANCELLABLE, FBA, Decision, sort_store
from incident.store import OrderLine, Store
from incident.timeutil import iso_utc, now_utc, parse_iso

API_LIMIT = 2000
_LINK = re.compile(r"https?://|www\.|\b[\w-]+\.(com|net|org|de|fr|it|es|jp|co\.uk)\b/", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"[\d+][\d ()/.-]{6,}\d")  # eight digits or more, spaced or not (bounds checked in check())
_HTML = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
_KANA = re.compile(r"[\u3040-\u30ff]")
_MARKETING_TERMS = (
    "coupon", "promo code", "discount code", "voucher", "review", "feedback", "5 stars", "five stars", "rating",
    "% off", "gutschein", "rabattcode", "bewertung", "code promo", "bon de réduction", "avis client",
    "codice sconto", "recensione", "cupón", "código de descuento", "reseña", "valoración", "クーポン", "レビュー",
    "評価", "割引コード")
_MARKETING = re.compile("|".join(re.escape(term) for term in _MARKETING_TERMS), re.IGNORECASE)


@dataclass
class Problem:
    rule: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.rule}: {self.message}"


def _language(locale: str) -> str:
    """en-US -> en."""
    return locale.split("-")[0]


def _standalone(text: str, match: re.Match) -> bool:
    """Not part of a longer run of digits and dashes (a part number, say)."""
    before = text[match.start() - 1] if match.start() else " "
    after = text[match.end()] if match.end() < len(text) else " "
    return not (before.isdigit() or before == "-" or after.isdigit() or after == "-")


def check(text: str, order_id: str, locale: str, buyer_locale: str | None = None,
          channel: str = "spapi") -> list[Problem]:
    """Every rule a notice breaks, with where. `channel` spapi also forbids HTML and > 2000 chars."""
    problems: list[Problem] = []

    def at(match_start: int) -> tuple[int, int]:
        before = text[:match_start]
        return before.count("\n") + 1, match_start - (before.rfind("\n") + 1) + 1

    without_ids = text.replace(order_id, "#" * len(order_id))  # the order's own id is no phone number
    lowered = without_ids.lower()
    for rule, pattern, message, may_match in [  # may_match: a cheap test that rules most texts out
        ("no-links", _LINK, "links are not allowed in buyer messages", "/" in lowered or "www." in lowered),
        ("no-email", _EMAIL, "e-mail addresses are not allowed", "@" in lowered),
        ("no-phone", _PHONE, "phone numbers are not allowed", True),
        ("no-marketing", _MARKETING, "no coupons, promotions of other products or review requests",
         any(term in lowered for term in _MARKETING_TERMS)),
    ] + ([("no-html", _HTML, "the Messaging API takes plain text only", "<" in lowered)] if channel == "spapi" else []):
        if not may_match:
            continue
        for match in pattern.finditer(without_ids):
            if rule == "no-phone" and not _standalone(without_ids, match):
                continue
            problems.append(Problem(rule, *at(match.start()), f"{message} ('{match.group()}')"))
    if channel == "spapi" and len(text) > API_LIMIT:
        problems.append(Problem("length", *at(API_LIMIT), f"{len(text)} characters; the Messaging API takes at most {API_LIMIT}"))
    if not text.strip():
        problems.append(Problem("length", 1, 1, "the notice is empty"))
    if order_id not in text:
        problems.append(Problem("order-id", 1, 1, f"the order id {order_id} must appear in the notice"))
    japanese = bool(_KANA.search(text))
    if locale.startswith("ja") != japanese:
        problems.append(Problem("language", 1, 1, f"the text does not read as {locale}"))
    if buyer_locale and _language(buyer_locale) != _language(locale):
        problems.append(Problem("language", 1, 1, f"written in {locale} but the buyer reads {buyer_locale}"))
    return problems


class Templates:
    """The bundled templates, or a seller's own folder over them. Undefined variables are errors."""

    def __init__(self, folder: Path | None = None):
        from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

        loaders = [FileSystemLoader(str(data_dir("templates")))]
        if folder is not None:
            if not Path(folder).is_dir():
                raise UsageError(f"--templates {folder} is not a folder")
            loaders.insert(0, FileSystemLoader(str(folder)))
        self.env = Environment(loader=ChoiceLoader(loaders), undefined=StrictUndefined,
                               autoescape=select_autoescape(["html", "htm", "xml", "html.j2", "htm.j2", "xml.j2"]),
                               keep_trailing_newline=True)
        self._chosen: dict[tuple[str, str], str] = {}

    def name_for(self, kind: str, locale: str) -> str:
        key = (kind, locale)
        if key not in self._chosen:
            self._chosen[key] = self._choose(kind, locale)
        return self._chosen[key]

    def _choose(self, kind: str, locale: str) -> str:
        """`kind`/<locale>.txt.j2: the locale itself, else its language, else en-US."""
        names = self.env.list_templates()
        for candidate in (locale, _language(locale)):
            for name in names:
                if name.startswith(f"{kind}/{candidate}") and name.endswith(".j2"):
                    return name
        return f"{kind}/en-US.txt.j2"

    def locale_of(self, kind: str, locale: str) -> str:
        """The locale of the template used for `locale` (es-US is written with es-ES)."""
        return self.name_for(kind, locale).split("/")[-1].split(".")[0]

    def render(self, kind: str, locale: str, context: dict[str, Any]) -> tuple[str, str]:
        from jinja2 import TemplateError, UndefinedError

        name = self.name_for(kind, locale)
        try:
            text = self.env.get_template(name).render(**context)
        except UndefinedError as exc:
            raise InputFileError(name, f"uses an undefined variable ({exc.message})",
                                 f"Use only: {', '.join(sorted(context))}") from None
        except TemplateError as exc:
            raise InputFileError(name, f"cannot be rendered ({exc})", "Fix the template") from None
        subject, _, body = text.partition("\n")
        return subject.strip(), body.strip() + "\n"


@lru_cache(maxsize=64)
def _babel_locale(locale: str):
    from babel import Locale, UnknownLocaleError

    for candidate in (locale.replace("-", "_"), _language(locale), "en_US"):  # a locale babel lacks: its language
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue


@lru_cache(maxsize=65536)  # an incident is one product at a few prices: most amounts repeat
def _money(locale: str, amount, currency: str | None) -> str:
    from babel.numbers import format_currency

    return format_currency(amount, currency, locale=_babel_locale(locale)) if currency and amount is not None else "-"


def _day(locale: str, moment: str | None, zone: str | None) -> str:
    """The purchase date as the buyer saw it: in the marketplace's time zone."""
    from zoneinfo import ZoneInfo

    if not moment:
        return "-"
    when = parse_iso(moment)
    return _date_text(locale, (when.astimezone(ZoneInfo(zone)) if zone else when).date())


@lru_cache(maxsize=4096)
def _date_text(locale: str, day) -> str:
    from babel.dates import format_date

    return format_date(day, format="long", locale=_babel_locale(locale))


@dataclass
class RenderResult:
    rendered: int = 0
    unchanged: int = 0
    already_sent: int = 0
    unreachable: list[str] = field(default_factory=list)
    waiting: dict[str, int] = field(default_factory=dict)


def notice_key(incident_id: str, order_id: str) -> str:
    return hashlib.sha256(f"{incident_id}/{order_id}/apology".encode()).hexdigest()[:32]


def eligible(store: Store, lines: list[OrderLine] | None = None) -> tuple[dict[str, list[Decision]], dict[str, int]]:
    """Orders due a notice now, and how many wait for their cancellation step."""
    decisions = sort_store(store, lines)
    exported = bool(store.exports()) or any(s == "accepted" for s, _ in store.cancel_requests().values())
    fba_asked = store.step("fba-request")["state"] == "done" if any(
        r["id"] == "fba-request" for r in store.steps()) else False
    due: dict[str, list[Decision]] = {}
    waiting = {CANCELLABLE: 0, FBA: 0}
    for decision in decisions:
        if decision.bucket not in (CANCELLABLE, FBA):
            continue
        ready = exported if decision.bucket == CANCELLABLE else fba_asked
        if not ready:
            waiting[decision.bucket] += 1
            continue
        due.setdefault(decision.line.order_id, []).append(decision)
    return due, waiting


def _ask_buyer_locale(connection, client, order_id: str) -> str | None:
    """The buyer's locale from Messaging GetAttributes (en-US), or None when Amazon gives none."""
    payload = connection.call("getAttributes", client.get_attributes, order_id).payload or {}
    return str((payload.get("buyer") or {}).get("locale") or "").replace("_", "-") or None


def buyer_locales(store: Store, connection, order_ids: list[str], progress=None) -> dict[str, str]:
    """Each buyer's locale as Amazon reports it (Messaging GetAttributes, paced at 1/s), asked
    once per order: locales already known from an earlier render are not asked again."""
    from sp_api.api import Messaging

    known = {r["order_id"]: r["buyer_locale"] for r in store.conn.execute(
        "SELECT order_id, buyer_locale FROM notices WHERE buyer_locale IS NOT NULL")}
    client = connection.client(Messaging)
    for done, order_id in enumerate(order_ids, 1):
        if order_id not in known and (locale := _ask_buyer_locale(connection, client, order_id)):
            known[order_id] = locale
        if progress:
            progress(done, len(order_ids))
    return {order_id: known[order_id] for order_id in order_ids if order_id in known}


def render_notices(store: Store, who: str, templates: Templates | None = None,
                   seller_name: str = "Customer Service", connection=None, progress=None) -> RenderResult:
    """Render (or re-render) the notice of every order due one. With a `connection`, each is
    written in the buyer's own locale (GetAttributes); without, in the marketplace's."""
    templates = templates or Templates()
    incident = store.incident()
    due, waiting = eligible(store)
    result = RenderResult(waiting={k: v for k, v in waiting.items() if v})
    existing = {row["order_id"]: row for row in store.conn.execute("SELECT * FROM notices")}
    settled = {o for o, row in existing.items() if row["state"] in ("sending", "sent")}  # never rewritten
    pending = [o for o in sorted(due) if o not in settled]
    asked = buyer_locales(store, connection, pending, progress) if connection is not None else {}
    rows = []
    for order_id, decisions in sorted(due.items()):
        line = decisions[0].line
        old = existing.get(order_id)
        if decisions[0].bucket == CANCELLABLE and not line.buyer_email:
            result.unreachable.append(order_id)
        if order_id in settled:
            result.already_sent += 1
            continue
        market = marketplaces.from_sales_channel(line.sales_channel) or (
            marketplaces.BY_CODE.get(incident.marketplace or "") or marketplaces.BY_CODE["US"])
        buyer_locale = asked.get(order_id) or (old["buyer_locale"] if old is not None else None)
        locale = buyer_locale or market.tag
        paid = sum((d.price_paid or 0) for d in decisions)
        amount, day = _money(locale, paid, line.currency or market.currency), _day(locale, line.purchase_date, market.timezone)
        context = {"order_id": order_id, "purchase_date": day, "amount": amount, "seller_name": seller_name,
                   "products": ", ".join(sorted({d.line.product_name or d.line.sku for d in decisions})),
                   "fulfilled_by_amazon": decisions[0].bucket == FBA}
        subject, body = templates.render("notice", locale, context)
        problems = check(subject + "\n" + body, order_id, templates.locale_of("notice", locale), buyer_locale)
        if old is not None and old["body"] == body and old["subject"] == subject:
            result.unchanged += 1
            continue
        rows.append((order_id, notice_key(incident.id, order_id), locale, subject, body,
                     "blocked" if problems else "rendered", json.dumps([str(p) for p in problems]) if problems else None,
                     iso_utc(now_utc()), buyer_locale))
    with store.change(who, "notify_render", {"rendered": len(rows), "unchanged": result.unchanged,
                                             "already_sent": result.already_sent,
                                             "unreachable": len(result.unreachable),
                                             "buyer_locales_asked": len(asked)}) as conn:
        conn.executemany(
            "INSERT INTO notices (order_id, idempotency_key, locale, subject, body, state, problems, rendered_at, "
            "buyer_locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO UPDATE SET "
            "locale = excluded.locale, subject = excluded.subject, body = excluded.body, state = excluded.state, "
            "problems = excluded.problems, rendered_at = excluded.rendered_at, forced_reason = NULL, "
            "buyer_locale = excluded.buyer_locale", rows)
    result.rendered = len(rows)
    return result


def blocked(store: Store) -> list[tuple[str, list[str]]]:
    return [(r["order_id"], json.loads(r["problems"] or "[]"))
            for r in store.conn.execute("SELECT * FROM notices WHERE state = 'blocked' ORDER BY order_id")]


def force(store: Store, who: str, reason: str) -> int:
    """Let blocked notices go out anyway, with the reason in the log."""
    if not reason.strip():
        raise UsageError("--force needs --reason: say why the rules do not apply")
    with store.change(who, "notify_force", {"reason": reason}) as conn:
        count = conn.execute("UPDATE notices SET state = 'rendered', forced_reason = ? WHERE state = 'blocked'",
                             (reason,)).rowcount
    if not count:
        raise StateError("no blocked notice to force")
    return count


# -- sending ---------------------------------------------------------------------------------------

VIAS = ("spapi", "smtp", "outbox")


@dataclass
class SendResult:
    total: int = 0
    sent: int = 0
    failed: int = 0
    not_offered: int = 0
    resumed: int = 0
    errors: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped early (the server went away); a rerun goes on
    unrendered: int = 0  # orders due a notice that `notify render` has not written yet
    blocked: int = 0  # notices the rules hold back (`notify check`)
    other_language: int = 0  # held back by this run: Amazon says the buyer reads another language


@dataclass
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    sender: str
    tls: str  # none | starttls | ssl


def smtp_settings(config: dict[str, Any] | None = None) -> SmtpSettings:
    """[smtp] in incident.toml, overridden by INCIDENT_SMTP_* in the environment."""
    import os

    from incident import config as config_file

    config = config if config is not None else config_file.section("smtp")[0]
    get = lambda key, default=None: os.environ.get(f"INCIDENT_SMTP_{key.upper()}") or config.get(key, default)
    host, sender = get("host"), get("from")
    if not host or not sender:
        raise UsageError("SMTP needs INCIDENT_SMTP_HOST and INCIDENT_SMTP_FROM (the seller's approved sender "
                         "address), or host and from under [smtp] in incident.toml")
    tls = str(get("tls", "starttls")).lower()
    if tls not in ("none", "starttls", "ssl"):
        raise UsageError(f"INCIDENT_SMTP_TLS '{tls}' is not one of none, starttls, ssl")
    return SmtpSettings(host, int(get("port", 465 if tls == "ssl" else 587)), get("user"), get("password"), sender, tls)


def _email(row: Any, sender: str, recipient: str) -> bytes:
    from email.message import EmailMessage
    from email.utils import formatdate

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, recipient, row["subject"]
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{row['idempotency_key']}@incident.notice>"  # same on a resend: deduplicable
    message.set_content(row["body"], subtype="html" if _HTML.search(row["body"]) else "plain")  # a forced HTML template
    return message.as_bytes()


class _Smtp:
    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._connect()

    def _connect(self) -> None:
        import smtplib
        import ssl

        settings = self.settings
        context = ssl.create_default_context()
        if settings.tls == "ssl":
            self.client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=30, context=context)
        else:
            self.client = smtplib.SMTP(settings.host, settings.port, timeout=30)
            if settings.tls == "starttls":
                self.client.starttls(context=context)
        if settings.user:
            self.client.login(settings.user, settings.password or "")

    def send(self, row: Any, recipient: str) -> None:
        import smtplib

        message = _email(row, self.settings.sender, recipient)
        try:
            self.client.sendmail(self.settings.sender, [recipient], message)
        except smtplib.SMTPServerDisconnected:  # idle timeout or a restart: no 250 yet, so nothing was delivered
            self._connect()
            self.client.sendmail(self.settings.sender, [recipient], message)

    def close(self) -> None:
        import smtplib

        try:
            self.client.quit()
        except (OSError, smtplib.SMTPException):  # every message is already recorded; a rude goodbye is harmless
            pass


class _Outbox:
    """.eml files and outbox.csv, for sellers who send through another tool."""

    def __init__(self, store: Store, sender: str, emails: dict[str, str]):
        self.store, self.folder, self.sender, self.emails = store, store.folder / "outbox", sender, emails

    def send(self, row: Any, recipient: str) -> None:
        from incident.store import write_private

        write_private(self.folder / f"{row['order_id']}.eml", _email(row, self.sender, recipient))

    def close(self) -> None:
        from incident.store import csv_text, write_private

        sent = self.store.conn.execute("SELECT * FROM notices WHERE via = 'outbox' AND state = 'sent' ORDER BY order_id")
        rows = ([r["order_id"], self.emails.get(r["order_id"]) or "", r["subject"], f"{r['order_id']}.eml"] for r in sent)
        if self.folder.exists():
            write_private(self.folder / "outbox.csv", csv_text(["order_id", "to", "subject", "file"], rows).encode("utf-8"))


def send_notices(store: Store, who: str, via: str, *, connection=None, smtp: SmtpSettings | None = None,
                 limit: int | None = None, test_to: str | None = None, progress=None) -> SendResult:
    """Send every rendered notice once. States: rendered -> sending -> sent | failed | not_offered.
    A notice left in `sending` by a crash is sent again with the same Message-ID."""
    if via not in VIAS:
        raise UsageError(f"--via '{via}' is not one of {', '.join(VIAS)}")
    if test_to and via == "spapi":
        raise UsageError("--test-to works with --via smtp or outbox: the Messaging API writes only to the "
                         "order's own buyer")
    lines = store.lines()
    emails = {line.order_id: line.buyer_email for line in lines if line.buyer_email}
    rows = store.conn.execute("SELECT * FROM notices WHERE state IN ('sending', 'rendered', 'failed') "
                              "ORDER BY state = 'rendered', order_id").fetchall()
    if limit is not None:
        rows = rows[:limit]
    result = SendResult(total=len(rows))
    rendered = {r[0] for r in store.conn.execute("SELECT order_id FROM notices")}
    result.unrendered = sum(1 for order_id in eligible(store, lines)[0] if order_id not in rendered)
    result.blocked = store.conn.execute("SELECT count(*) FROM notices WHERE state = 'blocked'").fetchone()[0]
    if test_to:
        rows = rows[:1] if rows else []
    sender = _open_sender(store, via, connection, smtp, emails)
    try:
        for row in rows:
            if row["state"] == "sending":
                result.resumed += 1
            outcome, error = _send_one(store, who, via, sender, row, emails.get(row["order_id"]), test_to, connection)
            if outcome == "stop":
                result.failed += 1
                result.stopped = error
                break
            if outcome == "sent":
                result.sent += 1
            elif outcome == "not_offered":
                result.not_offered += 1
            elif outcome == "other_language":
                result.other_language += 1
            else:
                result.failed += 1
                result.errors.append(f"{row['order_id']}: {error}")
            if progress:
                progress(result.sent + result.failed + result.not_offered + result.other_language, result.total)
    finally:
        if sender is not None:
            sender.close()
    if not test_to:
        with store.change(who, "notify_send", {"via": via, "sent": result.sent, "failed": result.failed,
                                               "not_offered": result.not_offered}) as conn:
            remaining = conn.execute("SELECT count(*) FROM notices WHERE state NOT IN ('sent', 'not_offered')").fetchone()[0]
            if remaining == 0:
                store.tick_step(conn, "notify-send", who)
    return result


def connect_smtp(settings: SmtpSettings) -> _Smtp:
    """A logged-in connection to the mail server, or one clear error saying what to check."""
    import smtplib

    try:
        return _Smtp(settings)
    except smtplib.SMTPAuthenticationError:
        raise StateError(f"the SMTP server refused the login of '{settings.user}': check INCIDENT_SMTP_USER "
                         "and INCIDENT_SMTP_PASSWORD (many providers want an app password)") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise StateError(f"the SMTP server {settings.host}:{settings.port} does not offer "
                         f"{'login' if 'AUTH' in str(exc) else 'STARTTLS'} here: check INCIDENT_SMTP_TLS "
                         "(starttls on port 587, ssl on 465)") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise StateError(f"cannot reach the SMTP server {settings.host}:{settings.port}: "
                         f"{type(exc).__name__}; check INCIDENT_SMTP_HOST/PORT/TLS") from None


def _open_sender(store: Store, via: str, connection, smtp: SmtpSettings | None, emails: dict[str, str]):
    if via == "smtp":
        return connect_smtp(smtp or smtp_settings())
    if via == "outbox":
        import os

        return _Outbox(store, smtp.sender if smtp else os.environ.get("INCIDENT_SMTP_FROM", "seller@example.invalid"),
                       emails)
    if connection is None:
        raise UsageError("--via spapi needs SP-API credentials (`incident doctor`)")
    return None


def _send_one(store: Store, who: str, via: str, sender, row, email: str | None, test_to: str | None,
              connection) -> tuple[str, str | None]:
    if test_to:
        if sender is not None:
            sender.send(row, test_to)
        return "sent", None
    if via != "spapi" and not email:
        why = ("no buyer e-mail address: the Unshipped Orders report has it for seller-fulfilled orders; "
               "FBA buyers are reached with --via spapi")
        _set_state(store, who, row["order_id"], "failed", via, why)
        return "failed", why
    with store.change(who, "notice_sending", {"order_id": row["order_id"], "via": via}) as conn:
        conn.execute("UPDATE notices SET state = 'sending', via = ?, attempts = attempts + 1 WHERE order_id = ?",
                     (via, row["order_id"]))
    try:
        if via == "spapi":
            outcome, buyer_locale = _send_spapi(connection, row)
            if outcome == "not_offered":
                _set_state(store, who, row["order_id"], "not_offered", via, "Amazon does not offer unexpectedProblem for this order")
                return "not_offered", None
            if outcome == "other_language":
                problem = f"1:1: language: written in {row['locale']} but the buyer reads {buyer_locale}"
                with store.change(who, "notice_blocked", {"order_id": row["order_id"], "via": via,
                                                          "buyer_locale": buyer_locale}) as conn:
                    conn.execute("UPDATE notices SET state = 'blocked', buyer_locale = ?, problems = ? WHERE order_id = ?",
                                 (buyer_locale, json.dumps([problem]), row["order_id"]))
                return "other_language", None
        else:
            sender.send(row, email)
    except Exception as exc:  # noqa: BLE001 -- one buyer's failure must not stop the others
        detail = str(exc.args[0]) if getattr(exc, "args", None) else ""
        message = f"{type(exc).__name__}: {_EMAIL.sub('<address>', detail)}"  # never a buyer's address in a log
        _set_state(store, who, row["order_id"], "failed", via, message[:300])
        return ("stop" if _server_gone(exc) else "failed"), message
    _set_state(store, who, row["order_id"], "sent", via, None)
    return "sent", None


def _server_gone(exc: Exception) -> bool:
    """A failure of the server or the connection, not of this one notice: stop the run (each
    further try would fail the same way, slowly) and let a rerun go on. No 250 / 2xx was seen,
    so the notice was not delivered."""
    import smtplib

    from incident.spapi import ApiError

    if isinstance(exc, ApiError):
        return exc.status is None or exc.status >= 500 or exc.status in (401, 403) or exc.operation == "login"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code < 500  # 4xx: the server is busy or closing; 5xx: this message is refused
    return isinstance(exc, (OSError, smtplib.SMTPException))


def _send_spapi(connection, row) -> tuple[str, str | None]:
    """Ask the buyer's language first when it is not known (GetAttributes has its own rate limit,
    so this costs no time after the first burst): a notice in another language is held back."""
    from sp_api.api import Messaging

    client = connection.client(Messaging)
    buyer_locale = row["buyer_locale"]
    if not buyer_locale and not row["forced_reason"]:
        buyer_locale = _ask_buyer_locale(connection, client, row["order_id"])
        if buyer_locale and _language(buyer_locale) != _language(row["locale"]):
            return "other_language", buyer_locale
    actions = connection.call("getMessagingActionsForOrder", client.get_messaging_actions_for_order,
                              row["order_id"]).payload
    names = {a.get("name") for a in (actions.get("_links") or {}).get("actions") or []}
    if "unexpectedProblem" not in names:
        return "not_offered", buyer_locale
    text = row["subject"] + "\n\n" + row["body"]
    connection.call("createUnexpectedProblem", client.create_unexpected_problem, row["order_id"], body={"text": text})
    return "sent", buyer_locale


def _set_state(store: Store, who: str, order_id: str, state: str, via: str, error: str | None) -> None:
    with store.change(who, f"notice_{state}", {"order_id": order_id, "via": via}) as conn:
        conn.execute("UPDATE notices SET state = ?, via = ?, error = ?, sent_at = CASE WHEN ? = 'sent' "
                     "THEN strftime('%Y-%m-%dT%H:%M:%SZ','now') ELSE sent_at END WHERE order_id = ?",
                     (state, via, error, state, order_id))


def summary(store: Store) -> dict[str, Any]:
    """Who was told, how and when: notices per state, sent ones per channel, first and last
    sending time, and who sent them."""
    states = dict(store.conn.execute("SELECT state, count(*) FROM notices GROUP BY state").fetchall())
    by_via = dict(store.conn.execute("SELECT via, count(*) FROM notices WHERE state = 'sent' GROUP BY via").fetchall())
    first, last = store.conn.execute("SELECT min(sent_at), max(sent_at) FROM notices WHERE state = 'sent'").fetchone()
    senders = [r[0] for r in store.conn.execute(
        "SELECT DISTINCT actor FROM events WHERE action = 'notice_sent' ORDER BY actor")]
    return {"total": sum(states.values()), **{state: states.get(state, 0) for state in
            ("sent", "failed", "not_offered", "blocked", "rendered", "sending")},
            "by_via": by_via, "first_sent_at": first, "last_sent_at": last, "sent_by": senders}


def listing(store: Store) -> list[dict[str, Any]]:
    """One row per notice: the order, the language, where it stands, how and when it went."""
    return [{"order_id": r["order_id"], "locale": r["locale"], "buyer_locale": r["buyer_locale"],
             "state": r["state"], "via": r["via"], "sent_at": r["sent_at"], "attempts": r["attempts"],
             "error": r["error"], "forced_reason": r["forced_reason"], "problems": json.loads(r["problems"] or "[]")}
            for r in store.conn.execute("SELECT * FROM notices ORDER BY order_id")]
