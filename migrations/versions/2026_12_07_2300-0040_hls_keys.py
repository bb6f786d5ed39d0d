"""HLS segment encryption: the ladder's AES-128 key, wrapped

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07 23:00:00+00:00

``content_processing.hls_key`` holds the key of the item's current ladder version, wrapped with AES-GCM under a
key derived from SECRET_KEY (``codex_graphql/media/keys.py``). Null for rows made before this revision: such a
ladder was not encrypted, and a job resuming one starts a new, encrypted version. The table's row-level
security (0039) covers the column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0040'
down_revision: str | None = '0039'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('content_processing', sa.Column('hls_key', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column('content_processing', 'hls_key')
