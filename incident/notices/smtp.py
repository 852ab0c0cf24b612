"""Sending notices through the seller's own mail server: the settings ([smtp] in incident.toml,
INCIDENT_SMTP_* in the environment), a connection that says clearly what to check when it
fails, and the sender."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from incident.errors import StateError, UsageError
from incident.notices.mail import email_message


@dataclass
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    sender: str
    tls: str  # none | starttls | ssl


def smtp_settings(config: dict[str, Any] | None = None) -> SmtpSettings:
    """[smtp] in incident.toml, overridden by INCIDENT_SMTP_* in the environment."""
    import os

    from incident import config as config_file

    config = config if config is not None else config_file.section("smtp")[0]
    get = lambda key, default=None: os.environ.get(f"INCIDENT_SMTP_{key.upper()}") or config.get(key, default)
    host, sender = get("host"), get("from")
    if not host or not sender:
        raise UsageError("SMTP needs INCIDENT_SMTP_HOST and INCIDENT_SMTP_FROM (the seller's approved sender "
                         "address), or host and from under [smtp] in incident.toml")
    tls = str(get("tls", "starttls")).lower()
    if tls not in ("none", "starttls", "ssl"):
        raise UsageError(f"INCIDENT_SMTP_TLS '{tls}' is not one of none, starttls, ssl")
    return SmtpSettings(host, int(get("port", 465 if tls == "ssl" else 587)), get("user"), get("password"), sender, tls)

def connect_smtp(settings: SmtpSettings) -> SmtpSender:
    """A logged-in connection to the mail server, or one clear error saying what to check."""
    import smtplib

    try:
        return SmtpSender(settings)
    except smtplib.SMTPAuthenticationError:
        raise StateError(f"the SMTP server refused the login of '{settings.user}': check INCIDENT_SMTP_USER "
                         "and INCIDENT_SMTP_PASSWORD (many providers want an app password)") from None
    except _LoginRefused as refused:
        raise StateError(f"the SMTP server refused the login of '{settings.user}' ({refused}): check "
                         "INCIDENT_SMTP_USER and INCIDENT_SMTP_PASSWORD, and that the account may send by "
                         "SMTP with a password (many providers want an app password)") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise StateError(f"the SMTP server {settings.host}:{settings.port} does not offer "
                         f"{'login' if 'AUTH' in str(exc) else 'STARTTLS'} here: check INCIDENT_SMTP_TLS "
                         "(starttls on port 587, ssl on 465)") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise StateError(f"cannot reach the SMTP server {settings.host}:{settings.port}: "
                         f"{type(exc).__name__}; check INCIDENT_SMTP_HOST/PORT/TLS") from None


class _LoginRefused(Exception):
    """The server was reached and answered, but the login did not succeed."""


class SmtpSender:
    needs_address = True

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._connect()

    def _connect(self) -> None:
        import smtplib
        import ssl

        settings = self.settings
        if settings.tls == "ssl":
            self.client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=30,
                                           context=ssl.create_default_context())
        else:
            self.client = smtplib.SMTP(settings.host, settings.port, timeout=30)
            if settings.tls == "starttls":
                self.client.starttls(context=ssl.create_default_context())
        if settings.user:
            try:
                self.client.login(settings.user, settings.password or "")
            except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError):
                raise
            except smtplib.SMTPServerDisconnected:  # some servers hang up on a refused login
                raise _LoginRefused("it closed the connection at the login") from None
            except smtplib.SMTPException as exc:  # e.g. no login method we can use
                raise _LoginRefused(str(exc).rstrip(".") or type(exc).__name__) from None

    def send(self, notice: Any, recipient: str) -> tuple[str, None]:
        import smtplib

        message = email_message(notice, self.settings.sender, recipient)
        try:
            self._deliver(message, recipient)
        except smtplib.SMTPServerDisconnected:  # idle timeout or a restart: no 250 yet, so nothing was delivered
            self._connect()
            self._deliver(message, recipient)
        return "sent", None

    def _deliver(self, message, recipient: str) -> None:
        """send_message writes the message with CRLF line ends and asks for SMTPUTF8 only when an
        address needs it."""
        try:
            self.client.send_message(message, self.settings.sender, [recipient])
        except BaseException as exc:
            if not isinstance(exc, Exception):  # stopped at once (a second Ctrl-C) mid-message: hang up
                self.client.close()  # without a QUIT, so a half-sent message is never completed
            raise

    def close(self) -> None:
        import smtplib

        try:
            self.client.quit()
        except (OSError, smtplib.SMTPException):  # every message is already recorded; a rude goodbye is harmless
            pass

