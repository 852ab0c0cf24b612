"""Memory that does not grow with the file (issue 11, §6): a report is read a chunk of whole lines
at a time and merged a batch at a time, and the totals and the upload file are made a batch of
whole orders at a time. Small chunks and batches here make every boundary happen; the results
must be the same as in one piece, and errors still name the right line. (Peak memory and time
are measured in bench/, not asserted here.)"""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import ASSETS, SAMPLES, WINDOW

from incident.amazon import rawfile
from incident.amazon.reports import open_report, read_report
from incident.sandbox.scenario import busy_reports, cancellable_reports

START, END = "2026-11-20T14:00:00-08:00", "2026-11-20T14:30:00-08:00"


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(rawfile, "CHUNK_BYTES", 700)  # a few lines per chunk


def test_a_report_read_in_small_chunks_gives_the_same_lines(tmp_path, monkeypatch):
    scenario, paths = busy_reports(tmp_path, datetime.fromisoformat(START), datetime.fromisoformat(END))
    skus = [scenario.incident_product.sku]
    window = (datetime.fromisoformat(START), datetime.fromisoformat(END))
    whole = [read_report(path, skus, window=window) for path in paths]
    monkeypatch.setattr(rawfile, "CHUNK_BYTES", 700)
    for path, expected in zip(paths, whole):
        report, batches = open_report(path, skus, window=window)
        lines = [line for batch in batches for line in batch]
        assert [(l.order_id, l.sku, l.seq, l.fields) for l in lines] == \
               [(l.order_id, l.sku, l.seq, l.fields) for l in expected.lines]
        assert (report.rows_read, report.scope_rows) == (expected.rows_read, expected.scope_rows)
        assert expected.lines and report.rows_read > len(expected.lines)


def test_cp932_and_accents_after_the_first_chunk_in_small_chunks(small_chunks):
    report = read_report(SAMPLES / "jp" / "all-orders.txt", ["JP-HP-BLK"])
    assert report.encoding == "cp932" and report.lines


def test_a_pull_in_small_chunks_and_batches_is_the_same_incident(cli, tmp_path, monkeypatch):
    scenario, paths = busy_reports(tmp_path, datetime.fromisoformat(START), datetime.fromisoformat(END))
    sku = scenario.incident_product.sku
    cli("open", "--sku", sku, "--start", START, "--end", END)
    whole = cli("pull", "--report", paths[0], "--report", paths[1]).stdout
    orders = cli.json("orders")
    monkeypatch.setattr(rawfile, "CHUNK_BYTES", 700)
    monkeypatch.setenv("INCIDENT_HOME", str(tmp_path / "again"))
    cli("open", "--sku", sku, "--start", START, "--end", END)
    again = cli("pull", "--report", paths[0], "--report", paths[1]).stdout
    assert again == whole and cli.json("orders") == orders
    assert "0 new order lines, 0 updated" in cli("pull", "--report", paths[1], "--report", paths[0]).stdout


def test_money_by_batch_is_scope_money_to_the_cent(cli, tmp_path):
    from incident.scope import money, sort_store
    from incident.totals import money_by_batch
    from incident.workspace import store as store_mod

    scenario, paths = busy_reports(tmp_path, datetime.fromisoformat(START), datetime.fromisoformat(END))
    cli("open", "--sku", scenario.incident_product.sku, "--start", START, "--end", END, "--floor", "100")
    cli("pull", "--report", paths[0], "--report", paths[1])
    with store_mod.open_store(store_mod.home()) as store:
        expected = money(sort_store(store))
        for size in (1, 3, 7, 20000):
            assert money_by_batch(store, size) == expected


def test_export_in_batches_writes_the_same_file(cli, tmp_path, monkeypatch):
    scenario, _, paths = cancellable_reports(tmp_path, 40, datetime.fromisoformat(START), datetime.fromisoformat(END))
    cli("open", "--sku", scenario.incident_product.sku, "--start", START, "--end", END)
    cli("pull", "--report", paths[0], "--report", paths[1])
    from incident import cancellation
    from incident.scope import sort_store
    from incident.workspace import store as store_mod

    batches = store_mod.line_batches
    monkeypatch.setattr(cancellation, "line_batches", lambda store, size=0: batches(store, 3))
    with store_mod.open_store(store_mod.home()) as store:
        expected = cancellation.build_rows(sort_store(store), "PricingError")
        assert len(list(cancellation.line_batches(store))) > 10
        result = cancellation.export(store, "tester")
    assert result.rows == expected and len(expected) == 40


def test_an_error_in_a_later_chunk_names_its_line_and_nothing_is_written(cli, tmp_path, small_chunks):
    lines = (ASSETS / "all-orders-small.txt").read_text().splitlines()
    header, body = lines[0], lines[1:]
    bad = body[0].replace("\t100.00\t", "\t1,249\t", 1)
    text = "\n".join([header, *body, "", *body[1:], "", bad]) + "\n"  # empty lines move the line numbers
    path = tmp_path / "late.txt"
    path.write_text(text)
    cli("open", "--sku", "SKU-A", *WINDOW)
    before = cli.json("log")
    result = cli("pull", "--report", ASSETS / "unshipped-small.txt", "--report", path, code=3)
    line = text.splitlines().index(bad) + 1
    assert result.stderr.startswith(f"error: {path}:{line}:17: column 'item-price'"), result.stderr
    assert cli.json("log") == before


# Line numbers are counted only when an error needs one (the file is read again up to its chunk):
# each error below is made far into the file, after empty lines, and must name the same line
# whether the file is read in one piece or in chunks of a few lines, plain or compressed.

UNSHIPPED_SMALL = ASSETS / "unshipped-small.txt"


def _ascii_body(times: int) -> list[str]:
    lines = UNSHIPPED_SMALL.read_text(encoding="utf-8").splitlines()[1:]
    body = [line.replace("García", "Garcia").replace("Renée", "Renee") for line in lines]
    return [line for _ in range(times) for line in body + [""]]


def late_bad_value(header: str) -> tuple[bytes, int]:
    body = _ascii_body(30)
    bad = body[0].replace("\t1\t0\t1\t", "\t1\t0\tone\t", 1)
    lines = [header, *body, bad, *body[:5]]
    return ("\n".join(lines) + "\n").encode(), lines.index(bad) + 1


def late_mixed_encodings(header: str) -> tuple[bytes, int]:
    body = _ascii_body(20)
    accented = body[0].replace("Alex Miller", "Zoë Brontë")
    other = body[1].replace("Jordan Lee", "Renée Dubois")
    lines = [header, *body, accented, *body, other, *body[:5]]
    encoded = [line.encode("cp1252" if line is other else "utf-8") for line in lines]
    return b"\n".join(encoded) + b"\n", lines.index(other) + 1


def late_long_line(header: str) -> tuple[bytes, int]:
    body = _ascii_body(25)
    lines = [header, *body, "x" * (1 << 20 | 1), *body[:5]]
    return ("\n".join(lines) + "\n").encode(), len(body) + 2


def late_hidden_character(header: str) -> tuple[bytes, int]:
    """Accented recipient names everywhere (which send the check line by line), one with a
    zero-width space far down."""
    lines = UNSHIPPED_SMALL.read_text(encoding="utf-8").splitlines()[1:]
    body = [line for _ in range(30) for line in lines + [""]]
    cells = lines[3].split("\t")
    cells[header.split("\t").index("recipient-name")] = "Sam\u200bGarcía"
    hidden = "\t".join(cells)
    all_lines = [header, *body, hidden, *body[:8]]
    return ("\n".join(all_lines) + "\n").encode(), all_lines.index(hidden) + 1


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("make", [late_bad_value, late_mixed_encodings, late_long_line, late_hidden_character])
def test_a_late_error_names_the_same_line_in_chunks_plain_or_compressed(tmp_path, monkeypatch, make, compressed):
    import gzip

    from incident.errors import InputFileError

    header = UNSHIPPED_SMALL.read_text(encoding="utf-8").splitlines()[0]
    data, line = make(header)
    path = tmp_path / ("late.txt.gz" if compressed else "late.txt")
    path.write_bytes(gzip.compress(data) if compressed else data)
    errors = []
    for chunk_bytes in (rawfile.CHUNK_BYTES, 700, 4096):
        monkeypatch.setattr(rawfile, "CHUNK_BYTES", chunk_bytes)
        with pytest.raises(InputFileError) as caught:
            read_report(path, ["SKU-A"])
        errors.append(str(caught.value))
        assert caught.value.line == line, (chunk_bytes, str(caught.value))
    assert errors[1:] == errors[:1] * 2


def test_the_first_accented_line_far_down_is_named_when_another_encoding_follows(tmp_path, small_chunks):
    from incident.errors import InputFileError

    header = UNSHIPPED_SMALL.read_text(encoding="utf-8").splitlines()[0]
    data, _ = late_mixed_encodings(header)
    path = tmp_path / "mixed.txt"
    path.write_bytes(data)
    first_accent = data.decode("utf-8", errors="replace").splitlines().index(
        next(line for line in data.decode("utf-8", errors="replace").splitlines() if "Zoë" in line)) + 1
    with pytest.raises(InputFileError, match=f"while line {first_accent} is"):
        read_report(path, ["SKU-A"])


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_chunks_stay_as_they_are_while_the_next_ones_are_read(tmp_path, monkeypatch, compressed):
    """The read-ahead holds the last chunks while the next are read into the other buffers; lines
    longer than a chunk (read over several fills of one buffer) must not overwrite them."""
    import gzip

    monkeypatch.setattr(rawfile, "CHUNK_BYTES", 64)
    lines = ["header\tline"] + [f"{n}\t" + "x" * (n * 37 % 300) for n in range(400)]
    data = ("\n".join(lines)).encode()  # no newline at the end
    path = tmp_path / ("c.txt.gz" if compressed else "c.txt")
    path.write_bytes(gzip.compress(data) if compressed else data)
    held, seen = [], []
    for chunk in rawfile.chunks(path, compressed, buffers=3):
        held.append((chunk, chunk.bytes()))
        held = held[-2:]  # as many as a ring of 3 keeps intact
        assert all(c.bytes() == copy for c, copy in held)
        seen.append(held[-1][1])
        assert data[chunk.offset:chunk.offset + len(held[-1][1])] == held[-1][1]
    assert b"".join(seen) == data[len(lines[0]) + 1:]
