"""Outgoing mail: a Mailer protocol with an SMTP and a console implementation.

Event path: mails are outbox jobs, sent by the worker actors (``workers/``), never from a request's
transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

import aiosmtplib

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a mail: ``content_type`` like ``text/calendar``, ``params`` added to its Content-Type
    (``(("method", "PUBLISH"),)`` for an iCalendar attachment)."""

    filename: str
    content: bytes
    content_type: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


def _message(mail: Mail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename,
                               params=dict(attachment.params))
    return message


_YES, _NO = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _start_tls(query: dict[str, list[str]]) -> bool | None:
    """``?starttls=1`` requires STARTTLS, ``?starttls=0`` forbids it; by default the connection is
    upgraded whenever the server offers it, so credentials never cross in plain text needlessly."""
    value = query.get("starttls", [""])[0].strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    if value:
        raise ValueError(f"SMTP_URL: starttls must be 1 or 0, not {value!r}")
    return None


class SmtpMailer:
    """``SMTP_URL`` like ``smtp://user:pass@host:587`` (STARTTLS when offered; ``?starttls=1`` to
    require it, ``?starttls=0`` to never use it) or ``smtps://host:465`` (implicit TLS)."""

    def __init__(self, url: str, sender: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in {"smtp", "smtps"}:
            raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {parsed.scheme}://")
        query = parse_qs(parsed.query)
        self.sender = sender
        self.options = {
            "hostname": parsed.hostname or "127.0.0.1",
            "port": parsed.port or (465 if parsed.scheme == "smtps" else 25),
            "username": unquote(parsed.username) if parsed.username else None,
            "password": unquote(parsed.password) if parsed.password else None,
            "use_tls": parsed.scheme == "smtps",
            "start_tls": False if parsed.scheme == "smtps" else _start_tls(query),
            "timeout": 15,
        }

    async def send(self, mail: Mail) -> None:
        await aiosmtplib.send(_message(mail, self.sender), **self.options)


class ConsoleMailer:
    """Embedded-mode mailer: writes the mail to the log so links can be clicked from the terminal."""

    def __init__(self, sender: str) -> None:
        self.sender = sender

    async def send(self, mail: Mail) -> None:
        log.info("mail (console mailer)", extra={"to": mail.to, "subject": mail.subject, "body": mail.text})


def build_mailer(smtp_url: str | None, sender: str) -> Mailer:
    return SmtpMailer(smtp_url, sender) if smtp_url else ConsoleMailer(sender)
