"""API tokens get a name and an optional expiry.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

An admin may hold several tokens (to rotate one without downtime), told apart by ``name``; a token may
stop working by itself at ``expires``. Tokens issued before this revision are named "API token" and
never expire, as before.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot add a NOT NULL column without rebuilding the table.
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("name", sa.Text(), nullable=False, server_default="API token"))
        batch.add_column(sa.Column("expires", sa.DateTime(timezone=True), nullable=True))
    # The default served the existing rows; new rows always name themselves (tables.py has none).
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("name", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires")
        batch.drop_column("name")
