"""Parsing a report's chunks with pyarrow: which rows are the scope's (its SKUs, bought about
inside the window), parsed ahead in threads while the reader checks the chunk before.

Every row is parsed (the CSV reader checks each line's fields); with a scope, only its SKU and
purchase date, and every column only in the blocks that hold a row kept. What the reader checks
and converts, and every error, are the same as for the chunk parsed whole in one call.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from incident.amazon.rawfile import MAX_LINE_BYTES, Chunk, chunks

_PLAUSIBLE_SECONDS = (int(datetime(1995, 1, 1, tzinfo=UTC).timestamp()), int(datetime(2101, 1, 1, tzinfo=UTC).timestamp()))
_PRINTABLE = bytes(range(0x21, 0x7f))  # ASCII that no trimming removes


_END = object()
AHEAD = 2  # chunks parsed ahead of the one being read
BLOCK_BYTES = 512 << 10  # what one thread of the read-ahead parses at a time


@dataclass
class Parsed:
    """A chunk's rows as the CSV reader made them."""

    rows: object  # every row: at least its SKU and purchase date
    scoped: int  # how many rows are of the scope's SKUs
    kept: object  # every column of the rows that may be kept (scope and window), None when there are none
    every: object  # every row with every column, when it was parsed so (else parsed when needed)


def _blocks(chunk: Chunk) -> list[memoryview]:
    """The chunk in blocks of whole lines of about BLOCK_BYTES."""
    view, buffer, result = chunk.view(), chunk.buffer, []
    start, end = chunk.start, chunk.end
    while start < end:
        cut = buffer.rfind(b"\n", start, min(start + BLOCK_BYTES, end)) + 1
        if cut <= start:  # a line longer than a block: the block is that line
            cut = buffer.find(b"\n", start, end) + 1 or end
        if end - cut < BLOCK_BYTES // 4:  # no small last block
            cut = end
        result.append(view[start - chunk.start:cut - chunk.start])
        start = cut
    return result


def _is_utf8(view: memoryview) -> bool:
    """Whether these bytes are UTF-8, by Arrow's own check (many times faster than decoding)."""
    import pyarrow as pa

    values = pa.Array.from_buffers(pa.large_binary(), 1, [None, pa.py_buffer(struct.pack("<2q", 0, len(view))),
                                                          pa.py_buffer(view)])
    try:
        values.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def read_ahead(path: Path, compressed: bool, parse: Callable) -> Iterator[tuple[Chunk, Parsed | None]]:
    """(chunk, its table as the CSV reader makes of it, or None) in the file's order. A thread
    reads and parses the next chunk while this one is checked and merged (the CSV reader leaves
    the interpreter free), so the two overlap. It only parses what the reader would pass as it
    is (UTF-8); anything else, and any chunk the CSV reader refuses, is left to `read` (None),
    which decides it exactly as without the thread. Errors come in the file's order."""
    import queue
    import threading

    from concurrent.futures import ThreadPoolExecutor

    handed: queue.Queue = queue.Queue(maxsize=AHEAD)  # a chunk's buffer is untouched until it has been read
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix=f"parse {path.name}")

    def work() -> None:
        try:
            for chunk in chunks(path, compressed, buffers=AHEAD + 2):
                item = (chunk, parse(chunk, pool))  # parsed in the pool while the next is read
                while not stop.is_set():
                    try:
                        handed.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handed.put(_END)
        except BaseException as exc:  # handed over, raised where the file's order puts it
            handed.put(exc)

    worker = threading.Thread(target=work, name=f"read {path.name}", daemon=True)
    worker.start()
    try:
        while (item := handed.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            chunk, parsed = item
            yield chunk, parsed() if parsed is not None else None
    finally:
        stop.set()
        while worker.is_alive():
            try:
                handed.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
        pool.shutdown(cancel_futures=True)


def _string_array(values: list[str]):
    """An Arrow string array built from its buffers: pa.array() would import pandas (0.15 s)."""
    import pyarrow as pa

    encoded = [value.encode("utf-8") for value in values]
    offsets = [0]
    for value in encoded:
        offsets.append(offsets[-1] + len(value))
    return pa.Array.from_buffers(pa.string(), len(encoded), [
        None, pa.py_buffer(struct.pack(f"<{len(offsets)}i", *offsets)), pa.py_buffer(b"".join(encoded))])


class RowParser:
    """The CSV reader's options for one report, and the rows of a chunk that may be kept."""

    def __init__(self, header: list[str], mapping: dict[str, str], skus: Iterable[str] | None,
                 window: tuple[datetime, datetime] | None):
        import pyarrow as pa
        from pyarrow import csv

        self.window = window
        if window is not None:  # Arrow scalars made from buffers: a Python number would make pyarrow import pandas
            seconds = [int(window[0].timestamp()), int(window[1].timestamp()), *_PLAUSIBLE_SECONDS]
            values = pa.Array.from_buffers(pa.int64(), 4, [None, pa.py_buffer(struct.pack("<4q", *seconds))])
            self.bounds = [*values, pa.Array.from_buffers(pa.bool_(), 1, [None, pa.py_buffer(b"\x01")])[0]]
        scope = {sku.strip() for sku in skus} if skus is not None else None
        self.scope_array = _string_array(sorted(scope)) if scope is not None else None
        names = [name if name else f"_blank_{i}" for i, name in enumerate(header)]
        seen: set[str] = set()
        for i, name in enumerate(names):  # pyarrow wants unique names (doubled ones we read are refused)
            if name in seen:
                names[i] = f"{name}_{i}"
            seen.add(names[i])
        wanted = list(mapping)

        def options(columns: list[str], threads: bool, check_utf8: bool = True) -> dict:
            return dict(
                read_options=csv.ReadOptions(column_names=names, block_size=MAX_LINE_BYTES, use_threads=threads),
                parse_options=csv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                               ignore_empty_lines=True),
                convert_options=csv.ConvertOptions(column_types={name: pa.string() for name in columns},
                                                   include_columns=columns, strings_can_be_null=False,
                                                   quoted_strings_can_be_null=False, check_utf8=check_utf8))

        self.options = options(wanted, True)
        # a block of a chunk at a time, each in a thread of the read-ahead: the columns that choose
        # the rows, then every column of the blocks that hold a row kept
        # (their chunk is checked as UTF-8 whole, once)
        self.block_options = options(wanted, False, check_utf8=False)
        self.light_options = options(["sku", "purchase-date"], False, check_utf8=False)

    def parse(self, data) -> object:
        """Every row of these bytes with every column (raises pyarrow's ArrowInvalid)."""
        import pyarrow as pa
        from pyarrow import csv

        return csv.read_csv(pa.py_buffer(data), **self.options)

    def parse_ahead(self, chunk: Chunk, pool) -> Callable[[], Parsed | None]:
        """Starts parsing the chunk (UTF-8: the file so far is) in the `pool`'s threads; returns
        what waits for its tables (Parsed, or None when the CSV reader refuses any of it).
        Called from the read-ahead thread: it only computes.

        With a scope, every row is parsed for its SKU and purchase date only, and all its columns
        only in the blocks of the chunk that hold a row kept: the same rows and values as parsing
        it whole, for a fraction of the work. What parsing it whole checks, is checked: every
        line's fields (the CSV reader, block by block) and that the chunk is UTF-8 (Arrow's own
        check, once)."""
        import pyarrow as pa
        from pyarrow import csv

        if self.scope_array is None:  # every row may be kept: all of it is parsed
            def whole() -> Parsed:
                table, scoped, kept = self.kept(csv.read_csv(pa.py_buffer(chunk.view()), **self.options))
                return Parsed(table, scoped.num_rows, kept, table)

            futures = [pool.submit(whole)]
        elif not chunk.isascii() and not _is_utf8(chunk.view()):
            return None  # read() tells what is wrong, exactly as without the read-ahead
        else:  # UTF-8 checked: the blocks are parsed without checking it again
            futures = [pool.submit(self._block, block) for block in _blocks(chunk)]

        def parsed() -> Parsed | None:
            try:
                results = [future.result() for future in futures]
            except pa.ArrowInvalid:
                return None  # read() tells what is wrong, exactly as without the read-ahead
            if self.scope_array is None:
                return results[0]
            pieces = results
            kept = [piece for _, _, piece in pieces if piece is not None]
            return Parsed(pa.concat_tables([light for light, _, _ in pieces]), sum(n for _, n, _ in pieces),
                           pa.concat_tables(kept) if kept else None, None)

        return parsed

    def _block(self, view: memoryview) -> tuple[object, int, object]:
        """(the block's SKUs and purchase dates, how many rows are of the scope, its kept rows
        with every column, or None when it has none)."""
        import pyarrow as pa
        import pyarrow.compute as pc
        from pyarrow import csv

        light = csv.read_csv(pa.py_buffer(view), **self.light_options)
        scoped = light.filter(pc.is_in(self._trimmed(light["sku"]), value_set=self.scope_array))
        if not scoped.num_rows or (self.window is not None and not scoped.filter(self._maybe_in_window(scoped)).num_rows):
            return light, scoped.num_rows, None
        return light, scoped.num_rows, self.kept(csv.read_csv(pa.py_buffer(view), **self.block_options))[2]

    def kept(self, table) -> tuple[object, object, object]:
        """(every row, the rows of the scope's SKUs, those that may be inside the window)."""
        import pyarrow.compute as pc

        scoped = table
        if self.scope_array is not None:
            scoped = table.filter(pc.is_in(self._trimmed(table["sku"]), value_set=self.scope_array))
        return table, scoped, scoped.filter(self._maybe_in_window(scoped)) if self.window is not None else scoped

    @staticmethod
    def _trimmed(skus):
        """The SKUs without surrounding white space (as pyarrow trims it), without the cost of
        trimming when no SKU holds anything but printable ASCII other than the space."""
        import pyarrow.compute as pc

        if all(chunk.buffers()[2] is None or not chunk.buffers()[2].to_pybytes().translate(None, _PRINTABLE)
               for chunk in skus.chunks):
            return skus
        return pc.utf8_trim_whitespace(skus)

    def _maybe_in_window(self, table):
        """Rows that may be inside the window: Arrow reads the usual ISO-8601 times at C speed and
        only rows it read as a plausible time outside the window are dropped here; every other row
        (another way of writing, a damaged value, the year 9999) is judged exactly, and refused if
        need be, by the converters."""
        import pyarrow as pa
        import pyarrow.compute as pc

        start, end, earliest, latest, true = self.bounds
        seconds = pc.cast(pc.strptime(table["purchase-date"], format="%Y-%m-%dT%H:%M:%S%z", unit="s",
                                      error_is_null=True), pa.int64())
        inside = pc.and_(pc.greater_equal(seconds, start), pc.less(seconds, end))
        implausible = pc.or_(pc.less(seconds, earliest), pc.greater_equal(seconds, latest))
        return pc.fill_null(pc.or_(inside, implausible), true)
