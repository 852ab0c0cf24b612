"""A notice as an e-mail message, the same for the SMTP server and the outbox: plain text unless
it was rendered from an .html.j2 template, and addressed to exactly one bare address.

The message is written as SMTP wants it: every line ends in CRLF (with bare LF a server leaves the
dot-stuffing of a line that begins with a dot in place, "$5..41", or refuses the message), no line
is longer than 78 characters, and the body is 7-bit (quoted-printable or base64 when the text is
not ASCII or has a longer line), so any server takes it without 8BITMIME."""

from __future__ import annotations

from typing import Any

from incident.amazon.cells import single_address
from incident.errors import UsageError
from incident.notices.templates import HTML_MARK


def email_message(notice: Any, sender: str, recipient: str):
    """The notice as an `email.message.EmailMessage`; `bytes(...)`/`as_bytes()` gives it with CRLF."""
    from email import policy
    from email.message import EmailMessage
    from email.utils import formatdate

    if not single_address(recipient):  # never the address itself in the message: buyer data
        raise UsageError(f"order {notice['order_id']}: the recipient is not exactly one bare e-mail address "
                         "(two addresses, a display name or a formula), so nothing was sent to it")
    message = EmailMessage(policy=policy.SMTP.clone(cte_type="7bit"))
    message["From"], message["To"], message["Subject"] = sender, recipient, notice["subject"]
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{notice['idempotency_key']}@incident.notice>"  # same on a resend: deduplicable
    body = notice["body"]
    if body.startswith(HTML_MARK):
        message.set_content(body.removeprefix(HTML_MARK), subtype="html")
    else:
        message.set_content(body, subtype="plain")
    return message
