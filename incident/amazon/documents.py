"""Feed and report documents: the bytes behind a presigned URL, uploaded and downloaded here
rather than by python-amazon-sp-api, whose own transfers use a bare HTTP client (no timeout we
set, no retry, no status check: an expired URL's XML error comes back as "the document") and
decode the text by guesswork (a Shift_JIS label on cp932 bytes gives it back as bytes).

The SP-API calls around them (createFeedDocument, getFeedDocument, getReportDocument) still go
through the library and `Connection.call`; only the transfer to and from the storage URL is ours.
"""

from __future__ import annotations

import zlib
from functools import cache
from typing import Any

from incident.amazon.spapi import ApiError, Connection, tls_context

# charset labels Amazon uses for documents, and the codec that reads what it really writes:
# Amazon.co.jp labels Shift_JIS but writes Windows' superset (cp932: ①, ㈱, NEC/IBM characters)
_CODECS = {"shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "windows-31j": "cp932",
           "ms932": "cp932", "iso-8859-1": "cp1252", "latin-1": "cp1252", "latin1": "cp1252"}


def codec_for(content_type: str | None) -> str | None:
    """The codec for a document's Content-Type label (None when it names no charset)."""
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "charset" and value.strip():
            label = value.strip().strip('"').lower()
            return _CODECS.get(label, label)
    return None


def decode(data: bytes, content_type: str | None, marketplace_code: str | None = None) -> str:
    """Text from a document's bytes: by its charset label (Shift_JIS read as cp932), else UTF-8,
    else the marketplace's legacy code page. Never bytes, never a traceback."""
    candidates = [codec_for(content_type), "utf-8", "cp932" if marketplace_code == "JP" else "cp1252"]
    for codec in [c for c in candidates if c]:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp932" if marketplace_code == "JP" else "cp1252", errors="replace")


def _transfer(connection: Connection, operation: str, method: str, url: str, **kwargs: Any) -> Any:
    """One transfer to or from a presigned URL, retried on no answer and on 5xx."""
    import httpx

    for attempt in range(connection.settings.max_retries + 1):
        try:
            with httpx.Client(timeout=connection.settings.timeout, verify=tls_context()) as client:
                response = client.request(method, url, **kwargs)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            problem = f"{type(exc).__name__}: the storage server did not answer"
        else:
            if response.status_code < 400:
                return response
            problem = f"the storage server answered {response.status_code}{_s3_code(response.content)}"
            if response.status_code < 500:
                raise ApiError(operation, response.status_code, problem + " (the link may have expired: run again)")
        if attempt < connection.settings.max_retries:
            connection.clock.sleep(connection._backoff(attempt))
    raise ApiError(operation, None, problem)


def _s3_code(body: bytes) -> str:
    """The <Code> of a storage error body (XML), for the message."""
    text = body[:2000].decode("utf-8", errors="replace")
    start, end = text.find("<Code>"), text.find("</Code>")
    return f" ({text[start + 6:end]})" if 0 <= start < end else ""


def upload(connection: Connection, url: str, data: bytes, content_type: str) -> None:
    """PUT the feed's bytes to createFeedDocument's URL, with the Content-Type it was created with."""
    _transfer(connection, "upload", "PUT", url, content=data, headers={"Content-Type": content_type})


def download(connection: Connection, operation: str, meta: dict[str, Any]) -> tuple[bytes, str | None]:
    """The document's bytes (gunzipped when Amazon says GZIP) and its Content-Type."""
    response = _transfer(connection, operation, "GET", meta["url"])
    data = response.content
    if meta.get("compressionAlgorithm"):
        try:
            data = zlib.decompress(data, 15 + 32)
        except zlib.error:
            raise ApiError(operation, None, "the document is damaged (it does not unpack): run again") from None
    return data, response.headers.get("Content-Type")


def feed_document_meta(connection: Connection, document_id: str) -> dict[str, Any]:
    """getFeedDocument without the library's download: {feedDocumentId, url, compressionAlgorithm}."""
    client = connection.client(_feed_documents_class())
    return connection.call("getFeedDocument", client.get_feed_document_info, document_id).payload


@cache
def _feed_documents_class() -> type:
    from sp_api.base import Client, fill_query_params, sp_endpoint

    class FeedDocumentsClient(Client):
        """getFeedDocument returning the document's metadata (the library's own downloads it)."""

        @sp_endpoint("/feeds/2021-06-30/documents/{}", method="GET")
        def get_feed_document_info(self, feedDocumentId, **kwargs):
            return self._request(fill_query_params(kwargs.pop("path"), feedDocumentId), params=kwargs,
                                 add_marketplace=False)

    return FeedDocumentsClient
