"""customer search trigram indexes: pg_trgm GIN indexes on the user columns ``Organization.customers(search:)`` reads

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 06:00:00+00:00

The customers list's ``search`` is ``email ILIKE '%words%' OR name ILIKE '%words%'`` on ``user_account``
(analytics.repository._customers): a sequential scan of every platform user, or of every customer of the
organization, per search. Trigram GIN indexes (``gin_trgm_ops``) answer ``ILIKE`` with a leading wildcard,
so the planner can start from the few users whose email or name holds the words (tests/content/
test_search_indexes.py runs EXPLAIN on the statement the repository sends and finds them).

``user_account`` has no row-level security, which is what lets the planner use them: on a table with
forced row-level security (``content``: the catalogue's title/description search), a qual whose operator
is not LEAKPROOF (``ILIKE``, every pg_trgm operator) is evaluated only after the policy's quals and never
becomes an index condition, so a trigram index there would never serve the app's role; none is created.

``pg_trgm`` is a trusted extension (PostgreSQL 13+): the migrating role needs CREATE on the database, not
superuser. A server without it (the embedded development database's binaries ship no contrib modules)
gets neither the extension nor the indexes, with a warning: searches then scan, as before. The indexes are built CONCURRENTLY (docs/operations.md, zero-downtime migrations), outside the
migration's transaction; a build that failed leaves an invalid index to drop before running it again.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (("ix_user_account_email_trgm", "email"), ("ix_user_account_name_trgm", "name"))


def upgrade() -> None:
    available = op.get_bind().scalar(sa.text("select count(*) from pg_available_extensions where name = 'pg_trgm'"))
    if not available:
        logging.getLogger("alembic.runtime.migration").warning(
            "pg_trgm is not available on this server: the customer search trigram indexes are not created")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.get_context().autocommit_block():
        for name, column in INDEXES:
            op.create_index(name, 'user_account', [column], unique=False, postgresql_using='gin',
                            postgresql_ops={column: 'gin_trgm_ops'}, postgresql_concurrently=True,
                            if_not_exists=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name, _column in INDEXES:
            op.drop_index(name, table_name='user_account', postgresql_concurrently=True, if_exists=True)
    # Kept when anything else in the database uses it (RESTRICT refuses, and the refusal is ignored).
    op.execute("DO $$ BEGIN DROP EXTENSION IF EXISTS pg_trgm; "
               "EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END $$")
