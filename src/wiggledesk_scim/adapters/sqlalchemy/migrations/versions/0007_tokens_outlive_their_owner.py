"""API tokens outlive their owner; the trail marks a request that locked out its own token.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

ENTRA.md §2.1: Entra may deactivate or delete the very admin whose token it uses. A member's hard delete
now revokes their tokens instead of deleting them (the records stay, for the trail and for the refusal
that says what happened), so ``api_tokens.admin_id`` loses its foreign key to ``members`` (with its
cascade). ``activity.token_owner`` marks a deprovision or delete of the admin whose token the request
came with.

Safe in a rolling upgrade: a process of the previous release that deletes a member leaves that member's
tokens in place, unrevoked, naming no one; the token check of either release refuses them (the old one
finds no grant, the new one reads the owner as deleted, and tells the client). The previous release
inserts trail records without ``token_owner``: the server default, false, fills it.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot drop a constraint without rebuilding the table.
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint("fk_api_tokens_admin_id_members", type_="foreignkey")
    with op.batch_alter_table("activity") as batch:
        batch.add_column(sa.Column("token_owner", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("activity") as batch:
        batch.drop_column("token_owner")
    # Tokens whose owner is gone cannot keep a foreign key to them: they go, as before this revision.
    op.execute("DELETE FROM api_tokens WHERE admin_id NOT IN (SELECT id FROM members)")
    with op.batch_alter_table("api_tokens") as batch:
        batch.create_foreign_key("fk_api_tokens_admin_id_members", "members", ["admin_id"], ["id"],
                                 ondelete="CASCADE")
