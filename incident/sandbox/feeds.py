"""The simulator's Feeds API 2021-06-30, as Amazon's model states it: feed documents with a
presigned upload URL (5 minutes, same Content-Type), createFeed, getFeed and getFeeds (pages of
`pageSize`, filters, a top-level `nextToken` that must be sent alone), IN_QUEUE → IN_PROGRESS →
DONE (or FATAL on demand), and the cancellation feed's processing report in the marketplace's
language.

The processing report's layout for this feed, and its wording outside English, are not
published by Amazon: the words below are the simulator's, chosen so that a client that reads the
English words only is caught."""

from __future__ import annotations

import base64
import gzip
import json
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from incident.sandbox.wire import CANCEL_FEED, document_answer, error, iso, parse_time

if TYPE_CHECKING:
    from incident.sandbox.server import Simulator

UPLOAD_SECONDS = 300  # a presigned URL lives 5 minutes
FEED_STATUSES = ("CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE")

# title, "records processed", "records successful", header, error, warning
REPORT_WORDS = {
    "en": ("Feed Processing Summary:", "Number of records processed", "Number of records successful",
           "original-record-number\torder-id\torder-item-id\terror-code\terror-type\terror-message", "Error", "Warning"),
    "de": ("Zusammenfassung der Feed-Verarbeitung:", "Anzahl verarbeiteter Datensätze", "Anzahl erfolgreicher Datensätze",
           "ursprüngliche-datensatznummer\tbestellnummer\tbestellpositionsnummer\tfehlercode\tfehlertyp\tfehlermeldung",
           "Fehler", "Warnung"),
    "fr": ("Récapitulatif du traitement du flux :", "Nombre d'enregistrements traités", "Nombre d'enregistrements réussis",
           "numéro-enregistrement-original\tnuméro-commande\tnuméro-article-commande\tcode-erreur\ttype-erreur\tmessage-erreur",
           "Erreur", "Avertissement"),
    "it": ("Riepilogo elaborazione feed:", "Numero di record elaborati", "Numero di record riusciti",
           "numero-record-originale\tid-ordine\tid-articolo-ordine\tcodice-errore\ttipo-errore\tmessaggio-errore",
           "Errore", "Avviso"),
    "es": ("Resumen del procesamiento del feed:", "Número de registros procesados", "Número de registros correctos",
           "número-registro-original\tid-pedido\tid-artículo-pedido\tcódigo-error\ttipo-error\tmensaje-error",
           "Error", "Advertencia"),
    "ja": ("フィード処理結果の概要:", "処理されたレコード数", "成功したレコード数",
           "元のレコード番号\t注文番号\t注文商品番号\tエラーコード\tエラータイプ\tエラーメッセージ", "エラー", "警告"),
}


def create_feed_document(sim: Simulator, match, query, body, fault):
    spec = json.loads(body or b"{}")
    if not spec.get("contentType"):
        return 400, error("InvalidInput", "contentType is required.")
    document_id = "amzn1.tortuga.3." + secrets.token_hex(8)
    sim.uploads[document_id] = {"data": b"", "content_type": spec["contentType"],
                                "expires": sim.clock.now() + UPLOAD_SECONDS}
    return 201, {"feedDocumentId": document_id, "url": f"{sim.url}/_upload/{document_id}"}


def _s3_error(code: str, message: str) -> tuple:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f'<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>').encode()
    return 403, body, "application/xml"


def upload(sim: Simulator, match, query, body, fault, headers=None):
    """The presigned PUT: S3 answers in XML, not in SP-API's JSON."""
    document = sim.uploads.get(match.group(1))
    if document is None or sim.clock.now() > document["expires"]:
        return _s3_error("AccessDenied", "Request has expired")
    if headers is not None and headers.get("Content-Type") != document["content_type"]:
        return _s3_error("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                                                  "signature you provided. Check your key and signing method.")
    document["data"] = body
    return 200, b"", "text/plain"


def create_feed(sim: Simulator, match, query, body, fault):
    spec = json.loads(body or b"{}")
    for name in ("feedType", "marketplaceIds", "inputFeedDocumentId"):
        if not spec.get(name):
            return 400, error("InvalidInput", f"{name} is required.")
    document = sim.uploads.get(spec["inputFeedDocumentId"])
    if document is None or not document["data"]:
        return 400, error("InvalidInput", "The feed document was not uploaded.")
    with sim.lock:
        feed_id = str(len(sim.feeds) + 70001)
        sim.feeds[feed_id] = {"feedId": feed_id, "feedType": spec["feedType"], "created": sim.clock.now(),
                              "marketplaceIds": list(spec["marketplaceIds"]), "createdTime": iso(sim.now()),
                              "processingStatus": "IN_QUEUE", "mode": fault.kind if fault else None,
                              "input": spec["inputFeedDocumentId"]}
    return 202, {"feedId": feed_id}


def _advance(sim: Simulator, feed: dict) -> None:
    """Move a feed along with the clock; process it once."""
    if feed["processingStatus"] in ("DONE", "FATAL", "CANCELLED"):
        return
    elapsed = sim.clock.now() - feed["created"]
    if elapsed < sim.processing_seconds / 2:
        return
    if "processingStartTime" not in feed:
        feed.update(processingStatus="IN_PROGRESS", processingStartTime=iso(sim.now()))
    if elapsed < sim.processing_seconds:
        return
    data = sim.uploads[feed["input"]]["data"]
    report = process_cancellation_feed(sim, data, feed["mode"]) if feed["feedType"] == CANCEL_FEED \
        else "\n".join(REPORT_WORDS["en"][:1]) + "\n"
    feed["processingEndTime"] = iso(sim.now())
    if feed["mode"] == "fatal_feed":  # aborted part way: some rows may have been applied
        feed["processingStatus"] = "FATAL"
        return
    document_id = "amzn1.tortuga.3." + secrets.token_hex(8)
    sim.documents[document_id] = (gzip.compress(report.encode()), "text/plain; charset=UTF-8", True)
    feed.update(processingStatus="DONE", resultFeedDocumentId=document_id)


def _view(feed: dict) -> dict:
    return {k: v for k, v in feed.items() if k not in ("created", "mode", "input")}


def get_feed(sim: Simulator, match, query, body, fault):
    feed = sim.feeds.get(match.group(1))
    if feed is None:
        return 404, error("NotFound", "Feed not found.")
    with sim.lock:
        _advance(sim, feed)
        return 200, _view(feed)


def _listed(query: dict, key: str) -> list[str] | None:
    value = query.get(key)
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    return [v for item in values for v in item.split(",") if v]


def get_feeds(sim: Simulator, match, query, body, fault):
    marketplace_keys = {"MarketplaceId", "MarketplaceIds", "marketplace_ids"}  # python-amazon-sp-api adds these
    if "nextToken" in query:
        if set(query) - {"nextToken"} - marketplace_keys - {"marketplaceIds"}:
            return 400, error("InvalidInput", "nextToken must be the only parameter.")
        try:
            filters, offset = json.loads(base64.urlsafe_b64decode(query["nextToken"].encode()))
        except ValueError:
            return 400, error("InvalidInput", "Invalid nextToken.")
    else:
        types = _listed(query, "feedTypes")
        if not types:
            return 400, error("InvalidInput", "Either feedTypes or nextToken is required.")
        size = int(query.get("pageSize", 10))
        if not 1 <= size <= 100:
            return 400, error("InvalidInput", "pageSize must be between 1 and 100.")
        statuses = _listed(query, "processingStatuses") or list(FEED_STATUSES)
        if set(statuses) - set(FEED_STATUSES):
            return 400, error("InvalidInput", "Invalid processingStatuses.")
        now = sim.now()
        filters = {"types": types, "size": size, "statuses": statuses, "markets": _listed(query, "marketplaceIds"),
                   "since": query.get("createdSince") or iso(now - timedelta(days=90)),
                   "until": query.get("createdUntil") or iso(now)}
        offset = 0
    since, until = parse_time(filters["since"]), parse_time(filters["until"])
    with sim.lock:
        chosen = []
        for feed in sorted(sim.feeds.values(), key=lambda f: f["created"], reverse=True):  # newest first
            _advance(sim, feed)
            if feed["feedType"] in filters["types"] and feed["processingStatus"] in filters["statuses"] \
                    and since <= parse_time(feed["createdTime"]) <= until \
                    and (not filters["markets"] or set(filters["markets"]) & set(feed["marketplaceIds"])):
                chosen.append(_view(feed))
    page = chosen[offset:offset + filters["size"]]
    result = {"feeds": page}
    if offset + filters["size"] < len(chosen):
        token = json.dumps([filters, offset + filters["size"]]).encode()
        result["nextToken"] = base64.urlsafe_b64encode(token).decode()
    return 200, result


def get_feed_document(sim: Simulator, match, query, body, fault):
    return document_answer(sim, match.group(1), "amzn1.tortuga.3.", "feedDocumentId")


def process_cancellation_feed(sim: Simulator, body: bytes, mode: str | None = None) -> str:
    """Cancel what can be cancelled; a processing report in the marketplace's language with one
    error row per refusal. `mode`: feed_warnings adds a warning row to an accepted record;
    feed_file_error refuses the whole file with a row that names no record."""
    title, processed_words, successful_words, header, error_word, warning_word = REPORT_WORDS.get(
        sim.marketplace.locale.split("_")[0], REPORT_WORDS["en"])
    lines = body.decode("utf-8", errors="replace").splitlines()
    rows = [line.split("\t") for line in lines[2:] if line.strip()]
    if mode == "feed_file_error":
        summary = [title, f"\t{processed_words}\t\t0", f"\t{successful_words}\t\t0", ""]
        return "\n".join(summary + [header, f"\t\t\t90001\t{error_word}\tThe file could not be read."]) + "\n"
    found = []
    with sim.lock:
        for number, row in enumerate(rows, start=1):
            order_id, reason, item_code = (row + ["", "", ""])[:3]
            problem = _refusal(sim, order_id, reason, item_code)
            if problem:
                found.append(f"{number}\t{order_id}\t{item_code}\t{problem[0]}\t{error_word}\t{problem[1]}")
            elif mode == "feed_warnings":
                found.append(f"{number}\t{order_id}\t{item_code}\t99001\t{warning_word}\t"
                             "The cancellation was applied; the buyer has been notified.")
    refused = sum(1 for line in found if f"\t{error_word}\t" in line)
    summary = [title, f"\t{processed_words}\t\t{len(rows)}", f"\t{successful_words}\t\t{len(rows) - refused}", ""]
    return "\n".join(summary + ([header] + found if found else [])) + "\n"


def _refusal(sim: Simulator, order_id: str, reason: str, item_code: str) -> tuple[str, str] | None:
    """Why Amazon refuses this row, or None once it is cancelled."""
    order = sim.find(order_id)
    if order is None:
        return "18028", f"The order id {order_id} was not found in our system."
    if reason not in sim.reasons:
        return "90004", f"The cancellation-reason-code '{reason}' is invalid."
    if order.channel != "Merchant":
        return "18031", "This order is fulfilled by Amazon and cannot be cancelled by the seller."
    if order.status in ("Shipped", "PartiallyShipped"):
        return "18030", "The order has already shipped and cannot be cancelled."
    item = next((i for i in order.items if i.order_item_id == item_code), None)
    if item_code and item is None:
        return "18029", f"The order item code {item_code} does not match the order."
    for target in (order.items if not item_code else [item]):
        target.status, target.cancelled_by = "Cancelled", "MERCHANT"
    if all(i.status == "Cancelled" for i in order.items):
        order.status = "Cancelled"
    order.last_updated = sim.now()
    return None
