"""Teams (SCIM Groups) and their memberships: the tables ``teams`` and ``team_members``, and the trail's
columns for a team's events (``team_id``, ``added``, ``removed``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Only adds, so it is safe in a rolling upgrade: the previous release never reads the new tables, and its
activity records leave the new nullable columns empty. Written out in full rather than importing
``tables.py``, like 0001.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.String(36)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("display_name_key", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("last_modified", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name=op.f("fk_teams_organisation_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
    )
    op.create_index("uq_teams_organisation_id_display_name_key", "teams",
                    ["organisation_id", "display_name_key"], unique=True)
    op.create_index("uq_teams_organisation_id_external_id", "teams", ["organisation_id", "external_id"],
                    unique=True)
    op.create_index("ix_teams_organisation_id_created_id", "teams", ["organisation_id", "created", "id"])
    op.create_table(
        "team_members",
        sa.Column("team_id", ID, nullable=False),
        sa.Column("member_id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE",
                                name=op.f("fk_team_members_team_id_teams")),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE",
                                name=op.f("fk_team_members_member_id_members")),
        sa.PrimaryKeyConstraint("team_id", "member_id", name=op.f("pk_team_members")),
    )
    op.create_index("ix_team_members_member_id_team_id", "team_members", ["member_id", "team_id"])
    # Nullable columns: a plain ALTER TABLE ADD COLUMN on both databases, no table rebuild.
    op.add_column("activity", sa.Column("team_id", ID, nullable=True))
    op.add_column("activity", sa.Column("added", sa.Integer(), nullable=True))
    op.add_column("activity", sa.Column("removed", sa.Integer(), nullable=True))


def downgrade() -> None:
    # batch_alter_table: SQLite before 3.35 cannot drop a column in place.
    with op.batch_alter_table("activity") as batch:
        batch.drop_column("removed")
        batch.drop_column("added")
        batch.drop_column("team_id")
    op.drop_table("team_members")
    op.drop_table("teams")
