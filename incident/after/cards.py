"""Printed apology cards: one seller paused shipping and posted a card to every buyer, arriving
when the goods would have. One card per page in the buyer's language (the language its notice was
written in, else the marketplace's), for every seller-fulfilled order the seller cancelled that
has a shipping address, then an address sheet numbered like the cards.

reportlab lays the text out (line breaks in Japanese too) and embeds the fonts: Bitstream Vera,
which ships with reportlab, for European languages; for Japanese a TrueType font given with
`--font` or found on the system (IPA Gothic on Debian), or else reportlab's Adobe-Japan1 font,
which the printer or viewer must supply (`CardsResult.japanese_font` says which). The PDF
holds names and addresses: it is written 0600 and erased by `purge` with the rest of the buyer data.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from incident.after.record import cancelled_by_seller
from incident.amazon import marketplaces
from incident.errors import StateError, UsageError
from incident.notices.templates import Templates, day
from incident.scope import sort_store
from incident.workspace.files import write_private
from incident.workspace.store import Store

CARDS_ACTION = "cards_written"
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
_MM = 72 / 25.4


@dataclass
class CardsResult:
    path: Path
    cards: int
    sheets: int
    without_address: int
    languages: Counter = field(default_factory=Counter)
    japanese_font: str | None = None  # the embedded Japanese font; None: left to the printer


@dataclass
class Card:
    number: int
    order_id: str
    locale: str
    heading: str
    body: str
    address: list[str]


# TrueType Japanese fonts where systems keep them (Debian's fonts-ipafont-gothic, macOS, Windows);
# reportlab embeds TrueType outlines only, so OpenType-CFF fonts such as Noto CJK are not listed.
JAPANESE_FONTS = ("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf", "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
                  "/usr/share/fonts/truetype/ipafont/ipag.ttf", "/Library/Fonts/Arial Unicode.ttf",
                  "C:/Windows/Fonts/msgothic.ttc")


def japanese_font() -> Path | None:
    return next((Path(p) for p in JAPANESE_FONTS if Path(p).is_file()), None)


def _fonts(font: Path | None) -> tuple[str, str, str]:
    """(latin, latin bold, japanese) font names, registered with reportlab. Japanese: the font
    given, else one the system has (embedded either way), else the printer's own."""
    from reportlab import rl_config
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    folder = Path(rl_config.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont("CardSans", str(folder / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont("CardSans-Bold", str(folder / "VeraBd.ttf")))
    font = font or japanese_font()
    if font is None:
        pdfmetrics.registerFont(UnicodeCIDFont("HeiseiKakuGo-W5"))
        return "CardSans", "CardSans-Bold", "HeiseiKakuGo-W5"
    try:
        pdfmetrics.registerFont(TTFont("CardJapanese", str(font), subfontIndex=0))
    except (OSError, TTFError) as exc:
        raise UsageError(f"--font {font} cannot be used ({exc}): give a TrueType (.ttf) font file") from None
    return "CardSans", "CardSans-Bold", "CardJapanese"


def collect(store: Store, seller_name: str | None = None) -> tuple[list[Card], int]:
    """The cards to print, and how many buyers have no address to post one to."""
    incident = store.incident()
    market = marketplaces.BY_CODE.get(incident.marketplace or "")
    default_locale = market.tag if market else "en-US"
    tz = market.timezone if market else None
    notice_locales = dict(store.conn.execute("SELECT order_id, locale FROM notices").fetchall())
    templates = Templates()
    orders: dict[str, list] = {}
    for decision in cancelled_by_seller(store, sort_store(store)):
        orders.setdefault(decision.line.order_id, []).append(decision.line)
    cards, without = [], 0
    for order_id, lines in sorted(orders.items()):
        line = next((l for l in lines if l.ship_address_1 or l.ship_city), None)
        if line is None:
            without += 1
            continue
        locale = notice_locales.get(order_id) or default_locale
        products = ", ".join(dict.fromkeys(l.product_name or l.sku for l in lines))
        values = {"recipient_name": line.recipient_name or line.buyer_name or "", "order_id": order_id,
                  "products": products, "purchase_date": day(locale, line.purchase_date, tz),
                  "seller_name": seller_name or incident.opened_by}
        heading, body = templates.render("cards", locale, values)
        city = " ".join(p for p in (line.ship_city, line.ship_state, line.ship_postal_code) if p)
        address = [p for p in (line.recipient_name, line.ship_address_1, line.ship_address_2, line.ship_address_3,
                               city, line.ship_country) if p]
        cards.append(Card(len(cards) + 1, order_id, templates.locale_of("cards", locale), heading, body, address))
    return cards, without


def render(cards: list[Card], card_size: tuple[float, float], sheet_size: tuple[float, float],
           font: Path | None = None) -> tuple[bytes, int]:
    """The PDF, and how many address sheet pages it has."""
    from xml.sax.saxutils import escape

    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import (
        BaseDocTemplate,
        Frame,
        KeepInFrame,
        NextPageTemplate,
        PageBreak,
        PageTemplate,
        Paragraph,
        Table,
        TableStyle,
    )

    latin, bold, japanese = _fonts(font)
    margin = 10 * _MM
    pages = Counter()

    def count(kind: str):
        return lambda canvas, doc: pages.update([kind])

    buffer = io.BytesIO()
    doc = BaseDocTemplate(buffer, pagesize=card_size, title="Apology cards", author="incident", invariant=1,
                          leftMargin=margin, rightMargin=margin, topMargin=margin, bottomMargin=margin)
    doc.addPageTemplates([
        PageTemplate("card", [Frame(margin, margin, card_size[0] - 2 * margin, card_size[1] - 2 * margin, id="c")],
                     pagesize=card_size, onPage=count("card")),
        PageTemplate("sheet", [Frame(margin, margin, sheet_size[0] - 2 * margin, sheet_size[1] - 2 * margin, id="s")],
                     pagesize=sheet_size, onPage=count("sheet"))])

    def style(text: str, size: float, heading: bool = False, leading: float | None = None) -> ParagraphStyle:
        cjk = bool(_CJK.search(text))
        return ParagraphStyle("p", fontName=japanese if cjk else (bold if heading else latin), fontSize=size,
                              leading=leading or size * 1.3, wordWrap="CJK" if cjk else None,
                              spaceAfter=size * 0.6)

    story: list = []
    for index, card in enumerate(cards):
        content = [Paragraph(escape(card.heading), style(card.heading, 15, heading=True))]
        for paragraph in card.body.strip().split("\n\n"):
            text = escape(paragraph.strip()).replace("\n", "<br/>")
            content.append(Paragraph(text, style(paragraph, 8.6)))
        content.append(Paragraph(f"No. {card.number}", style("", 6)))
        # a long name or product shrinks the text: one card is one page, always
        story.append(KeepInFrame(card_size[0] - 2 * margin, card_size[1] - 2 * margin, content, mode="shrink"))
        if index < len(cards) - 1:
            story.append(PageBreak())
    story += [NextPageTemplate("sheet"), PageBreak()]
    story.append(Paragraph("Address sheet: one card for each address, numbered like the cards",
                           style("", 12, heading=True)))
    rows = [[Paragraph("No.", style("", 8, heading=True)), Paragraph("Order", style("", 8, heading=True)),
             Paragraph("Address", style("", 8, heading=True)), Paragraph("Language", style("", 8, heading=True))]]
    for card in cards:
        lines = "<br/>".join(escape(p) for p in card.address)
        rows.append([Paragraph(str(card.number), style("", 9)), Paragraph(card.order_id, style("", 9)),
                     Paragraph(lines, style(" ".join(card.address), 9)), Paragraph(card.locale, style("", 9))])
    table = Table(rows, colWidths=[12 * _MM, 45 * _MM, None, 20 * _MM], repeatRows=1)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.3, "#999999")]))
    story.append(table)
    doc.build(story)
    return buffer.getvalue(), pages["sheet"]


def write(store: Store, who: str, path: Path | None = None, seller_name: str | None = None,
          font: Path | None = None) -> CardsResult:
    from reportlab.lib.pagesizes import A4, A6, landscape, letter

    cards, without = collect(store, seller_name)
    if not cards:
        raise StateError("no card to print: no seller-fulfilled order cancelled by you has a shipping address "
                         "(pull the Unshipped Orders report, and cancel first: `incident cancel export`)")
    incident = store.incident()
    us = incident.marketplace in ("US", "CA")
    card_size = (6 * 72, 4 * 72) if us else landscape(A6)  # a US postcard, or A6
    data, sheets = render(cards, card_size, letter if us else A4, font)
    target = path or store.exports_dir / f"apology-cards-{incident.id}.pdf"
    write_private(target, data)
    result = CardsResult(target, len(cards), sheets, without, Counter(card.locale for card in cards),
                         str(font or japanese_font() or "") or None)
    with store.change(who, CARDS_ACTION, {"cards": len(cards), "without_address": without,
                                          "languages": dict(result.languages), "file": target.name}):
        pass
    return result
