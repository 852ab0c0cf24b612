"""Push: Amazon's ORDER_CHANGE notifications arriving in an SQS queue. Each message is recorded
in the watch database (by its notification id, so a message delivered twice counts once) before
it is deleted from the queue: a crash between the two only means the message comes back and is
recognised. A message that is not a notification is recorded as unreadable and deleted, so it
cannot block the queue."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from incident.timeutil import iso_utc, parse_iso
from incident.watch.state import SeenOrder, WatchDB, payload_without_buyer_data

_CHANNEL = {"MFN": "Merchant", "AFN": "Amazon"}
_STATUS = {"Canceled": "Cancelled"}


@dataclass
class Drained:
    received: int = 0
    recorded: int = 0  # new notifications (not seen before)
    duplicates: int = 0
    unreadable: int = 0
    new_orders: int = 0


class Queue:
    """The SQS queue, through boto3. `wait_seconds` is the long poll: 20 on a real clock (the call
    returns as soon as a message arrives), 0 on a simulated one."""

    def __init__(self, queue_url: str, endpoint_url: str | None = None, region: str | None = None,
                 wait_seconds: int = 20):
        import boto3
        from botocore.config import Config

        self.queue_url, self.wait_seconds = queue_url, wait_seconds
        region = region or _region_of(queue_url) or "us-east-1"
        # the watch backs off by itself (and says so): boto3 only retries once, quickly
        config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5,
                        read_timeout=wait_seconds + 15)
        self.client = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region, config=config)

    def receive(self, wait: bool = True) -> list[dict[str, Any]]:
        answer = self.client.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                             WaitTimeSeconds=self.wait_seconds if wait else 0)
        return answer.get("Messages") or []

    def delete(self, messages: list[dict[str, Any]]) -> None:
        if messages:
            self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])


def _region_of(queue_url: str) -> str | None:
    host = queue_url.split("/")[2] if "//" in queue_url else ""
    parts = host.split(".")
    return parts[1] if len(parts) > 3 and parts[0] == "sqs" else None


def queue_url_from_arn(arn: str, endpoint_url: str | None = None) -> str:
    """arn:aws:sqs:REGION:ACCOUNT:NAME -> the queue's URL, asked of SQS."""
    import boto3

    parts = arn.split(":")
    client = boto3.client("sqs", endpoint_url=endpoint_url, region_name=parts[3])
    return client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]


def read_notification(message: dict) -> tuple[str, list[SeenOrder]] | None:
    """(change type, the order's lines) of an ORDER_CHANGE notification, or None."""
    change = (message.get("Payload") or {}).get("OrderChangeNotification")
    if message.get("NotificationType") != "ORDER_CHANGE" or not isinstance(change, dict):
        return None
    summary = change.get("Summary") or {}
    purchased = summary.get("PurchaseDate")
    if not change.get("AmazonOrderId") or not purchased:
        return None
    purchase_date = iso_utc(parse_iso(purchased))
    status = _STATUS.get(summary.get("OrderStatus"), summary.get("OrderStatus"))
    lines = [SeenOrder(order_id=change["AmazonOrderId"], sku=item["SellerSKU"], purchase_date=purchase_date,
                       source="push", order_item_id=item.get("OrderItemId"),
                       channel=_CHANNEL.get(summary.get("FulfillmentType")), status=status,
                       quantity=item.get("Quantity"))
             for item in summary.get("OrderItems") or [] if item.get("SellerSKU")]
    return change.get("OrderChangeType") or "", lines


def drain(db: WatchDB, queue: Queue, now: datetime, who: str, max_batches: int = 50) -> Drained:
    """Receive until the queue is empty (or `max_batches`), recording then deleting each batch."""
    result = Drained()
    for batch in range(max_batches):
        # only the first call waits: later ones take what is there now, so a steady trickle of
        # messages cannot hold the round (and the detection) back
        messages = queue.receive(wait=batch == 0)
        if not messages:
            break
        result.received += len(messages)
        details: dict[str, Any] = {"messages": len(messages)}
        with db.change(who, "notifications_received", details) as conn:
            for message in messages:
                _record(db, conn, message, now, result)
            details.update(recorded=result.recorded, duplicates=result.duplicates, new_orders=result.new_orders)
        queue.delete(messages)  # only once recorded: a crash before this line loses nothing
        if len(messages) < 10:
            break
    return result


def _record(db: WatchDB, conn, message: dict, now: datetime, result: Drained) -> None:
    body = message.get("Body") or ""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    read = read_notification(parsed) if isinstance(parsed, dict) else None
    notification_id = ((parsed or {}).get("NotificationMetadata") or {}).get("NotificationId") \
        if isinstance(parsed, dict) else None
    if read is None or not notification_id:
        digest = hashlib.sha256(body.encode()).hexdigest()[:32]
        conn.execute("INSERT OR IGNORE INTO notifications (notification_id, received_at, payload) VALUES (?, ?, ?)",
                     (f"unreadable-{digest}", iso_utc(now), json.dumps({"unreadable": len(body)})))
        result.unreadable += 1
        return
    change_type, lines = read
    order_id = lines[0].order_id if lines else None
    event_time = _event_time(parsed.get("EventTime"))
    inserted = conn.execute(
        "INSERT OR IGNORE INTO notifications (notification_id, order_id, change_type, event_time, received_at, payload) "
        "VALUES (?, ?, ?, ?, ?, ?)", (notification_id, order_id, change_type,
                                      event_time, iso_utc(now), payload_without_buyer_data(parsed))).rowcount
    if not inserted:
        result.duplicates += 1
        return
    result.recorded += 1
    newer = conn.execute("SELECT 1 FROM notifications WHERE order_id = ? AND notification_id != ? AND event_time > ? "
                         "LIMIT 1", (order_id, notification_id, event_time)).fetchone() if event_time else None
    if newer:  # SQS delivered it late: a newer state of the order is already known, keep that one
        lines = [replace(line, status=None) for line in lines]
    result.new_orders += db.save_orders(conn, lines, now)


def _event_time(text: object) -> str | None:
    """The notification's EventTime in one sortable form (UTC, microseconds), or None."""
    try:
        return parse_iso(str(text)).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if text else None
    except ValueError:
        return None
