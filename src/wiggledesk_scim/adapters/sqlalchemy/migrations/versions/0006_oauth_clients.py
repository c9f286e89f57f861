"""OAuth 2.0 clients: the tables ``oauth_clients``, ``client_secrets``, ``federated_trusts`` and
``access_tokens`` (docs/adr/0012-oauth-token-endpoint.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Only adds tables, so it is safe in a rolling upgrade: the previous release never reads them, and
nothing it writes refers to them. Written out in full rather than importing ``tables.py``, like 0001.
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

ID = sa.String(36)
DIGEST = sa.String(64)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oauth_clients",
        sa.Column("id", ID, nullable=False),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("revoked", TIMESTAMP, nullable=True),
        sa.Column("last_used", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name=op.f("fk_oauth_clients_organisation_id_organisations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_clients")),
    )
    op.create_index("ix_oauth_clients_organisation_id_created", "oauth_clients", ["organisation_id", "created"])
    op.create_table(
        "client_secrets",
        sa.Column("id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("expires", TIMESTAMP, nullable=False),
        sa.Column("revoked", TIMESTAMP, nullable=True),
        sa.Column("last_used", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_clients.id"], ondelete="CASCADE",
                                name=op.f("fk_client_secrets_client_id_oauth_clients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_secrets")),
    )
    op.create_index("uq_client_secrets_digest", "client_secrets", ["digest"], unique=True)
    op.create_index("ix_client_secrets_client_id", "client_secrets", ["client_id"])
    op.create_table(
        "federated_trusts",
        sa.Column("client_id", ID, nullable=False),
        sa.Column("tenant", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("audience", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("jwks_uri", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_clients.id"], ondelete="CASCADE",
                                name=op.f("fk_federated_trusts_client_id_oauth_clients")),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_federated_trusts")),
    )
    op.create_table(
        "access_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("secret_id", ID, nullable=True),
        sa.Column("organisation_id", ID, nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("expires", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["oauth_clients.id"], ondelete="CASCADE",
                                name=op.f("fk_access_tokens_client_id_oauth_clients")),
        sa.ForeignKeyConstraint(["secret_id"], ["client_secrets.id"], ondelete="CASCADE",
                                name=op.f("fk_access_tokens_secret_id_client_secrets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_tokens")),
    )
    op.create_index("uq_access_tokens_digest", "access_tokens", ["digest"], unique=True)
    op.create_index("ix_access_tokens_expires", "access_tokens", ["expires"])


def downgrade() -> None:
    # Children first: each table's foreign keys name the ones dropped after it.
    op.drop_table("access_tokens")
    op.drop_table("federated_trusts")
    op.drop_table("client_secrets")
    op.drop_table("oauth_clients")
