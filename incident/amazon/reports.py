"""Read Seller Central order reports (All Orders, Unshipped Orders, the legacy order report).

Reports are recognised by their header, never by column position. The fast path hands the file to
pyarrow's multi-threaded CSV reader and keeps only the rows of the SKUs in scope; when anything
is wrong, a slow line-by-line pass finds the exact line and column for the error message. Error
messages never quote a row: rows hold buyer data.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from incident.amazon.cells import CONVERTERS, text_or_none
from incident.errors import InputFileError, UsageError

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
_SAMPLE_BYTES = 1 << 20

_REDOWNLOAD = ("Download the report again from Seller Central (Reports > Order Reports) and pass "
               "the .txt file as it comes; do not open and save it in a spreadsheet")


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

    @property
    def title(self) -> str:
        return KIND_TITLES[self.kind]


# ---------------------------------------------------------------------------------------------
# opening and sniffing


def _open_binary(path: Path, compressed: bool) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _sniff(path: Path) -> tuple[bool, bytes]:
    """(is gzip, the first bytes of the content). Refuses what is not a text report."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except FileNotFoundError:
        raise InputFileError(path, "no such file", "Check the path") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a folder, not a report file", "Name the .txt file") from None
    except PermissionError:
        raise InputFileError(path, "cannot be read (permission denied)",
                             "Check the file's permissions") from None
    compressed = magic.startswith(b"\x1f\x8b")
    try:
        with _open_binary(path, compressed) as handle:
            head = handle.read(_SAMPLE_BYTES)
    except (OSError, EOFError):
        raise InputFileError(path, "is a damaged gzip file", _REDOWNLOAD) from None
    if not head.strip():
        raise InputFileError(path, "is empty", "The download probably failed. " + _REDOWNLOAD, line=1)
    if head.startswith(b"PK\x03\x04"):
        raise InputFileError(path, "is an Excel workbook or a zip archive, not a tab-delimited report",
                             "In Seller Central download the order report as a .txt file "
                             "(Reports > Order Reports) and pass that", line=1)
    if head.startswith(b"%PDF"):
        raise InputFileError(path, "is a PDF, not a tab-delimited report",
                             "Download the order report as a .txt file from Seller Central "
                             "(Reports > Order Reports)", line=1)
    if b"\x00" in head[:4096]:
        raise InputFileError(path, "is a binary file, not a tab-delimited report",
                             "Pass the .txt order report downloaded from Seller Central", line=1)
    return compressed, head


def _detect_encoding(sample: bytes) -> str:
    """BOM, then strict UTF-8, then the best of cp932 and cp1252 on the lines with non-ASCII."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    non_ascii = b"\n".join(line for line in sample.splitlines() if not line.isascii())
    return _guess_legacy_encoding(non_ascii)


def _guess_legacy_encoding(non_ascii: bytes) -> str:
    """Japanese Shift_JIS (cp932) or Western (cp1252). charset-normalizer weighs how plausible the
    decoded text is; a strict cp932 decode that yields kana settles it before that."""
    try:
        text = non_ascii.decode("cp932")
    except UnicodeDecodeError:
        return "cp1252"
    if re.search(r"[\u3040-\u30ff]", text):
        return "cp932"
    from charset_normalizer import from_bytes

    best = from_bytes(non_ascii, cp_isolation=["cp932", "cp1252"]).best()
    if best is not None and best.encoding in ("cp932", "shift_jis"):
        return "cp932"
    return "cp1252"


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


# ---------------------------------------------------------------------------------------------
# the slow, exact pass: used only to say where something is wrong


def _text_lines(path: Path, compressed: bool, encoding: str) -> Iterator[tuple[int, str]]:
    with _open_binary(path, compressed) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")
        for number, line in enumerate(text, start=1):
            yield number, line.rstrip("\r\n")


def _find_structure_error(path: Path, compressed: bool, encoding: str, header: list[str]) -> InputFileError | None:
    """The first line whose field count differs from the header's, or that cannot be decoded."""
    width = len(header)
    number = 0
    try:
        for number, line in _text_lines(path, compressed, encoding):
            if not line:
                continue
            count = line.count("\t") + 1
            if count == width:
                continue
            if count < width:
                return InputFileError(
                    path, f"the line ends after {count} of the header's {width} fields, before "
                    f"'{header[count]}': the file is cut off or damaged", _REDOWNLOAD,
                    line=number, column=count + 1)
            return InputFileError(path, f"the line has {count} fields where the header has {width}",
                                  _REDOWNLOAD, line=number, column=width + 1)
    except UnicodeDecodeError:
        return InputFileError(path, f"is not valid {encoding} text", "Pass --encoding with the "
                              "file's encoding (utf-8, cp1252 or cp932)", line=number + 1)
    return None


def _locate(path: Path, compressed: bool, encoding: str, header: list[str], column: str,
            value: str) -> int | None:
    """Line number of the first line whose `column` holds `value`."""
    index = header.index(column)
    for number, line in _text_lines(path, compressed, encoding):
        if number == 1:
            continue
        cells = line.split("\t")
        if index < len(cells) and cells[index].strip() == value:
            return number
    return None


# ---------------------------------------------------------------------------------------------
# the fast pass


def _string_array(values: list[str]):
    """An Arrow string array built from its buffers: pa.array() would import pandas (0.15 s)."""
    import struct

    import pyarrow as pa

    encoded = [value.encode("utf-8") for value in values]
    offsets = [0]
    for value in encoded:
        offsets.append(offsets[-1] + len(value))
    return pa.Array.from_buffers(pa.string(), len(encoded), [
        None, pa.py_buffer(struct.pack(f"<{len(offsets)}i", *offsets)), pa.py_buffer(b"".join(encoded))])


def _read_rows(path: Path, compressed: bool, encoding: str, header: list[str], wanted: list[str],
               skus: set[str] | None) -> tuple[int, list[dict[str, str]]]:
    """All rows' count and the rows of the scope's SKUs, as {report column: text}."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    names = [name if name else f"_blank_{i}" for i, name in enumerate(header)]
    seen: set[str] = set()
    for i, name in enumerate(names):  # pyarrow wants unique names; the first one wins for us
        if name in seen:
            names[i] = f"{name}_{i}"
        seen.add(names[i])
    arrow_encoding = "utf8" if encoding == "utf-8" else encoding
    read_options = csv.ReadOptions(column_names=names, skip_rows=1, encoding=arrow_encoding)
    parse_options = csv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                     ignore_empty_lines=True)
    convert_options = csv.ConvertOptions(
        column_types={name: pa.string() for name in wanted}, include_columns=wanted,
        strings_can_be_null=False, quoted_strings_can_be_null=False)
    source = pa.input_stream(str(path), compression="gzip" if compressed else None)
    table = csv.read_csv(source, read_options=read_options, parse_options=parse_options,
                         convert_options=convert_options)
    rows_read = table.num_rows
    if skus is not None:
        table = table.filter(pc.is_in(pc.utf8_trim_whitespace(table["sku"]), value_set=_string_array(sorted(skus))))
    return rows_read, table.to_pylist()


def read_report(path: Path | str, skus: Iterable[str] | None = None,
                encoding: str | None = None) -> Report:
    """Read one report file (plain or gzip). `skus` keeps only those SKUs' lines."""
    path = Path(path)
    forced = _resolve_encoding(encoding)
    compressed, head = _sniff(path)
    chosen = forced or _detect_encoding(head)
    header = _split_header(head.split(b"\n", 1)[0], chosen)
    kind = _kind_of(path, header)
    missing = [name for name in REQUIRED[kind] if name not in header]
    if missing:
        raise InputFileError(
            path, f"looks like an {KIND_TITLES[kind]} but lacks the column(s) "
            f"{', '.join(missing)}", "Download the full report from Seller Central; "
            "do not remove columns", line=1)
    mapping = {column: name for column, name in COLUMNS[kind].items() if column in header}
    wanted = list(mapping)
    scope = {sku.strip() for sku in skus} if skus is not None else None
    chosen, rows_read, rows = _read_with_fallback(path, compressed, chosen, forced is not None,
                                                  header, wanted, scope)
    report = Report(path=path, kind=kind, encoding=chosen, compressed=compressed,
                    rows_read=rows_read)
    report.lines = _to_lines(report, header, mapping, rows)
    return report


def _read_with_fallback(path: Path, compressed: bool, encoding: str, forced: bool,
                        header: list[str], wanted: list[str], scope: set[str] | None
                        ) -> tuple[str, int, list[dict[str, str]]]:
    """(encoding used, rows read, kept rows); turns reader failures into located errors."""
    import pyarrow as pa

    try:
        return (encoding, *_read_rows(path, compressed, encoding, header, wanted, scope))
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) and not forced:
            # the first megabyte was plain ASCII; the accents come later in the file
            better = _detect_encoding_whole(path, compressed)
            if better != encoding:
                return _read_with_fallback(path, compressed, better, True, header, wanted, scope)
        error = _find_structure_error(path, compressed, encoding, header)
        if error is None:
            error = InputFileError(path, "could not be read as a tab-delimited report",
                                   _REDOWNLOAD)
        raise error from None
    except UnicodeDecodeError:
        error = _find_structure_error(path, compressed, encoding, header)
        raise (error or InputFileError(path, f"is not valid {encoding} text",
                                       "Pass --encoding utf-8, cp1252 or cp932")) from None


def _detect_encoding_whole(path: Path, compressed: bool) -> str:
    with _open_binary(path, compressed) as raw:
        non_ascii = b"\n".join(line for line in raw if not line.isascii())
    return _guess_legacy_encoding(non_ascii[:_SAMPLE_BYTES])


# ---------------------------------------------------------------------------------------------
# converting the kept rows


def _to_lines(report: Report, header: list[str], mapping: dict[str, str],
              rows: list[dict[str, str]]) -> list[ReportLine]:
    lines: list[ReportLine] = []
    occurrences: dict[tuple[str, str], int] = {}
    required = set(REQUIRED[report.kind])
    for row in rows:
        fields: dict[str, object] = {}
        for column, name in mapping.items():
            raw = row[column]
            try:
                value = CONVERTERS.get(name, text_or_none)(raw)
            except ValueError as exc:
                raise _cell_error(report, header, column, raw.strip(), str(exc)) from None
            if value is None and column in required and column != "item-price":
                raise _cell_error(report, header, column, raw.strip(),
                                  "is empty but every line needs it")
            fields[name] = value
        if report.kind in (UNSHIPPED, LEGACY):  # both list seller-fulfilled orders only
            fields["fulfillment_channel"] = "Merchant"
        key = (fields["order_id"], fields["sku"])
        seq = occurrences.get(key, 0)
        occurrences[key] = seq + 1
        lines.append(ReportLine(order_id=fields.pop("order_id"), sku=fields.pop("sku"), seq=seq,
                                fields=fields))
    return lines


def _cell_error(report: Report, header: list[str], column: str, value: str,
                problem: str) -> InputFileError:
    line = _locate(report.path, report.compressed, report.encoding, header, column, value)
    fix = _REDOWNLOAD if "spreadsheet" in problem else (
        "Fix the value or download the report again from Seller Central")
    return InputFileError(report.path, f"'{value}' {problem}" if value else problem, fix,
                          line=line, column=header.index(column) + 1, column_name=column)
