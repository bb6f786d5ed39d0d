"""Seed for tests/db/test_rls_every_repository.py: one organization with rows in every tenant table.

Inserted directly as the table owner (asyncpg, superuser), so the seed depends on no service: each row is
the smallest one its table accepts. The analytics summaries follow from the purchase through the triggers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg


@dataclasses.dataclass
class Tenant:
    """One organization's seeded ids."""

    org: uuid.UUID
    slug: str
    owner: uuid.UUID
    owner_email: str
    customer: uuid.UUID
    customer_email: str
    membership: uuid.UUID
    published: uuid.UUID  # PUBLISHED, listed, live: public
    draft: uuid.UUID  # READY, never published: the organization's only (and its entitled customer's)
    deleted: uuid.UUID  # PUBLISHED then deleted
    uploading: uuid.UUID  # an abandoned upload
    checkout: uuid.UUID
    purchase: uuid.UUID
    refund: uuid.UUID
    entitlement: uuid.UUID
    published_review: uuid.UUID
    pending_review: uuid.UUID
    invitation: uuid.UUID
    invitation_email: str
    grant: uuid.UUID
    grant_email: str
    shelf_category: uuid.UUID  # holds the published item (and the draft): public
    secret_category: uuid.UUID  # holds the draft only: the organization's (and the draft's entitled customer's)
    label: str
    tag: str  # what the seed's text keys end with (provider ids, idempotency keys, token hash)


async def seed_tenant(conn: asyncpg.Connection, label: str) -> Tenant:
    ids = {name: uuid.uuid4() for name in (
        "org", "owner", "customer", "membership", "published", "draft", "deleted", "uploading", "checkout",
        "purchase", "refund", "entitlement", "draft_entitlement", "published_review", "pending_review",
        "invitation", "grant", "shelf_category", "secret_category")}
    tag = f"{label}-{ids['org'].hex[:8]}"
    t = Tenant(org=ids["org"], slug=f"org-{tag}", owner=ids["owner"], owner_email=f"owner-{tag}@example.com",
               customer=ids["customer"], customer_email=f"customer-{tag}@example.com", membership=ids["membership"],
               published=ids["published"], draft=ids["draft"], deleted=ids["deleted"], uploading=ids["uploading"],
               checkout=ids["checkout"], purchase=ids["purchase"], refund=ids["refund"],
               entitlement=ids["entitlement"], published_review=ids["published_review"],
               pending_review=ids["pending_review"], invitation=ids["invitation"],
               invitation_email=f"invitee-{tag}@example.com", grant=ids["grant"],
               grant_email=f"grantee-{tag}@example.com", shelf_category=ids["shelf_category"],
               secret_category=ids["secret_category"], label=label, tag=tag)
    now = datetime.now(UTC)
    x = conn.execute
    await x("insert into user_account (id, email, password_hash, platform_role) values ($1, $2, 'x', 'CUSTOMER'), "
            "($3, $4, 'x', 'CUSTOMER')", t.owner, t.owner_email, t.customer, t.customer_email)
    await x("insert into organization (id, slug, name) values ($1, $2, $3)", t.org, t.slug, f"Org {label}")
    await x("insert into organization_membership (id, organization_id, user_id, role) values ($1, $2, $3, 'OWNER')",
            t.membership, t.org, t.owner)
    content = ("insert into content (id, organization_id, creator_id, kind, status, title, price_cents, currency, "
               "storage_key, mime_type, original_filename, size_bytes, listed, deleted_at, upload_expires_at) "
               "values ($1, $2, $3, 'VIDEO', $4, $5, 500, 'usd', $6, 'video/mp4', 'a.mp4', 10, true, $7, $8)")
    for item, status, deleted_at, expires in ((t.published, "PUBLISHED", None, None), (t.draft, "READY", None, None),
                                              (t.deleted, "PUBLISHED", now - timedelta(days=60), None),
                                              (t.uploading, "UPLOADING", None, now - timedelta(days=1))):
        await x(content, item, t.org, t.owner, status, f"{status} {label}", f"{t.org}/{item}", deleted_at, expires)
    await x("insert into checkout_session (id, organization_id, user_id, content_id, provider, provider_session_id, "
            "checkout_url, amount_cents, currency, status, success_url, cancel_url) values "
            "($1, $2, $3, $4, 'stripe', $5, 'https://pay', 500, 'usd', 'COMPLETED', 'https://ok', 'https://no')",
            t.checkout, t.org, t.customer, t.published, f"cs_{tag}")
    await x("insert into purchase (id, organization_id, user_id, content_id, creator_id, content_title, kind, status, "
            "amount_cents, currency, creator_share_cents, provider, provider_session_id, payment_intent_id, "
            "customer_email) values ($1, $2, $3, $4, $5, 'Bought', 'PAID', 'COMPLETED', 500, 'usd', 100, 'stripe', "
            "$6, $7, $8)", t.purchase, t.org, t.customer, t.published, t.owner, f"cs_{tag}", f"pi_{tag}",
            t.customer_email)
    await x("insert into purchase_refund (id, organization_id, purchase_id, amount_cents, currency, status, source, "
            "idempotency_key, provider_refund_id) values ($1, $2, $3, 100, 'usd', 'PENDING', 'API', $4, $5)",
            t.refund, t.org, t.purchase, f"r_{tag}", f"re_{tag}")
    await x("insert into purchase_refund (id, organization_id, purchase_id, amount_cents, currency, status, source, "
            "idempotency_key, created_at) values ($1, $2, $3, 50, 'usd', 'PENDING', 'API', $4, now() - interval '1 day')",
            uuid.uuid4(), t.org, t.purchase, f"r2_{tag}")  # reserved, the provider's answer never recorded
    await x("insert into content_entitlement (id, organization_id, user_id, content_id, source, source_id) values "
            "($1, $2, $3, $4, 'PURCHASE', $5), ($6, $2, $3, $7, 'GRANT', null)",
            t.entitlement, t.org, t.customer, t.published, t.purchase, ids["draft_entitlement"], t.draft)
    await x("insert into download_counter (id, organization_id, entitlement_id, user_id, content_id, used) "
            "values ($1, $2, $3, $4, $5, 1)", uuid.uuid4(), t.org, t.entitlement, t.customer, t.published)
    await x("insert into playback_position (user_id, content_id, organization_id, position_seconds) "
            "values ($1, $2, $3, 12.5)", t.customer, t.published, t.org)
    await x("insert into content_view (content_id, user_id, hour, organization_id) values ($1, $2, $3, $4)",
            t.published, t.customer, now.replace(minute=0, second=0, microsecond=0), t.org)
    await x("insert into review (id, organization_id, content_id, user_id, rating, status) values "
            "($1, $2, $3, $4, 5, 'PUBLISHED'), ($5, $2, $3, $6, 1, 'PENDING')",
            t.published_review, t.org, t.published, t.customer, t.pending_review, t.owner)
    await x("insert into content_rating (content_id, organization_id, rating_count, rating_sum) values ($1, $2, 1, 5)",
            t.published, t.org)
    await x("insert into audit_log_entry (id, organization_id, actor_user_id, action, target_type, target_id) "
            "values ($1, $2, $3, 'ACCESS_GRANTED', 'purchase', $4)", uuid.uuid4(), t.org, t.owner, t.purchase)
    await x("insert into outbox_message (id, kind, topic, payload, organization_id) values ($1, 'event', $2, '{}', $3)",
            uuid.uuid4(), f"purchase.{tag}", t.org)
    await x("insert into stripe_event (id, type, payment_intent_id, payload, organization_id) "
            "values ($1, 'checkout.session.completed', $2, '{}', $3)", f"evt_{tag}", f"pi_{tag}", t.org)
    await x("insert into idempotency_record (user_id, organization_id, operation, key, request_hash, response, "
            "expires_at) values ($1, $2, 'startCheckout', $3, 'h', '{}', now() + interval '1 day')",
            t.customer, t.org, f"k_{tag}")
    await x("insert into storage_cleanup (id, organization_id, key, reason, delete_after) "
            "values ($1, $2, $3, 'LOGO_UPLOAD', now() - interval '1 day')", uuid.uuid4(), t.org, f"{t.org}/logo")
    await x("insert into organization_invitation (id, organization_id, email, role, token_hash, expires_at, "
            "invited_by_user_id) values ($1, $2, $3, 'MEMBER', $4, now() + interval '7 days', $5)",
            t.invitation, t.org, t.invitation_email, f"hash-{tag}", t.owner)
    await x("insert into pending_grant (id, organization_id, content_id, email, granted_by_id) values ($1, $2, $3, $4, $5)",
            t.grant, t.org, t.published, t.grant_email, t.owner)
    await x("insert into category (id, organization_id, name, slug) values ($1, $3, 'Shelf', 'shelf'), "
            "($2, $3, 'Secret', 'secret')", t.shelf_category, t.secret_category, t.org)
    await x("insert into content_category (content_id, category_id, organization_id) values ($1, $3, $5), "
            "($2, $3, $5), ($2, $4, $5)", t.published, t.draft, t.shelf_category, t.secret_category, t.org)
    # The draft (READY) is scheduled for publication tomorrow: the organization's alone until it is published.
    await x("insert into content_publish_schedule (content_id, organization_id, publish_at, scheduled_by_id) "
            "values ($1, $2, now() + interval '1 day', $3)", t.draft, t.org, t.owner)
    # The customer's credits: a grant that lapses (a lot) and the balance it made.
    await x("insert into credit_transaction (id, organization_id, user_id, kind, amount, balance_after, source_type, "
            "idempotency_key, expires_at) values ($1, $2, $3, 'GRANT', 5, 5, 'invoice', $4, now() + interval '30 days')",
            credit_id(t), t.org, t.customer, f"credit_{tag}")
    await x("insert into credit_lot (id, organization_id, user_id, expires_at, remaining) "
            "values ($1, $2, $3, now() + interval '30 days', 5)", credit_id(t), t.org, t.customer)
    await x("insert into credit_balance (organization_id, user_id, balance) values ($1, $2, 5)", t.org, t.customer)
    # Subscription tiers: a published one on sale (public, with its price and category) and a draft (the
    # organization's), each with a price and a category link.
    published_tier, draft_tier = tier_id(t, "published"), tier_id(t, "draft")
    await x("insert into subscription_tier (id, organization_id, name, status, stripe_product_id, published_at, "
            "offering_access) values ($1, $3, 'Published tier', 'PUBLISHED', $4, now(), true), "
            "($2, $3, 'Draft tier', 'DRAFT', $5, null, false)",
            published_tier, draft_tier, t.org, f"prod_pub_{tag}", f"prod_draft_{tag}")
    await x("insert into subscription_tier_price (id, tier_id, organization_id, interval, amount_cents, currency, "
            "stripe_price_id) values ($1, $3, $5, 'MONTH', 1000, 'USD', $6), ($2, $4, $5, 'MONTH', 900, 'USD', $7)",
            uuid.uuid5(published_tier, "price"), uuid.uuid5(draft_tier, "price"), published_tier, draft_tier, t.org,
            f"price_pub_{tag}", f"price_draft_{tag}")
    await x("insert into subscription_tier_category (tier_id, category_id, organization_id) values ($1, $3, $5), "
            "($2, $4, $5)", published_tier, draft_tier, t.shelf_category, t.secret_category, t.org)
    # The customer subscribes to the published tier (active for a month).
    await x("insert into subscription (id, organization_id, user_id, tier_id, interval, status, checkout_key, "
            "stripe_subscription_id, stripe_customer_id, current_period_start, current_period_end, access_until) "
            "values ($1, $2, $3, $4, 'MONTH', 'ACTIVE', $5, $6, $7, now(), now() + interval '30 days', "
            "now() + interval '31 days')", subscription_id(t), t.org, t.customer, published_tier, f"sub_key_{tag}",
            f"sub_{tag}", f"cus_{tag}")
    # The search vectors (content_search_public: the published item; content_search_staff: the draft and the upload)
    # are written by the triggers of migration 0032 with the items and their bodies.
    # Article bodies of the published and the draft item (visible exactly where their item is).
    for content_id in (t.published, t.draft):
        await x("insert into article_body (content_id, organization_id, document, html, excerpt_html, plain_text, "
                "word_count, reading_minutes) values ($1, $2, '{\"type\": \"doc\"}', '<p>body</p>', '', 'body', 1, 1)",
                content_id, t.org)
    # A draft series holding the draft item and a published one holding the published item.
    for which, status, content_id in (("series-draft", "DRAFT", t.draft), ("series-published", "PUBLISHED",
                                                                         t.published)):
        await x("insert into series (id, organization_id, title, status) values ($1, $2, $3, $4)",
                uuid.uuid5(t.org, which), t.org, which, status)
        await x("insert into series_item (series_id, content_id, organization_id, position) values ($1, $2, $3, 0)",
                uuid.uuid5(t.org, which), content_id, t.org)
    # The published item's co-creator (the owner) and the sale's ledger rows (the summary follows by trigger).
    await x("insert into content_contributor (content_id, user_id, organization_id, share_percent) values ($1, $2, $3, 50)",
            t.published, t.owner, t.org)
    await x("insert into earning_entry (id, organization_id, purchase_id, content_id, kind, party, user_id, currency, "
            "amount_cents, weight) values ($1, $3, $4, $5, 'SALE', 'CREATOR', $6, 'USD', 100, 200000), "
            "($2, $3, $4, $5, 'SALE', 'ORGANIZATION', null, 'USD', 400, 800000)",
            uuid.uuid5(t.org, "earning-creator"), uuid.uuid5(t.org, "earning-org"), t.org, t.purchase, t.published,
            t.owner)
    # Migration 0038: a paid payout and a statement of the creator, a closed pool period (creator_item_daily and
    # content_play_daily follow from the ledger rows and content views by trigger).
    await x("insert into payout (id, organization_id, user_id, currency, amount_cents, status, period_start, "
            "transfer_id, paid_at) values ($1, $2, $3, 'USD', 100, 'PAID', date '2026-11-01', $4, now())",
            uuid.uuid5(t.org, "payout"), t.org, t.owner, f"tr_{tag}")
    await x("insert into creator_payout_account (user_id, provider, account_id, transfers_active) values "
            "($1, 'stripe', $2, true) on conflict do nothing", t.owner, f"acct_{tag}")
    await x("insert into creator_statement (id, organization_id, user_id, month, status) values "
            "($1, $2, $3, date '2026-11-01', 'PENDING')", uuid.uuid5(t.org, "statement"), t.org, t.owner)
    await x("insert into creator_pool_period (organization_id, period_start, currency, revenue_cents, platform_cents, "
            "pool_cents, plays) values ($1, date '2026-11-01', 'USD', 1000, 0, 100, 1)", t.org)
    await x("insert into content_revision (id, organization_id, content_id, changed, snapshot) values "
            "($1, $2, $3, '{TITLE}', '{\"title\": \"t\"}')", uuid.uuid5(t.org, "revision"), t.org, t.published)
    await x("insert into subscription_invoice (id, organization_id, subscription_id, user_id, tier_id, "
            "stripe_invoice_id, billing_reason, amount_paid_cents, currency, paid_at) values "
            "($1, $2, $3, $4, $5, $6, 'subscription_create', 1000, 'USD', now())", uuid.uuid5(t.org, "invoice"),
            t.org, subscription_id(t), t.customer, published_tier, f"in_{tag}")
    await x("insert into content_processing (content_id, organization_id, stage, percent, hls_prefix) values "
            "($1, $2, 'DONE', 100, $3)", t.draft, t.org, f"hls/{t.org}/{t.draft}/v1/")
    await x("insert into playback_device (id, organization_id, user_id, device_hash, name, user_agent) values "
            "($1, $2, $3, $4, 'Chrome on Linux', 'Mozilla/5.0')", uuid.uuid5(t.org, "device"), t.org, t.customer,
            hashlib.sha256(f"device-{tag}".encode()).digest())
    # Offerings: a draft (the organization's only) and a published event with a session, a booking of the
    # customer, a category link; a published service with its availability.
    draft_offering, event, service = (uuid.uuid5(t.org, n) for n in ("offering-draft", "offering-event",
                                                                     "offering-service"))
    await x("insert into offering (id, organization_id, type, status, title, currency, capacity, time_zone, "
            "created_by) values ($1, $4, 'EVENT', 'DRAFT', 'Draft', 'USD', 5, 'UTC', $5), "
            "($2, $4, 'EVENT', 'PUBLISHED', 'Event', 'USD', 5, 'UTC', $5), "
            "($3, $4, 'SERVICE', 'PUBLISHED', 'Service', 'USD', 1, 'UTC', $5)",
            draft_offering, event, service, t.org, t.owner)
    await x("insert into offering_session (id, organization_id, offering_id, starts_at, ends_at, capacity, "
            "seats_taken) values ($1, $3, $4, now() + interval '1 day', now() + interval '25 hours', 5, 1), "
            "($2, $3, $5, now() + interval '1 day', now() + interval '25 hours', 5, 0)",
            uuid.uuid5(t.org, "session-event"), uuid.uuid5(t.org, "session-draft"), t.org, event, draft_offering)
    await x("insert into offering_category (offering_id, category_id, organization_id) values ($1, $2, $3), "
            "($4, $2, $3)", event, t.shelf_category, t.org, draft_offering)
    draft_service = uuid.uuid5(t.org, "offering-draft-service")
    await x("insert into offering (id, organization_id, type, status, title, currency, capacity, time_zone, "
            "created_by) values ($1, $2, 'SERVICE', 'DRAFT', 'Draft service', 'USD', 1, 'UTC', $3)",
            draft_service, t.org, t.owner)
    await x("insert into offering_availability (offering_id, organization_id, weekly, slot_minutes) values "
            "($1, $3, '[{\"day\": 0, \"start\": \"09:00\", \"end\": \"12:00\"}]', 60), "
            "($2, $3, '[{\"day\": 1, \"start\": \"09:00\", \"end\": \"12:00\"}]', 30)",
            service, draft_service, t.org)
    await x("insert into booking (id, organization_id, offering_id, session_id, user_id, status, pay_with, "
            "idempotency_key) values ($1, $2, $3, $4, $5, 'CONFIRMED', 'PURCHASE', $6)",
            uuid.uuid5(t.org, "booking"), t.org, event, uuid.uuid5(t.org, "session-event"), t.customer, f"b-{tag}")
    # The event's portal (migration 0044): the draft item and a file, an announcement mailed to the customer.
    await x("insert into offering_portal_item (id, organization_id, offering_id, kind, content_id) values "
            "($1, $2, $3, 'CONTENT', $4)", uuid.uuid5(t.org, "portal-content"), t.org, event, t.draft)
    await x("insert into offering_portal_item (id, organization_id, offering_id, kind, filename, content_type, "
            "size_bytes, storage_key, uploaded_at) values ($1, $2, $3, 'FILE', 'slides.pdf', 'application/pdf', 10, "
            "$4, now())", uuid.uuid5(t.org, "portal-file"), t.org, event, f"portal/{t.org}/slides")
    await x("insert into offering_announcement (id, organization_id, offering_id, title, body) values "
            "($1, $2, $3, 'Welcome', 'Hello')", uuid.uuid5(t.org, "announcement"), t.org, event)
    await x("insert into offering_announcement_delivery (announcement_id, user_id, organization_id, claimed_at, "
            "sent_at) values ($1, $2, $3, now(), now())", uuid.uuid5(t.org, "announcement"), t.customer, t.org)
    # Its 24-hour reminder, sent (migration 0046), and the customer's rotated calendar feed.
    await x("insert into booking_reminder (booking_id, session_id, lead_minutes, organization_id) values "
            "($1, $2, 1440, $3)", uuid.uuid5(t.org, "booking"), uuid.uuid5(t.org, "session-event"), t.org)
    await x("insert into calendar_feed (user_id, version) values ($1, 2)", t.customer)
    # Conferencing (migration 0045): the organization's Zoom connection (tokens sealed), the event session's
    # meeting (its customer holds a confirmed seat: participant_read) and a stored webhook of it.
    meeting = uuid.uuid5(t.org, "meeting")
    await x("insert into conferencing_connection (organization_id, provider, access_token) values ($1, 'ZOOM', $2)",
            t.org, b"sealed")
    await x("insert into offering_meeting (id, organization_id, offering_id, session_id, provider, status, "
            "provider_meeting_id, join_url) values ($1, $2, $3, $4, 'ZOOM', 'CREATED', $5, $6)", meeting, t.org, event,
            uuid.uuid5(t.org, "session-event"), f"zoom-{tag}", f"https://zoom.example/j/{tag}")
    await x("insert into conferencing_event (id, organization_id, provider, event_id, event_type, meeting_id, "
            "payload) values ($1, $2, 'ZOOM', $3, 'recording.completed', $4, '{}')", uuid.uuid5(t.org, "zoom-event"),
            t.org, f"recording.completed:{tag}", meeting)
    await x("insert into content_processing_chunk (content_id, chunk_index, organization_id, hls_prefix, "
            "start_seconds, length_seconds, first_segment, status) values ($1, 0, $2, $3, 0, 300, 0, 'DONE')",
            t.draft, t.org, f"hls/{t.org}/{t.draft}/v1/")
    # A live preview link of the draft (its token's holder sees it, nobody's scope does) and a revoked one.
    await x("insert into content_preview_link (id, organization_id, content_id, token_hash, expires_at, "
            "created_by_user_id, revoked_at) values ($1, $2, $3, $4, now() + interval '1 day', $5, null), "
            "($6, $2, $3, $7, now() + interval '1 day', $5, now())", preview_link_id(t), t.org, t.draft,
            preview_token_hash(t), t.owner, uuid.uuid5(t.org, "preview-revoked"),
            hashlib.sha256(f"revoked-{tag}".encode()).hexdigest())
    return t


def preview_link_id(t: Tenant) -> uuid.UUID:
    """The id of the tenant's seeded live preview link (of its draft)."""
    return uuid.uuid5(t.org, "preview")


def preview_token_hash(t: Tenant) -> str:
    """The token hash of the tenant's seeded live preview link (of its draft)."""
    return hashlib.sha256(f"preview-{t.tag}".encode()).hexdigest()


def subscription_id(t: Tenant) -> uuid.UUID:
    """The id of the tenant's seeded subscription (its customer's, to the published tier)."""
    return uuid.uuid5(t.org, "subscription")


def credit_id(t: Tenant) -> uuid.UUID:
    """The id of the tenant's seeded credit transaction (and of its lot)."""
    return uuid.uuid5(t.org, "credit")


def tier_id(t: Tenant, which: str) -> uuid.UUID:
    """The id of the tenant's seeded ``published`` or ``draft`` subscription tier."""
    return uuid.uuid5(t.org, f"tier-{which}")
