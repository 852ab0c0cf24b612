"""The notice and Seller Support templates (jinja2; the bundled ones, or a seller's own folder
over them) and the buyer's way of writing money and dates (babel)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from incident.errors import InputFileError, UsageError
from incident.notices.rules import language
from incident.resources import data_dir
from incident.timeutil import parse_iso

# The first line of a notice rendered from an .html.j2 template (autoescaped): only such a notice
# goes out as text/html. A notice from a .txt template is plain text even when a product name in it
# looks like HTML.
HTML_MARK = "<!-- incident: text/html from an .html.j2 template -->\n"


def is_html_template(name: str) -> bool:
    return name.endswith((".html.j2", ".htm.j2"))


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
        for candidate in (locale, language(locale)):
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
        subject, body = subject.strip(), body.strip() + "\n"
        if is_html_template(name):
            return subject, HTML_MARK + body
        # a text template's notice is text, whatever its data holds: the mark cannot come from a product name
        return subject.replace(HTML_MARK.strip(), ""), body.replace(HTML_MARK.strip(), "")


@lru_cache(maxsize=64)
def _babel_locale(locale: str):
    from babel import Locale, UnknownLocaleError

    for candidate in (locale.replace("-", "_"), language(locale), "en_US"):  # a locale babel lacks: its language
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue


@lru_cache(maxsize=65536)  # an incident is one product at a few prices: most amounts repeat
def money(locale: str, amount, currency: str | None) -> str:
    from babel.numbers import format_currency

    return format_currency(amount, currency, locale=_babel_locale(locale)) if currency and amount is not None else "-"


def day(locale: str, moment: str | None, zone: str | None) -> str:
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


