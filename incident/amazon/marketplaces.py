"""Amazon marketplaces: id, sales channel, the time zone Seller Central reports in, currency and
the buyer's default locale. Ids match python-amazon-sp-api's `Marketplaces` (a test checks)."""

from __future__ import annotations

from dataclasses import dataclass

from incident.errors import UsageError


@dataclass(frozen=True)
class Marketplace:
    code: str
    marketplace_id: str
    sales_channel: str
    region: str
    timezone: str
    currency: str
    locale: str

    @property
    def relay_domain(self) -> str:
        """Where Amazon's anonymised buyer addresses are: marketplace.amazon.co.jp for Amazon.co.jp."""
        return "marketplace." + self.sales_channel.lower()

    @property
    def tag(self) -> str:
        """The locale as a language tag (en-US), as Amazon's Messaging API and the templates write it."""
        return self.locale.replace("_", "-")


_ALL = [
    Marketplace("US", "ATVPDKIKX0DER", "Amazon.com", "NA", "America/Los_Angeles", "USD", "en_US"),
    Marketplace("CA", "A2EUQ1WTGCTBG2", "Amazon.ca", "NA", "America/Los_Angeles", "CAD", "en_CA"),
    Marketplace("MX", "A1AM78C64UM0Y8", "Amazon.com.mx", "NA", "America/Mexico_City", "MXN", "es_MX"),
    Marketplace("BR", "A2Q3Y263D00KWC", "Amazon.com.br", "NA", "America/Sao_Paulo", "BRL", "pt_BR"),
    Marketplace("UK", "A1F83G8C2ARO7P", "Amazon.co.uk", "EU", "Europe/London", "GBP", "en_GB"),
    Marketplace("DE", "A1PA6795UKMFR9", "Amazon.de", "EU", "Europe/Berlin", "EUR", "de_DE"),
    Marketplace("FR", "A13V1IB3VIYZZH", "Amazon.fr", "EU", "Europe/Paris", "EUR", "fr_FR"),
    Marketplace("IT", "APJ6JRA9NG5V4", "Amazon.it", "EU", "Europe/Rome", "EUR", "it_IT"),
    Marketplace("ES", "A1RKKUPIHCS9HS", "Amazon.es", "EU", "Europe/Madrid", "EUR", "es_ES"),
    Marketplace("NL", "A1805IZSGTT6HS", "Amazon.nl", "EU", "Europe/Amsterdam", "EUR", "nl_NL"),
    Marketplace("SE", "A2NODRKZP88ZB9", "Amazon.se", "EU", "Europe/Stockholm", "SEK", "sv_SE"),
    Marketplace("PL", "A1C3SOZRARQ6R3", "Amazon.pl", "EU", "Europe/Warsaw", "PLN", "pl_PL"),
    Marketplace("BE", "AMEN7PMS3EDWL", "Amazon.com.be", "EU", "Europe/Brussels", "EUR", "fr_BE"),
    Marketplace("TR", "A33AVAJ2PDY3EV", "Amazon.com.tr", "EU", "Europe/Istanbul", "TRY", "tr_TR"),
    Marketplace("AE", "A2VIGQ35RCS4UG", "Amazon.ae", "EU", "Asia/Dubai", "AED", "en_AE"),
    Marketplace("SA", "A17E79C6D8DWNP", "Amazon.sa", "EU", "Asia/Riyadh", "SAR", "ar_SA"),
    Marketplace("IN", "A21TJRUUN4KGV", "Amazon.in", "EU", "Asia/Kolkata", "INR", "en_IN"),
    Marketplace("JP", "A1VC38T7YXB528", "Amazon.co.jp", "FE", "Asia/Tokyo", "JPY", "ja_JP"),
    Marketplace("AU", "A39IBJ37TRP1C6", "Amazon.com.au", "FE", "Australia/Sydney", "AUD", "en_AU"),
    Marketplace("SG", "A19VAU5U5O7RUS", "Amazon.sg", "FE", "Asia/Singapore", "SGD", "en_SG"),
]

BY_CODE = {m.code: m for m in _ALL}
_BY_ID = {m.marketplace_id: m for m in _ALL}
_BY_CHANNEL = {m.sales_channel.lower(): m for m in _ALL}


def lookup(code_or_id: str) -> Marketplace:
    """A country code (US, UK/GB, JP, ...) or a marketplace id."""
    key = code_or_id.strip()
    upper = key.upper()
    if upper == "GB":
        upper = "UK"
    if upper in BY_CODE:
        return BY_CODE[upper]
    if key in _BY_ID:
        return _BY_ID[key]
    known = ", ".join(BY_CODE)
    raise UsageError(f"unknown marketplace '{code_or_id}': use a country code ({known}) "
                     "or a marketplace id such as ATVPDKIKX0DER")


def from_sales_channel(channel: str | None) -> Marketplace | None:
    """'Amazon.co.jp' -> JP. Non-Amazon channels (e.g. 'Non-Amazon') give None."""
    if not channel:
        return None
    return _BY_CHANNEL.get(channel.strip().lower())
