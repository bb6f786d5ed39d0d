"""Purchase confirmation and refund emails: the `send_purchase_email` actor, run the way a Dramatiq
worker runs it (its synchronous ``fn`` on the event-loop thread), against a real SMTP server on
loopback, for purchases made through the app wired to the Stripe stand-in."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiosmtplib
import pytest

from codex_graphql.relay import to_global_id
from codex_graphql.settings import Settings
from tests.support.accounts import ReceivedMail
from tests.support.commerce import REFUND
from tests.support.live_server import free_port

RECEIPT_LINK = re.compile(r"http://testserver/receipts/[0-9a-f-]{36}\?o=[0-9a-f-]{36}&sig=[0-9a-f]{64}")
GRANT = """mutation($i: GrantContentAccessInput!) { grantContentAccess(input: $i) { errors { code } } }"""
CLAIM = """mutation($i: ClaimFreeContentInput!) { claimFreeContent(input: $i) { errors { code } } }"""


def receipt_of(mail: ReceivedMail) -> str:
    found = RECEIPT_LINK.search(mail.text)
    assert found, mail.text
    return found.group(0)


class PurchaseEmails:
    """Runs outbox `send_purchase_email` jobs as a worker would."""

    def __init__(self, admin_db: Any) -> None:
        self.admin_db = admin_db

    async def jobs(self) -> list[tuple[str, dict[str, Any]]]:
        rows = await self.admin_db.fetch(
            "select id, payload from outbox_message where kind = 'job' and topic = 'send_purchase_email' "
            "order by created_at, id")
        return [(str(r["id"]), json.loads(r["payload"])) for r in rows]

    async def run(self, job_id: str, payload: dict[str, Any]) -> None:
        from workers import commerce_actors

        await asyncio.to_thread(commerce_actors.send_purchase_email.fn, job_id=job_id, **payload)

    async def configure(self, settings: Settings) -> None:
        from workers import runtime

        await asyncio.to_thread(self._shutdown)
        runtime.configure(settings)

    @staticmethod
    def _shutdown() -> None:
        from dramatiq.asyncio import get_event_loop_thread

        from workers import runtime

        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(runtime.shutdown())


@pytest.fixture
async def purchase_emails(admin_db, mail_settings) -> AsyncIterator[PurchaseEmails]:
    from dramatiq.asyncio import EventLoopThread, get_event_loop_thread, set_event_loop_thread

    from workers.broker import setup_broker

    setup_broker(mail_settings)  # before the actors module binds to the global broker
    from workers import commerce_actors, runtime  # noqa: F401

    assert get_event_loop_thread() is None, "another event-loop thread is still running"
    thread = EventLoopThread(logging.getLogger("tests.purchase_emails"))
    thread.start(timeout=5)
    set_event_loop_thread(thread)
    runtime.configure(mail_settings)
    jobs = PurchaseEmails(admin_db)
    try:
        yield jobs
    finally:
        await asyncio.to_thread(jobs._shutdown)
        set_event_loop_thread(None)
        await asyncio.to_thread(thread.stop)


async def purchase_id(admin_db: Any, user_id: Any) -> str:
    return to_global_id("Purchase", await admin_db.fetchval("select id from purchase where user_id = $1", user_id))


async def test_confirmation_mail_is_sent_once_with_a_working_receipt_link(shop, admin_db, mailbox, purchase_emails):
    customer = await shop.factory.user(email="mia@example.com", name="Mia <Buyer>")
    await shop.buy(customer)
    [(job_id, payload)] = await purchase_emails.jobs()
    assert payload["kind"] == "confirmation"

    await purchase_emails.run(job_id, payload)
    await purchase_emails.run(job_id, payload)  # a redelivery: no second mail
    [mail] = mailbox.received
    assert mail.envelope_to == ["mia@example.com"] and mail.subject == "Your purchase: Paid film"
    assert "Paid film" in mail.text and "19.99 USD" in mail.text and "Hello Mia <Buyer>," in mail.text
    assert f'href="{receipt_of(mail).replace("&", "&amp;")}"' in mail.html and "Mia &lt;Buyer&gt;" in mail.html
    receipt = await shop.http.get(receipt_of(mail))
    assert receipt.status_code == 200 and "Paid film" in receipt.text and "19.99 USD" in receipt.text
    assert "Refunded" not in receipt.text
    # The mail's link is the receipt link the API gives the buyer.
    listed = await shop.gql.ok("{ viewer { purchases(first: 1) { nodes { receiptUrl } } } }", token=customer.token)
    assert listed["viewer"]["purchases"]["nodes"][0]["receiptUrl"] == receipt_of(mail)
    assert await admin_db.fetchval(
        "select count(*) from processed_message where consumer = 'send_purchase_email' and message_id = $1::uuid",
        job_id) == 1


async def test_refund_sends_a_refund_notice(shop, admin_db, mailbox, purchase_emails):
    customer = await shop.factory.user(email="rae@example.com")
    await shop.buy(customer)
    refunded = await shop.gql(REFUND, {"input": {"purchaseId": await purchase_id(admin_db, customer.user_id),
                                                 "idempotencyKey": "mail-refund"}}, shop.owner.token)
    assert refunded["data"]["refundPurchase"]["errors"] == []
    jobs = await purchase_emails.jobs()
    assert [p["kind"] for _, p in jobs] == ["confirmation", "refund"]
    for job in jobs + jobs:
        await purchase_emails.run(*job)
    confirmation, notice = mailbox.received
    assert confirmation.subject == "Your purchase: Paid film"
    assert notice.envelope_to == ["rae@example.com"] and notice.subject == "Refund: Paid film"
    assert "was refunded (19.99 USD)" in notice.text and "Access to it has ended" in notice.text
    receipt = await shop.http.get(receipt_of(notice))
    assert receipt.status_code == 200 and "Refunded on" in receipt.text


async def test_receipts_keep_the_title_the_item_had_when_bought(shop, admin_db, mailbox, purchase_emails):
    customer = await shop.factory.user()
    await shop.buy(customer)
    await admin_db.execute("update content set title = 'Director''s cut' where title = 'Paid film'")
    [job] = await purchase_emails.jobs()
    await purchase_emails.run(*job)
    [mail] = mailbox.received
    assert mail.subject == "Your purchase: Paid film" and "Director" not in mail.text
    receipt = await shop.http.get(receipt_of(mail))
    assert receipt.status_code == 200 and "Paid film" in receipt.text and "Director" not in receipt.text


async def test_claims_and_grants_send_no_purchase_mail(shop, admin_db, mailbox, purchase_emails):
    customer = await shop.factory.user()
    assert (await shop.gql.ok(CLAIM, {"i": {"contentId": shop.free}}, customer.token))["claimFreeContent"]["errors"] == []
    granted = await shop.gql.ok(GRANT, {"i": {"contentId": shop.paid, "userId": customer.global_id}}, shop.owner.token)
    assert granted["grantContentAccess"]["errors"] == []
    assert await purchase_emails.jobs() == []


async def test_a_failed_send_is_retried_and_then_sent_once(shop, admin_db, mailbox, purchase_emails, mail_settings):
    customer = await shop.factory.user(email="retry@example.com")
    await shop.buy(customer)
    [job] = await purchase_emails.jobs()
    await purchase_emails.configure(mail_settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"}))
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await purchase_emails.run(*job)  # Dramatiq retries the message after this error
    assert await admin_db.fetchval("select count(*) from processed_message") == 0  # the claim did not survive
    await purchase_emails.configure(mail_settings)
    await purchase_emails.run(*job)
    await purchase_emails.run(*job)
    assert [m.envelope_to for m in mailbox.received] == [["retry@example.com"]]


async def test_stripe_receipt_is_used_when_stripe_has_one(shop, admin_db, mailbox, purchase_emails, mail_settings):
    stripe_settings = shop.app.state.settings
    await purchase_emails.configure(mail_settings.model_copy(update={
        "payments_provider": "stripe", "stripe_secret_key": stripe_settings.stripe_secret_key,
        "stripe_webhook_secret": stripe_settings.stripe_webhook_secret,
        "stripe_api_base": stripe_settings.stripe_api_base,
    }))
    customer = await shop.factory.user(email="sam@example.com")
    await shop.buy(customer)
    [(job_id, payload)] = await purchase_emails.jobs()
    await purchase_emails.run(job_id, payload)
    [mail] = mailbox.received
    charge = next(iter(shop.stripe.charges.values()))
    assert charge["receipt_url"] in mail.text and "/receipts/" not in mail.text.replace(charge["receipt_url"], "")
    listed = await shop.gql.ok("{ viewer { purchases(first: 1) { nodes { receiptUrl } } } }", token=customer.token)
    assert listed["viewer"]["purchases"]["nodes"][0]["receiptUrl"] == charge["receipt_url"]
