"""A notice as an e-mail message, the same for the SMTP server and the outbox."""

from __future__ import annotations

from typing import Any

from incident.notices.rules import HTML


def email_message(notice: Any, sender: str, recipient: str) -> bytes:
    from email.message import EmailMessage
    from email.utils import formatdate

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, recipient, notice["subject"]
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{notice['idempotency_key']}@incident.notice>"  # same on a resend: deduplicable
    message.set_content(notice["body"], subtype="html" if HTML.search(notice["body"]) else "plain")  # a forced HTML template
    return message.as_bytes()
