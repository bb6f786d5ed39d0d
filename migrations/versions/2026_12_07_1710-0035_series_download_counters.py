"""series download counters: an entitlement counts downloads per item (a bought series' entitlement covers many)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 17:10:00+00:00

A download counter belonged to one entitlement row (unique ``entitlement_id``), which admitted one item. A
bought series' entitlement (0034) admits every item of the series, so its counters are per item, as a
subscription's are: the unique key becomes (``entitlement_id``, ``content_id``), the same rows for a direct
entitlement (one item each).
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0035'
down_revision: str | None = '0034'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint('uq_download_counter_entitlement_id', 'download_counter', type_='unique')
    op.create_unique_constraint(op.f('uq_download_counter_entitlement_id_content_id'), 'download_counter',
                                ['entitlement_id', 'content_id'])


def downgrade() -> None:
    op.execute("DELETE FROM download_counter d USING download_counter o WHERE d.entitlement_id = o.entitlement_id "
               "AND d.id > o.id")  # one counter per entitlement again (the series' extra ones go)
    op.drop_constraint(op.f('uq_download_counter_entitlement_id_content_id'), 'download_counter', type_='unique')
    op.create_unique_constraint('uq_download_counter_entitlement_id', 'download_counter', ['entitlement_id'])
