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


def partial_refund_notice(to: str, name: str, title: str, seller: str, refunded: str, paid: str, net: str,
                          receipt: str) -> Mail:
    """Part of a purchase was refunded: access continues; the receipt shows the net amount."""
    lines = [f"Hello {name or to},", f"{seller} refunded part of your purchase of “{title}”: {refunded} of {paid}.",
             f"You paid {net} in the end. You keep access to it. The refund reaches your account in a few days, "
             "depending on your bank. Your updated receipt:"]
    return Mail(to=to, subject=f"Partial refund: {title}", text="\n\n".join([*lines, receipt]) + "\n",
                html=_html(lines, receipt, "View receipt"))


def subscription_payment_failed(to: str, name: str, tier: str, seller: str, grace_days: int, portal: str) -> Mail:
    """Dunning: a renewal payment failed; the portal link updates the card (the provider retries meanwhile)."""
    lines = [f"Hello {name or to},", f"The payment for your “{tier}” subscription with {seller} failed.",
             f"Your access continues for {grace_days} days while the payment is retried. Update your card here:"]
    return Mail(to=to, subject=f"Payment failed: {tier}", text="\n\n".join([*lines, portal]) + "\n",
                html=_html(lines, portal, "Update payment method"))


def subscription_access_ending(to: str, name: str, tier: str, seller: str, ends_at: str, portal: str) -> Mail:
    """Dunning reminder: the grace period of a PAST_DUE subscription ends soon (``ends_at``, already formatted)."""
    lines = [f"Hello {name or to},", f"The payment for your “{tier}” subscription with {seller} still has not gone "
             "through.", f"Your access ends on {ends_at} unless the payment succeeds before then. Update your card here:"]
    return Mail(to=to, subject=f"Your access to {tier} ends soon", text="\n\n".join([*lines, portal]) + "\n",
                html=_html(lines, portal, "Update payment method"))


def sign_in_unlock(to: str, name: str, unlock_link: str, reset_link: str, link_minutes: int) -> Mail:
    lines = [
        f"Hello {name or to},",
        "There were many failed attempts to sign in to your account, so sign-in attempts from the addresses "
        "involved are slowed down. Your account is not locked: you can still sign in from your usual devices.",
        "If you forgot your password, choose a new one here (if the attempts were not yours, that is still a "
        f"good idea): {reset_link}",
        f"If you are being delayed, the link below lifts every delay at once. Each link works once and expires "
        f"in {link_minutes} minutes.",
    ]
    return Mail(to=to, subject="Failed sign-in attempts on your account", text="\n\n".join([*lines, unlock_link]) + "\n",
                html=_html(lines, unlock_link, "Lift the sign-in delays"))


def sign_up_attempt(to: str, name: str, reset_link: str, link_minutes: int) -> Mail:
    lines = [
        f"Hello {name or to},",
        "Someone just tried to create a Codex account with this email address, which already has an account: "
        "yours. Nothing was changed.",
        "If it was you, sign in instead; if you forgot your password, choose a new one with the link below "
        f"(it expires in {link_minutes} minutes). If it was not you, ignore this email.",
    ]
    return Mail(to=to, subject="Someone tried to sign up with your address", text="\n\n".join([*lines, reset_link]) + "\n",
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


def grant_invitation(to: str, title: str, seller: str, link: str) -> Mail:
    lines = [
        "Hello,",
        f"{seller} gave you access to “{title}” on Codex.",
        f"Sign up (or sign in) with this email address, {to}, and confirm the address: the item then appears in "
        "your library.",
    ]
    return Mail(to=to, subject=f"{seller} gave you access to “{title}”", text="\n\n".join([*lines, link]) + "\n",
                html=_html(lines, link, "Sign up"))


def organization_invitation(to: str, organization: str, inviter: str, role: str, link: str, days: int) -> Mail:
    who = f"{inviter} invited you" if inviter else "You are invited"
    lines = [
        "Hello,",
        f"{who} to join {organization} on Codex as {role}. The link works once and expires in {days} days.",
        "Sign in (or create an account) with this email address, then open the link. "
        "If you did not expect this invitation, ignore this email.",
    ]
    return Mail(to=to, subject=f"Join {organization} on Codex", text="\n\n".join([*lines, link]) + "\n",
                html=_html(lines, link, "Accept the invitation"))


def creator_statement_ready(to: str, name: str, organization: str, month: str, rows: int, link: str, days: int) -> Mail:
    """A creator's monthly statement (CSV) is written: a signed download link."""
    lines = [f"Hello {name or to},",
             f"Your statement from {organization} for {month} is ready: {rows} earning entries, with totals per "
             f"currency. The download link expires in {days} days; request the statement again for a new one."]
    return Mail(to=to, subject=f"Your {organization} statement for {month}", text="\n\n".join([*lines, link]) + "\n",
                html=_html(lines, link, "Download the statement (CSV)"))


BOOKING_LINES = {
    "booking.confirmed": ("Your booking is confirmed", "Your seat is booked for {title} on {when}."),
    "booking.waitlisted": ("You are on the waitlist", "{title} on {when} is full: you are on its waitlist. We will "
                           "email you if a seat frees up."),
    "booking.held": ("A seat is held for you", "A seat freed up for {title} on {when}. It is held for you until "
                     "{hold}: book it again before then to confirm it."),
    "booking.cancelled": ("Your booking is cancelled", "Your booking for {title} on {when} is cancelled."),
}


def booking_notice(to: str, name: str, kind: str, title: str, seller: str, when: str, hold: str, link: str) -> Mail:
    """A booking confirmed, waitlisted, held after a cancellation, or cancelled (``BOOKING_LINES``)."""
    subject, line = BOOKING_LINES[kind]
    lines = [f"Hello {name or to},", line.format(title=title, when=when, hold=hold), f"{seller}"]
    return Mail(to=to, subject=f"{subject}: {title}", text="\n\n".join([*lines, link]) + "\n",
                html=_html(lines, link, "Your bookings"))


def offering_announcement(to: str, name: str, offering: str, seller: str, title: str, body: str, link: str) -> Mail:
    """An announcement posted in the portal of an offering the person booked."""
    lines = [f"Hello {name or to},", f"{seller} posted an announcement for {offering}:", title, body]
    return Mail(to=to, subject=f"{offering}: {title}", text="\n\n".join([*lines, link]) + "\n",
                html=_html(lines, link, "Open the portal"))


def booking_reminder(to: str, name: str, title: str, seller: str, when: str, lead: str, where: str,
                     link: str) -> Mail:
    """A booked session starts soon (``lead``: "in 24 hours", "in 1 hour"; ``when`` already formatted in the
    offering's time zone)."""
    lines = [f"Hello {name or to},", f"A reminder: {title} starts {lead}, on {when}.", where, f"{seller}"]
    lines = [line for line in lines if line]
    return Mail(to=to, subject=f"Starting {lead}: {title}", text="\n\n".join([*lines, link]) + "\n",
                html=_html(lines, link, "Your bookings"))
