"""Whatever the column order, extra columns, encoding or line ending, the same orders come out."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident.amazon.reports import read_report
from incident.sandbox.scenario import ALL_ORDERS_COLUMNS, UNSHIPPED_COLUMNS, write_report

NAMES = {
    "utf-8": ["Café Crème Mug", "ソニック ヘッドホン", "Plain Cable"],
    "utf-8-sig": ["Zoë's Müsli", "ケーブル 2m"],
    "cp1252": ["Crème brûlée set", "Straße Müller – grey", "Plain Cable"],
    "cp932": ["ソニック ノイズキャンセリング ヘッドホン", "ケーブル（編組）", "日本茶セット"],
}

# built from numbers, not from a regular expression: the same ids, drawn in a fraction of the time
order_ids = st.builds("{:03d}-{:07d}-{:07d}".format, st.integers(0, 999), st.integers(0, 10**7 - 1),
                      st.integers(0, 10**7 - 1))
item_codes = st.integers(0, 10**14 - 1).map("{:014d}".format)


@st.composite
def reports(draw):
    encoding = draw(st.sampled_from(sorted(NAMES)))
    count = draw(st.integers(min_value=1, max_value=12))
    rows = []
    for _ in range(count):
        rows.append({
            "amazon-order-id": draw(order_ids), "order-id": None, "order-item-id": draw(item_codes),
            "purchase-date": "2026-11-20T14:0%d:00-08:00" % draw(st.integers(0, 9)),
            "last-updated-date": "2026-11-20T15:00:00-08:00",
            "order-status": draw(st.sampled_from(["Pending", "Unshipped", "Shipped", "Cancelled"])),
            "fulfillment-channel": draw(st.sampled_from(["Amazon", "Merchant"])),
            "product-name": draw(st.sampled_from(NAMES[encoding])),
            "sku": draw(st.sampled_from(["SKU-A", "SKU-B", "0042"])),
            "quantity": str(draw(st.integers(1, 5))),
            "item-price": "%d.%02d" % (draw(st.integers(0, 999)), draw(st.integers(0, 99))),
            "buyer-name": draw(st.sampled_from(NAMES[encoding])),
        })
    kind = draw(st.sampled_from(["all", "unshipped"]))
    base = ALL_ORDERS_COLUMNS if kind == "all" else UNSHIPPED_COLUMNS
    columns = draw(st.permutations(base))
    extras = draw(st.lists(st.sampled_from(["is-iba", "buyer-company-name", "x-new"]), unique=True))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return kind, rows, list(columns) + extras, encoding, newline


def _write(kind, rows, columns, encoding, newline, folder: Path) -> Path:
    path = folder / f"{random.random()}.txt"
    converted = []
    for row in rows:
        values = dict(row)
        if kind == "unshipped":
            values.update({"order-id": row["amazon-order-id"], "quantity-purchased": row["quantity"],
                           "quantity-to-ship": row["quantity"], "quantity-shipped": "0"})
        converted.append({c: values.get(c) or "" for c in columns})
    write_report(path, columns, converted, encoding=encoding, newline=newline)
    return path


@pytest.mark.long
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports())
def test_same_orders_whatever_the_layout(case):
    kind, rows, columns, encoding, newline = case
    base = ALL_ORDERS_COLUMNS if kind == "all" else UNSHIPPED_COLUMNS
    with tempfile.TemporaryDirectory() as folder:
        canonical = read_report(_write(kind, rows, base, "utf-8", "\n", Path(folder)))
        written = _write(kind, rows, columns, encoding, newline, Path(folder))
        shuffled = read_report(written)
        ascii_only = written.read_bytes().removeprefix(b"\xef\xbb\xbf").isascii()
    if not ascii_only:  # plain ASCII reads the same in every one of these encodings
        assert shuffled.encoding.replace("-sig", "") == encoding.replace("-sig", "")
    assert [(l.order_id, l.sku, l.seq, l.fields) for l in shuffled.lines] == \
           [(l.order_id, l.sku, l.seq, l.fields) for l in canonical.lines]
    assert len(shuffled.lines) == len(rows)
