"""Telling people: the buyers' apology notices and the Seller Support texts.

Modules by job: `templates` (jinja2 templates, babel money and dates), `rules` (Amazon's
messaging rules), `render` (who is due a notice, rendering it), `ledger` (each notice's state and
who was told), `send` (sending exactly once through one `Sender`: `messaging` for the Messaging
API, `smtp`, `outbox`), `mail` (the e-mail message), and `support` (the Seller Support texts).
"""

from incident.notices.ledger import listing, summary
from incident.notices.render import RenderResult, blocked, eligible, force, render_notices
from incident.notices.rules import Problem, check
from incident.notices.send import VIAS, SendResult, send_notices
from incident.notices.smtp import SmtpSettings, connect_smtp, smtp_settings
from incident.notices.templates import Templates

__all__ = ["VIAS", "Problem", "RenderResult", "SendResult", "SmtpSettings", "Templates", "blocked", "check",
           "connect_smtp", "eligible", "force", "listing", "render_notices", "send_notices", "smtp_settings",
           "summary"]
