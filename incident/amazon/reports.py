"""Read Seller Central order reports (All Orders, Unshipped Orders, the legacy order report).

Reports are recognised by their header, never by column position. The file is read in chunks of
whole lines (`rawfile`), each handed to pyarrow's multi-threaded CSV reader, and only the rows of
the SKUs in scope (and, for a pull, bought inside the window) are kept: memory does not grow with
the file. Every value is checked before it is kept; anything that cannot be read exactly is one
error naming the file, line and column. Error messages never quote buyer data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from incident.amazon.cells import CONVERTERS, PERSONAL, check_line, text_or_none
from incident.amazon.parsing import Parsed, RowParser, read_ahead
from incident.amazon.rawfile import (
    REDOWNLOAD,
    Chunk,
    LineCounter,
    LineTooLong,
    Transcoder,
    detect_encoding,
    diagnose,
    sniff,
    too_long,
)
from incident.errors import InputFileError, UsageError
from incident.safetext import INVISIBLE, shown
from incident.timeutil import iso_utc

ALL_ORDERS = "all_orders"
UNSHIPPED = "unshipped"
LEGACY = "legacy"

KIND_TITLES = {ALL_ORDERS: "All Orders report", UNSHIPPED: "Unshipped Orders report",
               LEGACY: "order report (legacy)"}

# report column -> our field name, per report kind
COLUMNS = {
    ALL_ORDERS: {
        "amazon-order-id": "order_id", "purchase-date": "purchase_date",
        "last-updated-date": "last_updated", "order-status": "order_status",
        "fulfillment-channel": "fulfillment_channel", "sales-channel": "sales_channel",
        "product-name": "product_name", "sku": "sku", "asin": "asin", "item-status": "item_status",
        "quantity": "quantity", "currency": "currency", "item-price": "item_price",
        "item-promotion-discount": "item_promotion_discount", "promotion-ids": "promotion_ids",
        "ship-country": "ship_country", "item-tax": "item_tax", "shipping-price": "shipping_price",
        "shipping-tax": "shipping_tax", "gift-wrap-price": "gift_wrap_price", "gift-wrap-tax": "gift_wrap_tax",
        "ship-promotion-discount": "ship_promotion_discount",
    },
    UNSHIPPED: {
        "order-id": "order_id", "order-item-id": "order_item_id", "purchase-date": "purchase_date",
        "sku": "sku", "product-name": "product_name", "quantity-purchased": "quantity",
        "quantity-shipped": "quantity_shipped", "quantity-to-ship": "quantity_to_ship",
        "buyer-email": "buyer_email", "buyer-name": "buyer_name", "ship-country": "ship_country",
        **{column: column.replace("-", "_") for column in ("recipient-name", "ship-address-1", "ship-address-2",
                                                           "ship-address-3", "ship-city", "ship-state", "ship-postal-code")},
    },
    LEGACY: {
        "order-id": "order_id", "order-item-id": "order_item_id", "purchase-date": "purchase_date",
        "buyer-email": "buyer_email", "buyer-name": "buyer_name", "sku": "sku",
        "product-name": "product_name", "quantity-purchased": "quantity", "currency": "currency",
        "item-price": "item_price", "item-promotion-discount": "item_promotion_discount",
        "item-promotion-id": "promotion_ids", "ship-country": "ship_country",
        "sales-channel": "sales_channel",
    },
}
REQUIRED = {
    ALL_ORDERS: ["amazon-order-id", "purchase-date", "order-status", "fulfillment-channel", "sku",
                 "quantity", "item-price"],
    UNSHIPPED: ["order-id", "order-item-id", "purchase-date", "sku", "quantity-purchased",
                "quantity-to-ship"],
    LEGACY: ["order-id", "order-item-id", "purchase-date", "sku", "quantity-purchased",
             "item-price"],
}
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8-sig", "cp1252": "cp1252",
             "windows-1252": "cp1252", "latin-1": "latin-1", "iso-8859-1": "latin-1",
             "cp932": "cp932", "windows-31j": "cp932", "shift_jis": "cp932", "sjis": "cp932"}

_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
FREE_TEXT = {"product_name", "buyer_name"}  # may hold bidi marks (Arabic names); never control characters


@dataclass
class ReportLine:
    """One order line as a report states it. Only the fields the report has are set."""

    order_id: str
    sku: str
    seq: int  # n-th line of this SKU in this order, in report order; merges reports line by line
    fields: dict[str, object]


@dataclass
class Report:
    path: Path
    kind: str
    encoding: str
    compressed: bool
    rows_read: int
    lines: list[ReportLine] = field(default_factory=list)
    scope_rows: int = 0  # lines of the scope's SKUs (before the window, when one is given)

    @property
    def title(self) -> str:
        return KIND_TITLES[self.kind]



# ---------------------------------------------------------------------------------------------
# the header


def _resolve_encoding(forced: str | None) -> str | None:
    if forced is None:
        return None
    name = ENCODINGS.get(forced.strip().lower())
    if name is None:
        raise UsageError(f"--encoding '{forced}' is not supported: use one of utf-8, cp1252, cp932")
    return name


def _split_header(first_line: bytes, encoding: str) -> list[str]:
    text = first_line.decode(encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")
    return [name.strip().lower() for name in text.split("\t")]


def _kind_of(path: Path, header: list[str]) -> str:
    names = set(header)
    if "amazon-order-id" in names:
        return ALL_ORDERS
    if "order-id" in names and "quantity-to-ship" in names:
        return UNSHIPPED
    if "order-id" in names and "item-price" in names:
        return LEGACY
    if "order-id" in names and "order-item-id" in names:
        return UNSHIPPED  # missing columns are reported below
    if any(_JAPANESE.search(name) for name in header):
        raise InputFileError(
            path, "has Japanese column names", "Switch Seller Central to English (language menu "
            "at the top of the page), download the report again and pass that file", line=1)
    raise InputFileError(
        path, "is not an order report: its first line has none of the columns amazon-order-id or "
        "order-id", "Pass an All Orders, Unshipped Orders or order report (.txt) from Seller "
        "Central > Reports > Order Reports", line=1)


def _check_header(path: Path, kind: str, header: list[str]) -> dict[str, str]:
    """{report column: our field} of the columns we read; refuses missing and doubled ones."""
    missing = [name for name in REQUIRED[kind] if name not in header]
    if missing:
        raise InputFileError(
            path, f"looks like an {KIND_TITLES[kind]} but lacks the column(s) "
            f"{', '.join(missing)}", "Download the full report from Seller Central; "
            "do not remove columns", line=1)
    mapping = {column: name for column, name in COLUMNS[kind].items() if column in header}
    for column in mapping:
        places = [i + 1 for i, name in enumerate(header) if name == column]
        if len(places) > 1:
            raise InputFileError(path, f"the column '{column}' appears twice (columns {places[0]} and "
                                 f"{places[1]}), so which value is meant cannot be told", REDOWNLOAD,
                                 line=1, column=places[1])
    return mapping


def read_report(path: Path | str, skus: Iterable[str] | None = None, encoding: str | None = None,
                window: tuple[datetime, datetime] | None = None) -> Report:
    """Read one report file (plain or gzip), all its kept lines in `report.lines`. `skus` keeps
    only those SKUs' lines; `window` [start, end) only the lines bought inside it."""
    report, batches = open_report(path, skus, encoding, window)
    for batch in batches:
        report.lines += batch
    return report


def open_report(path: Path | str, skus: Iterable[str] | None = None, encoding: str | None = None,
                window: tuple[datetime, datetime] | None = None) -> tuple[Report, Iterator[list[ReportLine]]]:
    """The report's kind and header, checked now, and its kept lines a batch at a time (a chunk of
    the file each), for a caller whose memory must not grow with the file. `report.rows_read`,
    `scope_rows` and `encoding` are complete once the batches are."""
    path = Path(path)
    forced = _resolve_encoding(encoding)
    compressed, head = sniff(path)
    chosen = forced or detect_encoding(path, head)
    header = _split_header(head.split(b"\n", 1)[0], chosen)
    kind = _kind_of(path, header)
    mapping = _check_header(path, kind, header)
    report = Report(path=path, kind=kind, encoding=chosen, compressed=compressed, rows_read=0)
    reader = _ChunkReader(report, header, mapping, skus, window, Transcoder(path, chosen, forced is not None),
                          LineCounter(path, compressed))

    def batches() -> Iterator[list[ReportLine]]:
        try:
            for chunk, table in read_ahead(path, compressed, reader.parse_ahead):
                yield reader.read(chunk, table)
        except LineTooLong as exc:
            raise too_long(path, exc.line or reader.lines.line_at(exc.offset)) from None
        report.encoding = reader.text.encoding

    return report, batches()


# ---------------------------------------------------------------------------------------------
# one chunk at a time
_C0_AND_DEL = bytes(range(0x20)) + b"\x7f"
_NOT_C0 = bytes(b for b in range(256) if b not in _C0_AND_DEL)
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_INVISIBLE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ufeff]")  # in free text: controls and the BOM


def _may_hide_characters(raw: bytes, strict: bool) -> bool:
    """A fast look at a column's bytes (UTF-8): might a value hold a control character, a BOM
    or (strict) any invisible format character? False means certainly not."""
    if raw.translate(None, _NOT_C0) or b"\xef\xbb\xbf" in raw or (b"\xc2" in raw and _C1.search(raw)):
        return True
    return strict and not raw.isascii()


class _Locating:
    """What _ChunkReader uses to find what is wrong in the chunk it reads, and where: the line and
    column of a hidden character or of a value that cannot be read."""

    def _lines(self):
        """(line number, cells) of each line of the chunk being read."""
        for number, line in enumerate(self._text().split(b"\n"), start=self._first_line()):
            yield number, line.rstrip(b"\r").decode("utf-8").split("\t")

    def _check_column(self, table, column: str, in_scope_only: bool = False) -> None:
        """Refuse a control character, a BOM (or, outside free text, any invisible format character)
        in this column of these rows of the chunk (for the SKU, all of them, and only where it
        hides a SKU of the scope)."""
        strict = self.mapping[column] not in FREE_TEXT
        if not any(chunk.buffers()[2] is not None and _may_hide_characters(chunk.buffers()[2].to_pybytes(), strict)
                   for chunk in table[column].chunks):
            return
        pattern = INVISIBLE if strict else _INVISIBLE_TEXT
        if not self._may_match(column, pattern):
            return
        index = self.header.index(column)
        for number, cells in self._lines():
            if index >= len(cells) or not pattern.search(cells[index]):
                continue
            if in_scope_only and self.scope is not None and pattern.sub("", cells[index]).strip() not in self.scope:
                continue
            found = pattern.search(cells[index]).group()
            raise InputFileError(self.report.path, f"holds an invisible control character ({shown(found)})"
                                 f"{' inside a SKU of the scope, which would hide its lines' if in_scope_only else ''}",
                                 "The file was changed after Amazon wrote it. " + REDOWNLOAD, line=number,
                                 column=index + 1, column_name=column)

    def _may_match(self, column: str, pattern: re.Pattern) -> bool:
        """Whether a line of the chunk may have a cell of this column that `pattern` finds: False
        only when certainly not (no cell of the column's values has one, and every line of the
        chunk is the row the CSV reader made of it: no carriage return, all UTF-8), so the search
        line by line can be skipped. Much faster than that search."""
        text = self._text()
        if b"\r" in text:
            return True
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return pattern.search("".join(self._every_row()[column].to_pylist())) is not None

    def _every_row(self):
        """Every row of the chunk being read, with every column (parsed now if it was not)."""
        if self.parsed.every is None:
            self.parsed.every = self.rows.parse(self.data)
        return self.parsed.every

    def _cell_error(self, values: tuple[str, ...], column: str, problem: str) -> InputFileError:
        row = {name: value for (name, _, _, _), value in zip(self.converters, values)}
        index = self.header.index(column)
        id_column = "amazon-order-id" if "amazon-order-id" in self.mapping else "order-id"
        id_index, sku_index = self.header.index(id_column), self.header.index("sku")
        line = None
        for number, cells in self._lines():
            if (len(cells) > max(index, id_index, sku_index) and cells[index] == row[column]
                    and cells[id_index] == row[id_column] and cells[sku_index] == row["sku"]):
                line = number
                break
        value = row[column].strip()
        fix = REDOWNLOAD if "spreadsheet" in problem else "Fix the value or download the report again from Seller Central"
        quoted = value and self.mapping[column] not in PERSONAL  # buyer data is never quoted
        return InputFileError(self.report.path, f"'{shown(value)}' {problem}" if quoted else problem, fix,
                              line=line, column=index + 1, column_name=column)


class _ChunkReader(_Locating):
    """Reads the chunks of one report into its Report: the checks and the conversion of each
    value kept (parsing.RowParser chooses the rows)."""

    def __init__(self, report: Report, header: list[str], mapping: dict[str, str], skus: Iterable[str] | None,
                 window: tuple[datetime, datetime] | None, text: Transcoder, lines: LineCounter):
        self.report, self.header, self.mapping, self.text, self.lines = report, header, mapping, text, lines
        self.rows = RowParser(header, mapping, skus, window)
        self.window = window and (iso_utc(window[0]), iso_utc(window[1]))
        self.scope = {sku.strip() for sku in skus} if skus is not None else None
        required = set(REQUIRED[report.kind]) - {"item-price"}  # Amazon hides pending orders' prices
        self.converters = [(column, name, CONVERTERS.get(name, text_or_none), column in required)
                           for column, name in mapping.items()]
        self.occurrences: dict[str, int] = {}
        self.chunk: Chunk | None = None  # the one being read
        self.parsed = None  # its rows (parsing.Parsed)
        self.data: bytes | memoryview = b""  # its text as UTF-8, as the CSV reader was given it

    def parse_ahead(self, chunk: Chunk, pool):
        """parsing.RowParser.parse_ahead when the file is read as UTF-8 so far; else None (read()
        transcodes and parses the chunk itself)."""
        return self.rows.parse_ahead(chunk, pool) if self.text.encoding.startswith("utf-8") else None

    def read(self, chunk: Chunk, parsed=None) -> list[ReportLine]:
        """The chunk's kept lines. `parsed`: its tables from parse_ahead, used only if the file is
        still read as UTF-8 (as it was then): they are what this would compute."""
        import pyarrow as pa

        self.chunk = chunk
        if self.text.encoding.startswith("utf-8"):  # passed as it is: the CSV reader checks it is UTF-8
            data = chunk.view()
        else:
            data = self.text(chunk.bytes(), self._first_line())
            parsed = None
        table = None
        if parsed is None:
            try:
                table = self.rows.parse(data)
            except pa.ArrowInvalid as exc:
                if "UTF8" not in str(exc):
                    raise diagnose(self.report.path, self.header, bytes(data), self._first_line()) from None
                data = self.text.invalid_utf8(chunk.bytes(), self._first_line())
                try:
                    table = self.rows.parse(data)
                except pa.ArrowInvalid:
                    raise diagnose(self.report.path, self.header, data, self._first_line()) from None
        self.data = data
        if self.text.utf8_line is None and self.text.encoding.startswith("utf-8") and not chunk.isascii():
            self.text.read_as_utf8(chunk.bytes(), self._first_line())
        if parsed is None:
            whole, scoped, table = self.rows.kept(table)
            parsed = Parsed(whole, scoped.num_rows, table, whole)
        self.parsed = parsed
        self.report.rows_read += parsed.rows.num_rows
        self._check_column(parsed.rows, "sku", in_scope_only=True)
        self.report.scope_rows += parsed.scoped
        table = parsed.kept
        if table is None:  # no row kept: nothing more to check
            self.lines.passed(chunk)
            self.data = b""
            return []
        for column in self.mapping:
            if column != "sku":
                self._check_column(table, column)
        kept: list[ReportLine] = []
        if table.num_rows:
            columns = [table[column].to_pylist() for column, _, _, _ in self.converters]  # faster than rows as dicts
            for values in zip(*columns):
                line = self._line(values)
                if line is not None:
                    kept.append(line)
        self.lines.passed(chunk)  # transcoding keeps line ends where they were
        self.data = b""
        return kept

    def _first_line(self) -> int:
        """The line the chunk being read starts on (counted only when something needs it)."""
        return self.lines.line_at(self.chunk.offset)

    def _text(self) -> bytes:
        """The chunk being read, as UTF-8 bytes (to find a line in it)."""
        if not isinstance(self.data, bytes):
            self.data = bytes(self.data)
        return self.data

    # -- what is kept ----------------------------------------------------------------------------

    def _line(self, values: tuple[str, ...]) -> ReportLine | None:
        """One kept row (its values in self.converters' order) as a ReportLine, every value checked;
        None when it was bought outside the window."""
        fields: dict[str, object] = {}
        for raw, (column, name, convert, needed) in zip(values, self.converters):
            try:
                value = convert(raw) if raw and not raw.isspace() else None
            except ValueError as exc:
                raise self._cell_error(values, column, str(exc)) from None
            if value is None and needed:
                raise self._cell_error(values, column, "is empty but every line needs it")
            fields[name] = value
        contradiction = check_line(fields)
        if contradiction is not None:
            column = next(c for c, n in self.mapping.items() if n == contradiction[0])
            raise self._cell_error(values, column, contradiction[1])
        if self.report.kind in (UNSHIPPED, LEGACY):  # both list seller-fulfilled orders only
            fields["fulfillment_channel"] = "Merchant"
        if self.window is not None and not self.window[0] <= str(fields["purchase_date"]) < self.window[1]:
            return None
        order_id, sku = fields.pop("order_id"), fields.pop("sku")
        key = f"{order_id}\t{sku}"
        seq = self.occurrences.get(key, 0)
        self.occurrences[key] = seq + 1
        return ReportLine(order_id=order_id, sku=sku, seq=seq, fields=fields)
