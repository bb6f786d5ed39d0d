"""Mail templates: plain text plus a minimal HTML alternative, with escaped values."""

from __future__ import annotations

from html import escape

from codex_graphql.mail import Mail


def _html(paragraphs: list[str], link: str, label: str) -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f'<html><body>{body}<p><a href="{escape(link, quote=True)}">{escape(label)}</a></p></body></html>'


def verify_email(to: str, name: str, link: str, hours: int) -> Mail:
    lines = [f"Hello {name or to},", f"Confirm your email address for Codex. The link expires in {hours} hours."]
    return Mail(
        to=to,
        subject="Confirm your email address",
        text="\n\n".join([*lines, link]) + "\n",
        html=_html(lines, link, "Confirm email"),
    )


def reset_password(to: str, name: str, link: str, minutes: int) -> Mail:
    lines = [
        f"Hello {name or to},",
        f"Someone asked to reset the password of this account. The link expires in {minutes} minutes.",
        "If it was not you, ignore this email; your password stays as it is.",
    ]
    return Mail(
        to=to,
        subject="Reset your password",
        text="\n\n".join([*lines, link]) + "\n",
        html=_html(lines, link, "Choose a new password"),
    )


def purchase_confirmation(to: str, name: str, title: str, seller: str, amount: str, receipt: str) -> Mail:
    lines = [f"Hello {name or to},", f"Thank you for buying “{title}” from {seller} ({amount}).",
             "It is in your library now. Your receipt:"]
    return Mail(to=to, subject=f"Your purchase: {title}", text="\n\n".join([*lines, receipt]) + "\n",
                html=_html(lines, receipt, "View receipt"))


def refund_notice(to: str, name: str, title: str, seller: str, amount: str, receipt: str) -> Mail:
    lines = [f"Hello {name or to},", f"Your purchase of “{title}” from {seller} was refunded ({amount}).",
             "Access to it has ended. The refund reaches your account in a few days, depending on your bank."]
    return Mail(to=to, subject=f"Refund: {title}", text="\n\n".join([*lines, receipt]) + "\n",
                html=_html(lines, receipt, "View receipt"))


def sign_in_locked(to: str, name: str, minutes: int, reset_link: str, link_minutes: int) -> Mail:
    lines = [
        f"Hello {name or to},",
        f"There were too many failed attempts to sign in to your account, so signing in is locked for {minutes} minutes.",
        "If that was you and you forgot your password, reset it with the link below "
        f"(it expires in {link_minutes} minutes). If it was not you, your account is safe; "
        "choosing a new password is still a good idea.",
    ]
    return Mail(to=to, subject="Sign-in temporarily locked", text="\n\n".join([*lines, reset_link]) + "\n",
                html=_html(lines, reset_link, "Reset your password"))


def new_sign_in(to: str, name: str, when: str, ip: str, user_agent: str, reset_link: str, link_minutes: int) -> Mail:
    lines = [
        f"Hello {name or to},",
        f"Your account was just signed in to from a new device: {user_agent or 'unknown browser'}, "
        f"IP address {ip or 'unknown'}, at {when}.",
        "If this was you, there is nothing to do. If it was not, reset your password with the link below "
        f"(it expires in {link_minutes} minutes); that also signs out every session.",
    ]
    return Mail(to=to, subject="New sign-in to your account", text="\n\n".join([*lines, reset_link]) + "\n",
                html=_html(lines, reset_link, "Reset your password"))
