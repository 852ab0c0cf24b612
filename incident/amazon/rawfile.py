"""A report file as bytes: opened only when it is a regular file, read in chunks of whole lines so
memory stays flat whatever the file's size, each chunk turned into UTF-8 for the CSV reader, and
every way the bytes can be wrong told with the file, line and column.

Refused here: what is not a regular file (a FIFO or a pipe would hang or lose its first bytes),
a line over MAX_LINE_BYTES (a damaged file or a gzip bomb, refused before it fills memory), and a
file mixing encodings (UTF-8 lines next to cp1252 ones would be stored as mojibake).
"""

from __future__ import annotations

import codecs
import gzip
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from incident.errors import InputFileError

MAX_LINE_BYTES = 1 << 20  # a report line is a few hundred bytes; 1 MiB is no report line
CHUNK_BYTES = 4 << 20  # read this much at a time (whole lines): the CSV reader's batch
SAMPLE_BYTES = 1 << 20

REDOWNLOAD = ("Download the report again from Seller Central (Reports > Order Reports) and pass "
              "the .txt file as it comes; do not open and save it in a spreadsheet")
_PIPE_FIX = ("Save the report to a file and pass that, or pipe it in with `--report -` "
             "(standard input)")


def check_regular(path: Path) -> None:
    """Refuse what is not a regular file before opening it: opening a FIFO blocks until someone
    writes to it, and a pipe cannot be read twice."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputFileError(path, "no such file", "Check the path") from None
    except PermissionError:
        raise InputFileError(path, "cannot be read (permission denied)", "Check the file's permissions") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot be opened ({exc.strerror})", "Check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(path, "is a folder, not a report file", "Name the .txt file")
    if stat.S_ISFIFO(info.st_mode):
        raise InputFileError(path, "is a named pipe (FIFO), not a file", _PIPE_FIX)
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(path, "is not a regular file (a device, a socket or a terminal)", _PIPE_FIX)


def open_binary(path: Path, compressed: bool):
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def sniff(path: Path) -> tuple[bool, bytes]:
    """(is gzip, the first bytes of the content). Refuses what is not a text report."""
    check_regular(path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except PermissionError:
        raise InputFileError(path, "cannot be read (permission denied)", "Check the file's permissions") from None
    compressed = magic.startswith(b"\x1f\x8b")
    try:
        with open_binary(path, compressed) as handle:
            head = handle.read(SAMPLE_BYTES)
    except (OSError, EOFError):
        raise InputFileError(path, "is a damaged gzip file", REDOWNLOAD) from None
    if not head.strip():
        raise InputFileError(path, "is empty", "The download probably failed. " + REDOWNLOAD, line=1)
    if head.startswith(b"PK\x03\x04"):
        raise InputFileError(path, "is an Excel workbook or a zip archive, not a tab-delimited report",
                             "In Seller Central download the order report as a .txt file "
                             "(Reports > Order Reports) and pass that", line=1)
    if head.startswith(b"%PDF"):
        raise InputFileError(path, "is a PDF, not a tab-delimited report",
                             "Download the order report as a .txt file from Seller Central "
                             "(Reports > Order Reports)", line=1)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputFileError(path, "is UTF-16 text (saved as \"Unicode text\" by a spreadsheet)", REDOWNLOAD, line=1)
    if b"\x00" in head.split(b"\n", 1)[0]:  # a NUL further down is one bad cell, named with its line and column
        raise InputFileError(path, "is a binary file, not a tab-delimited report",
                             "Pass the .txt order report downloaded from Seller Central", line=1)
    if b"\n" not in head and len(head) > MAX_LINE_BYTES - 1:
        raise InputFileError(path, f"the first line is longer than {MAX_LINE_BYTES >> 20} MiB, which no report "
                             "header is: the file is damaged or not a report", REDOWNLOAD, line=1)
    return compressed, head


def position(data: bytes, offset: int, first_line: int) -> tuple[int, int]:
    """(line, column) of byte `offset` of `data`, whose first line is `first_line`; the column
    is the tab-separated field, counted from 1, as the header names them."""
    start = data.rfind(b"\n", 0, offset) + 1
    return first_line + data.count(b"\n", 0, offset), data.count(b"\t", start, offset) + 1


class LineTooLong(Exception):
    """A line over MAX_LINE_BYTES: at `line`, or at the line starting at byte `offset` of the file."""

    def __init__(self, line: int | None = None, offset: int = 0):
        super().__init__(line)
        self.line, self.offset = line, offset


class Chunk:
    """Whole lines of the file: `buffer[start:end]`, starting at byte `offset` of the file's
    content. The buffer is the reader's own and is filled again with the next chunk: whatever is
    kept must be copied out before the next chunk is asked for."""

    __slots__ = ("buffer", "start", "end", "offset")

    def __init__(self, buffer: bytearray, start: int, end: int, offset: int):
        self.buffer, self.start, self.end, self.offset = buffer, start, end, offset

    def view(self) -> memoryview:
        return memoryview(self.buffer)[self.start:self.end]

    def bytes(self) -> bytes:
        return bytes(self.view())

    def newlines(self) -> int:
        return self.buffer.count(b"\n", self.start, self.end)

    def isascii(self) -> bool:
        # the whole buffer first (no copy): when it is ASCII, so is the chunk
        return self.buffer.isascii() or self.bytes().isascii()


def chunks(path: Path, compressed: bool, buffers: int = 1) -> Iterator[Chunk]:
    """Whole lines after the header line, at most CHUNK_BYTES plus one line at a time, read into
    `buffers` buffers in turn (no copy of the file's bytes is made): a chunk stays as it is while
    the next `buffers - 1` are read. A line longer than MAX_LINE_BYTES is refused (LineTooLong) as
    soon as it is seen, never read whole."""
    size = CHUNK_BYTES
    ring = [bytearray(size + MAX_LINE_BYTES + 1) for _ in range(buffers)]
    turn = 0
    buffer = ring[0]
    view = memoryview(buffer)
    with open_binary(path, compressed) as source:
        have, offset, header_done = 0, 0, False  # bytes carried over at the buffer's start; their offset in the file
        while True:
            try:
                got = source.readinto(view[have:have + size])
            except (OSError, EOFError):
                if not compressed:
                    raise  # the disk, not the file: one line at the CLI's edge
                raise InputFileError(path, "is a damaged gzip file", REDOWNLOAD) from None
            end, start = have + got, 0
            if not header_done:
                newline = buffer.find(b"\n", 0, end)
                if newline < 0:
                    if end > MAX_LINE_BYTES:
                        raise LineTooLong(1)
                    if got:
                        have = end
                        continue
                    return
                start, header_done = newline + 1, True
            cut = buffer.rfind(b"\n", start, end) + 1 if got else end
            cut = max(cut, start)
            if cut > start:
                yield Chunk(buffer, start, cut, offset + start)
            offset += cut
            rest = end - cut
            if rest > MAX_LINE_BYTES:
                raise LineTooLong(offset=offset)
            if not got:
                return
            if cut > start:  # the chunk stays as it is: the next one goes into the next buffer
                turn = (turn + 1) % buffers
                following = memoryview(ring[turn])
                following[:rest] = view[cut:end]
                buffer, view = ring[turn], following
            else:  # nothing handed out of this buffer
                view[:rest] = view[cut:end]
            have = rest


class LineCounter:
    """The line a byte of the file is on, counted only when asked (an error names its line; a
    file read without one never has its lines counted): what was not counted yet is counted by
    reading the file again, from where the last count stopped."""

    def __init__(self, path: Path, compressed: bool):
        self.path, self.compressed = path, compressed
        self.offset, self.line = 0, 1  # byte `offset` of the content starts line `line`
        self.asked: int | None = None  # the offset last asked about

    def line_at(self, offset: int) -> int:
        """The line starting at byte `offset` (the start of a line)."""
        self.asked = offset
        if offset < self.offset:
            self.offset, self.line = 0, 1
        if offset > self.offset:
            with open_binary(self.path, self.compressed) as source:
                skip = self.offset
                if not self.compressed:
                    source.seek(skip)
                    skip = 0
                counted, todo = 0, offset - self.offset
                while skip:
                    skip -= len(source.read(min(skip, 1 << 20)))
                while todo > 0:
                    block = source.read(min(todo, 1 << 20))
                    if not block:
                        break
                    counted += block.count(b"\n")
                    todo -= len(block)
            self.offset, self.line = offset, self.line + counted
        return self.line

    def passed(self, chunk: Chunk) -> None:
        """Once a chunk is read: when its first line was asked, count on past it now, while it is
        in memory (no second reading later)."""
        if self.asked == chunk.offset == self.offset:
            self.offset, self.line = chunk.offset + chunk.end - chunk.start, self.line + chunk.newlines()


def too_long(path: Path, line: int) -> InputFileError:
    return InputFileError(path, f"the line is longer than {MAX_LINE_BYTES >> 20} MiB, which no order report "
                          "line is: the file is damaged or not a report", REDOWNLOAD, line=line)


def long_line(path: Path, data: bytes, first_line: int) -> InputFileError | None:
    """The first line of a chunk longer than MAX_LINE_BYTES."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        if end - start > MAX_LINE_BYTES:
            return too_long(path, position(data, start, first_line)[0])
        start = end + 1
    return None


def diagnose(path: Path, header: list[str], data: bytes, first_line: int) -> InputFileError:
    """Why the CSV reader refused this chunk of whole lines: a line too long, a line with the
    wrong number of fields, a carriage return inside a field."""
    width = len(header)
    error = long_line(path, data, first_line)
    if error is not None:
        return error
    for number, line in enumerate(data.split(b"\n"), start=first_line):
        line = line[:-1] if line.endswith(b"\r") else line
        if not line:
            continue
        if b"\r" in line:
            return InputFileError(path, "holds a carriage return inside a field", REDOWNLOAD, line=number,
                                  column=line.count(b"\t", 0, line.index(b"\r")) + 1)
        count = line.count(b"\t") + 1
        if count < width:
            return InputFileError(
                path, f"the line ends after {count} of the header's {width} fields, before "
                f"'{header[count]}': the file is cut off or damaged", REDOWNLOAD,
                line=number, column=count + 1)
        if count > width:
            return InputFileError(path, f"the line has {count} fields where the header has {width}",
                                  REDOWNLOAD, line=number, column=width + 1)
    return InputFileError(path, "could not be read as a tab-delimited report", REDOWNLOAD, line=first_line)


# ---------------------------------------------------------------------------------------------
# encodings

_JAPANESE_KANA = re.compile(r"[\u3040-\u30ff]")
_NON_ASCII = re.compile(rb"[\x80-\xff]")


def detect_encoding(path: Path, sample: bytes) -> str:
    """BOM, then strict UTF-8, then the best of cp932 and cp1252 on the lines with non-ASCII.
    A sample with both UTF-8 lines and lines that are not UTF-8 is refused: it mixes encodings."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    lines = sample.split(b"\n")
    if len(sample) >= SAMPLE_BYTES:
        lines = lines[:-1]  # cut off, maybe inside a character
    Transcoder(path, "cp1252", False).refuse_mixed(lines, 1)
    return guess_legacy_encoding(b"\n".join(line for line in lines if not line.isascii()))


def guess_legacy_encoding(non_ascii: bytes) -> str:
    """Japanese Shift_JIS (cp932) or Western (cp1252). charset-normalizer weighs how plausible the
    decoded text is; a strict cp932 decode that yields kana settles it before that."""
    try:
        text = non_ascii.decode("cp932")
    except UnicodeDecodeError:
        return "cp1252"
    if _JAPANESE_KANA.search(text):
        return "cp932"
    from charset_normalizer import from_bytes

    best = from_bytes(non_ascii, cp_isolation=["cp932", "cp1252"]).best()
    if best is not None and best.encoding in ("cp932", "shift_jis"):
        return "cp932"
    return "cp1252"


def _utf8_error(line: bytes) -> int | None:
    """Where `line` stops being UTF-8, or None when it is."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


class Transcoder:
    """Turns chunks of the file's bytes into UTF-8 for the CSV reader. Follows the file when its
    accents start after the sample (the encoding is then guessed from them), and refuses a file
    whose non-ASCII lines come in two encodings, naming the line where the second one starts."""

    def __init__(self, path: Path, encoding: str, forced: bool):
        self.path, self.encoding, self.forced = path, encoding, forced
        self.utf8_line: int | None = None  # the first non-ASCII line that is UTF-8
        self.other_line: int | None = None  # the first non-ASCII line that is not

    def refuse_mixed(self, lines: list[bytes], first_line: int) -> None:
        for number, line in enumerate(lines, start=first_line):
            if line.isascii():
                continue
            bad = _utf8_error(line)
            if bad is None:
                self.utf8_line = self.utf8_line or number
                if self.other_line:
                    raise self._mixed(number, next(i for i, byte in enumerate(line) if byte >= 0x80),
                                      line, f"it is UTF-8 while line {self.other_line} is not")
            else:
                self.other_line = self.other_line or number
                if self.utf8_line:
                    raise self._mixed(number, bad, line, f"it is not UTF-8 while line {self.utf8_line} is")

    def _mixed(self, number: int, offset: int, line: bytes, detail: str) -> InputFileError:
        return InputFileError(self.path, f"the file mixes encodings ({detail}): it was probably edited and saved "
                              "by another program, and its text would be stored garbled", REDOWNLOAD,
                              line=number, column=line.count(b"\t", 0, offset) + 1)

    def __call__(self, data: bytes, first_line: int) -> bytes:
        """UTF-8 for the CSV reader. A UTF-8 chunk is passed as it is: the reader checks it, and
        `invalid_utf8` is called when it finds it is not."""
        if self.encoding.startswith("utf-8") or data.isascii():
            return data
        self.refuse_mixed(data.split(b"\n"), first_line)
        try:
            return data.decode(self.encoding).encode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = position(data, exc.start, first_line)
            raise InputFileError(self.path, f"is not valid {self.encoding} text", "Pass --encoding with the "
                                 "file's encoding (utf-8, cp1252 or cp932)", line=line, column=column) from None

    def read_as_utf8(self, data: bytes, first_line: int) -> None:
        """The reader took this chunk as UTF-8: remember where UTF-8 text was first seen."""
        if self.encoding.startswith("utf-8") and self.utf8_line is None and not data.isascii():
            self.utf8_line = position(data, _NON_ASCII.search(data).start(), first_line)[0]

    def invalid_utf8(self, data: bytes, first_line: int) -> bytes:
        """The reader found a chunk is not UTF-8: refuse a mix, or follow a file whose accents in
        another encoding start only now. Returns the chunk as UTF-8."""
        try:
            data.decode("utf-8")
            return data  # not this chunk's text that is wrong
        except UnicodeDecodeError as exc:
            line, column = position(data, exc.start, first_line)
            if self.forced:
                raise InputFileError(self.path, f"is not valid {self.encoding} text", "Pass --encoding with "
                                     "the file's encoding (utf-8, cp1252 or cp932)", line=line, column=column) from None
        lines = data.split(b"\n")
        self.refuse_mixed(lines, first_line)
        # everything before was ASCII: the accents come only now, in another encoding
        self.encoding = guess_legacy_encoding(b"\n".join(l for l in lines if not l.isascii())[:SAMPLE_BYTES])
        return self(data, first_line)
