"""Printed apology cards: a print-ready PDF, one card a page in the buyer's language plus the
address sheet, checked as a person sees it by turning its pages into images (pypdfium2)."""

from __future__ import annotations

import json
import stat

import pypdfium2
import pytest
from conftest import SAMPLES
from test_after import with_addresses

from incident.after.cards import japanese_font


@pytest.fixture(scope="session")
def japanese_glyphs():
    """A Japanese TrueType font to embed (Debian's IPA Gothic), installed when missing."""
    import debian

    return debian.ensure("fonts-ipafont-gothic", lambda: japanese_font() is not None)


def pages(path):
    document = pypdfium2.PdfDocument(str(path))
    return [document[i] for i in range(len(document))]


def ink(page) -> float:
    """How much of the rendered page is not white: a blank page is 0."""
    image = page.render(scale=1).to_pil().convert("L")
    histogram = image.histogram()
    return 1 - histogram[255] / sum(histogram)


@pytest.fixture
def cancelled(small_incident, tmp_path):
    small_incident("pull", "--report", with_addresses(tmp_path))
    small_incident("cancel", "export")
    return small_incident


def test_one_card_per_cancelled_seller_fulfilled_buyer_and_an_address_sheet(cancelled, home, tmp_path):
    path = cancelled("cards", "--seller-name", "Sonic Audio").stdout.strip()
    shown = pages(path)
    assert len(shown) == 4  # orders 111-...-1, -2, -9 (cancelled by our file), then the sheet
    for page in shown[:3]:
        assert page.get_size() == (432.0, 288.0)  # a 6 x 4 in US postcard
        assert ink(page) > 0.01
    first = shown[0].get_textpage().get_text_range()
    assert "We are sorry" in first and "Dear Alex Miller" in first and "111-0000001-0000001" in first
    assert "Sonic Audio" in first and "No. 1" in first
    sheet = shown[3].get_textpage().get_text_range()
    assert shown[3].get_size() == (612.0, 792.0)  # US Letter
    assert "1 Elm Street" in sheet and "Austin TX 73301" in sheet and "111-0000009-0000009" in sheet
    assert "111-0000003-0000003" not in sheet  # FBA: Amazon ships it, and there is no address
    shown[0].render(scale=2).to_pil().save(tmp_path / "card.png")
    assert stat.S_IMODE((home.glob("*/exports/apology-cards-*.pdf").__next__()).stat().st_mode) == 0o600
    assert cancelled.json("log")[-1]["details"] == {"cards": 3, "file": path.split("/")[-1],
                                                     "languages": {"en-US": 3}, "without_address": 0}


def test_japanese_buyers_get_japanese_cards(cli, tmp_path, japanese_glyphs):
    spec = json.loads((SAMPLES / "jp" / "scope.json").read_text())
    cli("open", "--sku", spec["skus"][0], "--start", spec["start"], "--end", spec["end"], "--floor", spec["floor"])
    cli("pull", "--report", SAMPLES / "jp" / "all-orders.txt", "--report", SAMPLES / "jp" / "unshipped.txt")
    cli("cancel", "export")
    path = cli("cards", "--seller-name", "ソニック").stdout.strip()
    shown = pages(path)
    text = shown[0].get_textpage().get_text_range()
    assert "お詫び" in text and "様" in text and "ソニック" in text
    assert round(shown[0].get_size()[0] / 72 * 25.4) == 148  # A6 landscape
    if japanese_glyphs:
        pytest.skip(f"{japanese_glyphs}; without it the PDF names the printer's Japanese font, which this renderer "
                    "lacks, so the glyphs are not checked as images")
    assert ink(shown[0]) > 0.02


def test_no_card_without_a_cancellation(small_incident):
    assert "no card to print" in small_incident("cards", code=5).stderr


def test_purge_erases_the_cards(cancelled, home):
    cancelled("cards")
    cancelled("purge", "--yes", "--force")
    assert not list(home.glob("*/exports/apology-cards-*.pdf"))
