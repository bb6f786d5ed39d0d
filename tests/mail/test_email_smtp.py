"""The SMTP mailer against real local SMTP servers: plain, and one that insists on STARTTLS and AUTH."""

from __future__ import annotations

import datetime
import ipaddress
import ssl

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from codex_graphql.mail import ConsoleMailer, Mail, SmtpMailer, build_mailer
from codex_graphql.mail.templates import verify_email
from tests.support.accounts import Mailbox, free_port

USER, PASSWORD = "mailer", "p@ss:w/rd"
QUOTED_PASSWORD = "p%40ss%3Aw%2Frd"


def self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class StrictMailbox(Mailbox):
    """Accepts mail only over STARTTLS after AUTH with USER/PASSWORD; remembers who logged in how."""

    def __init__(self) -> None:
        super().__init__()
        self.logins: list[tuple[str, bool]] = []

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(), PASSWORD.encode())
        self.logins.append((mechanism, session.ssl is not None))
        return AuthResult(success=ok)


@pytest.fixture
def strict_mailbox(tmp_path, monkeypatch):
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the client trusts this server's certificate, nothing else changes
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    box = StrictMailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port, tls_context=tls, require_starttls=True,
                            authenticator=box.authenticate, auth_required=True, auth_require_tls=True)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def a_mail(to: str = "reader@example.com") -> Mail:
    return verify_email(to, "Reader", "http://testserver/account/verify-email?token=abc", 24)


async def test_the_mailer_upgrades_to_starttls_when_offered_and_authenticates(strict_mailbox):
    mailer = SmtpMailer(f"smtp://{USER}:{QUOTED_PASSWORD}@127.0.0.1:{strict_mailbox.port}", "Codex <no-reply@codex.test>")
    await mailer.send(a_mail())
    [received] = strict_mailbox.to("reader@example.com")
    assert received.subject == "Confirm your email address"
    assert received.message["From"] == "Codex <no-reply@codex.test>"
    assert [encrypted for _, encrypted in strict_mailbox.logins] == [True]


async def test_starttls_can_be_required_or_refused_in_the_url(strict_mailbox):
    base = f"smtp://{USER}:{QUOTED_PASSWORD}@127.0.0.1:{strict_mailbox.port}"
    await SmtpMailer(f"{base}?starttls=1", "no-reply@codex.test").send(a_mail("required@example.com"))
    assert len(strict_mailbox.to("required@example.com")) == 1
    with pytest.raises(aiosmtplib.SMTPException):
        await SmtpMailer(f"{base}?starttls=0", "no-reply@codex.test").send(a_mail("refused@example.com"))
    assert strict_mailbox.to("refused@example.com") == []
    assert all(encrypted for _, encrypted in strict_mailbox.logins)  # the password never crossed in clear


async def test_a_plain_server_without_starttls_still_gets_the_mail(mailbox):
    await SmtpMailer(mailbox.url, "no-reply@codex.test").send(a_mail())
    [received] = mailbox.to("reader@example.com")
    assert "http://testserver/account/verify-email?token=abc" in received.text


@pytest.mark.parametrize("url", ["http://127.0.0.1:25", "smtp://127.0.0.1:25?starttls=maybe"])
def test_a_malformed_smtp_url_fails_at_startup(url):
    with pytest.raises(ValueError, match="SMTP_URL"):
        build_mailer(url, "no-reply@codex.test")


def test_without_smtp_url_mail_goes_to_the_log():
    assert isinstance(build_mailer(None, "no-reply@codex.test"), ConsoleMailer)
