"""Report data made safe to show: in a terminal, a CSV file, a Seller Support text, JSON.

A report cell is text from outside (a product name, a promotion id, a file name). Shown raw it can
move the cursor, rewrite the screen, hide a link behind other text (OSC 8), reverse the order of
what follows (bidi overrides) or, in a spreadsheet, run as a formula. Every place that shows
report data goes through here, so the data stays exactly what it is, only visible.
"""

from __future__ import annotations

import re

# Unicode's control (Cc), format (Cf: bidi overrides and isolates, zero-width characters, the BOM,
# tag characters), line and paragraph separator (Zl, Zp) and surrogate (Cs) characters, written
# out so that importing this costs nothing; a test checks it against unicodedata.
INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]")

# what a spreadsheet runs as a formula when a cell starts with it (OWASP's list)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def shown(value: object) -> str:
    """`value` as text with every control, format and separator character written out
    (ESC as \\x1b, a right-to-left override as \\u202e), so a terminal shows it and runs nothing."""
    text = "" if value is None else str(value)
    return INVISIBLE.sub(_escape, text)


def json_inert(text: str) -> str:
    """JSON text with those characters as \\uXXXX escapes: the same data for a program, inert
    on a screen. json.dumps escapes C0 controls inside strings itself, so the ones left are the
    layout's own line breaks, kept; it keeps DEL, C1 and format characters raw."""
    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        if code < 0x10000:
            return f"\\u{code:04x}"
        code -= 0x10000  # a JSON escape is UTF-16: a surrogate pair
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"

    return INVISIBLE.sub(lambda m: m.group() if m.group() < "\x20" else escape(m), text)


def formula_safe(cell: str) -> str:
    """A spreadsheet runs a cell starting with = + - @ (or a tab or CR) as a formula; a leading '
    keeps it text. Plain numbers (-12.50) are left as they are: they are numbers, not formulas."""
    if cell[:1] in _FORMULA_START and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def csv_cell(value: object) -> str:
    """A CSV cell made of report data: visible controls, never a formula."""
    return formula_safe(shown(value))
