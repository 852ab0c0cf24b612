"""Reading the seller's files (the plan, the prices, the stacking rules) so that every value
keeps where it was written: a problem is then reported as file:line:column with the fix.

YAML is read as text, never with YAML's own guesses (a date becomes a datetime without a zone,
99.99 a binary float): each reader parses the text itself. CSV rows come out the same way."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from incident.errors import InputFileError
from incident.timeutil import parse_iso


@dataclass(slots=True)
class Field:
    """A value as written (str, list[Field], dict[str, Field] or None) and where."""

    value: Any
    line: int
    column: int

    def text(self) -> str | None:
        if self.value is None:
            return None
        if not isinstance(self.value, str):
            return None
        return self.value.strip() or None


class Source:
    """One file being read: raises its problems with the place they are at."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def fail(self, at: Field | None, problem: str, fix: str, name: str | None = None) -> InputFileError:
        return InputFileError(self.path, problem, fix, line=at.line if at else None,
                              column=at.column if at else None, column_name=name)

    # -- reading the file --------------------------------------------------------------------

    def text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise InputFileError(self.path, "does not exist", "Check the path") from None
        except UnicodeDecodeError as exc:
            raise InputFileError(self.path, f"is not UTF-8 text (byte {exc.start})",
                                 "Save it as UTF-8 (CSV UTF-8 in a spreadsheet program)") from None

    def yaml(self) -> Field | None:
        import yaml

        try:
            node = yaml.compose(self.text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml, 10x faster
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise InputFileError(self.path, f"is not valid YAML ({getattr(exc, 'problem', None) or exc})",
                                 "Fix the indentation or quoting there",
                                 line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None) from None
        return None if node is None else _field(node)

    def csv_rows(self) -> tuple[list[str], list[dict[str, Field]]]:
        """Header names (normalised: lower case, `_` for spaces and dashes) and the rows."""
        lines = self.text().splitlines()
        reader = csv.reader(lines)
        rows: list[dict[str, Field]] = []
        header: list[str] | None = None
        try:
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue
                if header is None:
                    header = [key(cell) for cell in record]
                    continue
                line = reader.line_num
                if len(record) > len(header):
                    raise self.fail(Field(None, line, len(header) + 1), f"has {len(record)} cells, the header {len(header)}",
                                    "Quote a value that holds a comma, or remove the extra cells")
                rows.append({name: Field(cell, line, number) for number, (name, cell) in
                             enumerate(zip(header, record), start=1)})
        except csv.Error as exc:
            raise InputFileError(self.path, f"is not valid CSV ({exc})", "Check the quotes on that line",
                                 line=reader.line_num) from None
        return header or [], rows

    # -- values ------------------------------------------------------------------------------

    def decimal(self, at: Field, name: str) -> Decimal:
        text = at.value.strip() if isinstance(at.value, str) else ""
        if text and _PLAIN_AMOUNT.fullmatch(text):  # the common case, 10,000 times in a prices file
            return Decimal(text)
        text = text.replace(" ", "")
        match = re.fullmatch(r"(?:[A-Z]{3})?([0-9]+(?:\.[0-9]+)?)(?:[A-Z]{3})?", text.upper())
        if not match:
            raise self.fail(at, f"'{at.text()}' is not an amount", "Write it like 19.99 (a dot for decimals, "
                            "no thousands separator)", name)
        try:
            return Decimal(match.group(1))
        except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
            raise self.fail(at, f"'{at.text()}' is not an amount", "Write it like 19.99", name) from None

    def time(self, at: Field, name: str) -> datetime:
        try:
            return parse_iso(at.text() or "")
        except ValueError:
            raise self.fail(at, f"'{at.text()}' is not a time with a UTC offset",
                            "Write it like 2026-11-20T14:00-08:00 or 2026-11-20T22:00Z", name) from None

    def integer(self, at: Field, name: str) -> int:
        text = at.text() or ""
        if not text.isdigit() or int(text) < 1:
            raise self.fail(at, f"'{text}' is not a whole number above 0", "Write it like 3", name)
        return int(text)

    def words(self, at: Field) -> list[str]:
        """A list as written: a YAML list, or one cell split at spaces, commas or semicolons."""
        if isinstance(at.value, list):
            return [v for f in at.value for v in self.words(f)]
        return [w for w in re.split(r"[\s,;]+", at.text() or "") if w]


_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _field(node) -> Field:
    import yaml

    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    if isinstance(node, yaml.MappingNode):
        return Field({key(str(k.value)): _field(v) for k, v in node.value}, line, column)
    if isinstance(node, yaml.SequenceNode):
        return Field([_field(v) for v in node.value], line, column)
    empty = node.style is None and node.value in ("", "~", "null", "Null", "NULL")
    return Field(None if empty else str(node.value), line, column)
