"""The outbox: one .eml file per notice and outbox.csv, for sellers who send through another
tool. Each file holds the message exactly as `--via smtp` would send it (CRLF line ends)."""

from __future__ import annotations

from typing import Any

from incident.notices.mail import email_message
from incident.workspace.files import csv_text, refuse_link, write_private
from incident.workspace.store import OUTBOX_TEST_FILE, Store


TEST_FILE = OUTBOX_TEST_FILE


class OutboxSender:
    needs_address = True

    def __init__(self, store: Store, sender: str, emails: dict[str, str], test: bool = False):
        self.store, self.folder, self.sender, self.emails = store, store.folder / "outbox", sender, emails
        self.test = test  # --test-to: one file of its own, never over a buyer's, and not in outbox.csv
        refuse_link(self.folder)  # before the first notice, not once per notice

    def send(self, notice: Any, recipient: str) -> tuple[str, None]:
        name = TEST_FILE if self.test else f"{notice['order_id']}.eml"
        write_private(self.folder / name, email_message(notice, self.sender, recipient).as_bytes())
        return "sent", None

    def close(self) -> None:
        if self.test:
            return
        sent = self.store.conn.execute("SELECT * FROM notices WHERE via = 'outbox' AND state = 'sent' ORDER BY order_id")
        rows = ([r["order_id"], self.emails.get(r["order_id"]) or "", r["subject"], f"{r['order_id']}.eml"] for r in sent)
        if self.folder.exists():
            write_private(self.folder / "outbox.csv", csv_text(["order_id", "to", "subject", "file"], rows).encode("utf-8"))
