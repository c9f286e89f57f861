"""The provisioning activity trail: one table, ``activity``, and the three indexes its reads use.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Only adds: nothing existing changes, and the trail starts empty (what happened before this revision was
never recorded). Written out in full rather than importing ``tables.py``, like 0001.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.String(36)


def upgrade() -> None:
    op.create_table(
        "activity",
        # BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite, whose only autoincrementing
        # column type it is.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        # No foreign keys: the trail must never block a delete nor fail a write (tables.py says why).
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("member_id", ID, nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("token_id", ID, nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("scim_type", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
    )
    op.create_index("ix_activity_organisation_id_at_id", "activity", ["organisation_id", "at", "id"])
    op.create_index("ix_activity_organisation_id_member_id_at_id", "activity",
                    ["organisation_id", "member_id", "at", "id"])
    op.create_index("ix_activity_at", "activity", ["at"])


def downgrade() -> None:
    op.drop_table("activity")
