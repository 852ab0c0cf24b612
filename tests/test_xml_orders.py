"""The XML order report Seller Support schedules on request: read from Amazon's own sample, merged
like the flat files, and refused with file, line and column when damaged or hostile."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import REAL_REPORTS, WINDOW, needs_real_reports, with_already_cancelled

from incident.amazon.xml_orders import XML_ORDER_REPORT, is_xml, read_xml_report
from incident.scope import ATTENTION, CANCELLABLE

SAMPLE = REAL_REPORTS / "us-xml-orderreport-2008"

ORDER = """<?xml version="1.0" encoding="UTF-8"?>
<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">
  <Header><DocumentVersion>1.01</DocumentVersion><MerchantIdentifier>M</MerchantIdentifier></Header>
  <MessageType>OrderReport</MessageType>
  <Message><MessageID>1</MessageID><OrderReport>
    <AmazonOrderID>111-0000001-0000001</AmazonOrderID>
    <OrderDate>2026-11-20T14:03:10-08:00</OrderDate>
    <BillingData><BuyerEmailAddress>aaa111@marketplace.amazon.com</BuyerEmailAddress><BuyerName>Alex Miller</BuyerName></BillingData>
    <FulfillmentData><FulfillmentMethod>Ship</FulfillmentMethod><Address>
      <Name>Alex Miller</Name><AddressFieldOne>12 Elm Street</AddressFieldOne><City>Austin</City>
      <StateOrRegion>TX</StateOrRegion><PostalCode>73301</PostalCode><CountryCode>US</CountryCode></Address></FulfillmentData>
    <Item><AmazonOrderItemCode>{item}</AmazonOrderItemCode><SKU>SKU-A</SKU><Title>Sonic Pro</Title><Quantity>1</Quantity>
      <ItemPrice><Component><Type>Principal</Type><Amount currency="USD">100.00</Amount></Component></ItemPrice>
      <Promotion><MerchantPromotionID>SOCIAL20</MerchantPromotionID>
        <Component><Type>Principal</Type><Amount currency="USD">-95.00</Amount></Component></Promotion></Item>
  </OrderReport></Message>
</AmazonEnvelope>
"""


@needs_real_reports
def test_amazons_sample_lands_in_the_incident_and_needs_attention_until_its_status_is_known(cli, home):
    expected = json.loads((SAMPLE / "expected.json").read_text())
    scope = expected["scope"]
    cli("open", *[a for sku in scope["sku"] for a in ("--sku", sku)], "--start", scope["start"], "--end", scope["end"])
    out = cli("pull", *[a for name in expected["reports"] for a in ("--report", SAMPLE / name)]).stdout
    assert "read order-report.xml: XML order report" in out
    counts = with_already_cancelled(cli.json("status")["counts"])
    assert {k: v for k, v in counts.items() if k in expected["counts"]} == expected["counts"]
    line = cli.json("orders")[0]
    assert (line["order_id"], line["order_item_id"], line["sku"]) == ("104-2391705-5555555", "55995643055555", "414070")
    assert "status unknown" in line["reason"]
    assert cli("cancel", "export", code=5).stderr  # nothing to upload from this report alone
    assert not list(home.glob("*/exports/OrderCancellation*"))


def test_the_xml_lines_merge_with_the_all_orders_report(small_incident, tmp_path):
    path = tmp_path / "orders.xml"
    path.write_text(ORDER.format(item="01234567890123"), encoding="utf-8")
    report = read_xml_report(path, ["SKU-A"])
    assert report.kind == XML_ORDER_REPORT and report.rows_read == 1
    fields = report.lines[0].fields
    assert fields["promotion_ids"] == "SOCIAL20" and str(fields["item_promotion_discount"]) == "-95.00"
    assert (fields["ship_address_1"], fields["ship_city"], fields["ship_postal_code"]) == ("12 Elm Street", "Austin", "73301")
    small_incident("pull", "--report", path)
    first = next(o for o in small_incident.json("orders") if o["order_id"] == "111-0000001-0000001")
    assert first["bucket"] == CANCELLABLE and first["order_status"] == "Unshipped"


def test_a_gzipped_xml_report_is_sniffed_by_its_content(tmp_path):
    path = tmp_path / "orders.txt.gz"  # the name says nothing; the content does
    path.write_bytes(gzip.compress(ORDER.format(item="01234567890123").encode()))
    assert is_xml(path) and read_xml_report(path).lines[0].order_id == "111-0000001-0000001"


def test_an_order_seen_only_in_xml_needs_attention(cli, tmp_path):
    cli("open", "--sku", "SKU-A", *WINDOW)
    path = tmp_path / "orders.xml"
    path.write_text(ORDER.format(item="01234567890123"), encoding="utf-8")
    cli("pull", "--report", path)
    assert [o["bucket"] for o in cli.json("orders")] == [ATTENTION]


@pytest.mark.parametrize("content, message", [
    (ORDER.format(item="01234567890123")[:900], "is not well-formed XML"),
    ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
     "<AmazonEnvelope><MessageType>OrderReport</MessageType></AmazonEnvelope>", "declares a DTD or entities"),
    ('<?xml version="1.0"?>\n<Feed/>', "not an Amazon order report"),
    (ORDER.format(item="4.4433E+13"), "turned into a number by a spreadsheet"),
])
def test_a_bad_xml_report_gets_one_line_naming_the_file_and_nothing_is_saved(small_incident, tmp_path, content, message):
    path = tmp_path / "orders.xml"
    path.write_text(content, encoding="utf-8")
    before = small_incident.json("log")
    result = small_incident("pull", "--report", path, code=3)
    assert result.stderr.startswith(f"error: {path}") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Alex" not in result.stderr and "Traceback" not in result.stderr
    assert small_incident.json("log") == before


def test_a_cut_off_file_names_line_and_column(tmp_path):
    from incident.errors import InputFileError

    path = tmp_path / "orders.xml"
    path.write_text(ORDER.format(item="01234567890123")[:900], encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        read_xml_report(path)
    assert caught.value.line is not None and caught.value.column is not None
