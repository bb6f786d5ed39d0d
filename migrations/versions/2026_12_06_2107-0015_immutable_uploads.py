"""immutable uploads: content files are uploaded to a one-use staging key, then copied to their final key

``content.upload_key`` is the staging key (``uploads/{org}/...``) the signed PUT or part URLs write to while
the item is UPLOADING; completeContentUpload checks it and copies it to ``storage_key``, which no signed URL
can write. ``content.upload_claimed_at`` marks a completion in progress (claimed in one short transaction,
recorded in a second one after the storage copy), so two completions never promote the same upload twice.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06 21:07:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('content', sa.Column('upload_key', sa.String(length=400), nullable=True))
    op.add_column('content', sa.Column('upload_claimed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('content', 'upload_claimed_at')
    op.drop_column('content', 'upload_key')
