"""The initial schema: organisations, members, member_email_keys, api_tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written out in full rather than importing ``tables.py``, so this revision keeps creating the schema as it
was even when the tables change later; ``test_migrations`` checks the result against ``tables.py``.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.String(36)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("api_access", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
    )
    op.create_table(
        "members",
        sa.Column("id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("user_name_key", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("display_name_key", sa.Text(), nullable=True),
        sa.Column("nick_name", sa.Text(), nullable=True),
        sa.Column("profile_url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("user_type", sa.Text(), nullable=True),
        sa.Column("preferred_language", sa.Text(), nullable=True),
        sa.Column("locale", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=True),
        sa.Column("name_formatted", sa.Text(), nullable=True),
        sa.Column("name_family_name", sa.Text(), nullable=True),
        sa.Column("name_given_name", sa.Text(), nullable=True),
        sa.Column("name_middle_name", sa.Text(), nullable=True),
        sa.Column("name_honorific_prefix", sa.Text(), nullable=True),
        sa.Column("name_honorific_suffix", sa.Text(), nullable=True),
        sa.Column("emails", sa.JSON(), nullable=False),
        sa.Column("phone_numbers", sa.JSON(), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("enterprise_employee_number", sa.Text(), nullable=True),
        sa.Column("enterprise_cost_center", sa.Text(), nullable=True),
        sa.Column("enterprise_organization", sa.Text(), nullable=True),
        sa.Column("enterprise_division", sa.Text(), nullable=True),
        sa.Column("enterprise_department", sa.Text(), nullable=True),
        sa.Column("manager_id", ID, nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("api_access", sa.Boolean(), nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("last_modified", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name=op.f("fk_members_organisation_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
    )
    op.create_index("uq_members_organisation_id_user_name_key", "members",
                    ["organisation_id", "user_name_key"], unique=True)
    op.create_index("uq_members_organisation_id_external_id", "members",
                    ["organisation_id", "external_id"], unique=True)
    op.create_index("ix_members_organisation_id_created_id", "members",
                    ["organisation_id", "created", "id"])
    op.create_table(
        "member_email_keys",
        sa.Column("member_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("value_key", sa.Text(), nullable=False),
        sa.Column("type_key", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE",
                                name=op.f("fk_member_email_keys_member_id_members")),
        sa.PrimaryKeyConstraint("member_id", "position", name=op.f("pk_member_email_keys")),
    )
    op.create_index("ix_member_email_keys_organisation_id_value_key", "member_email_keys",
                    ["organisation_id", "value_key"])
    op.create_table(
        "api_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("admin_id", ID, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("last_used", TIMESTAMP, nullable=True),
        sa.Column("revoked", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name=op.f("fk_api_tokens_organisation_id_organisations")),
        sa.ForeignKeyConstraint(["admin_id"], ["members.id"], ondelete="CASCADE",
                                name=op.f("fk_api_tokens_admin_id_members")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
    )
    op.create_index("uq_api_tokens_digest", "api_tokens", ["digest"], unique=True)
    op.create_index("ix_api_tokens_admin_id", "api_tokens", ["admin_id"])
    op.create_index("ix_api_tokens_organisation_id_created", "api_tokens", ["organisation_id", "created"])


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("member_email_keys")
    op.drop_table("members")
    op.drop_table("organisations")
