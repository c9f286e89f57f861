"""Each member's SCIM User document, kept in their row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

``members.document`` holds the member as GET and list requests answer (domain/scim/representation,
``UserDocuments``), written with every change of the member, so that a read need not rebuild the member
from their columns. Nullable, and not filled here: a row without a document (or with one an earlier
release rendered, or one left behind by a change that did not render it again) is answered from its
columns, as before, and gets its document at its next change.

Safe in a rolling upgrade: the previous release neither reads nor writes the column. A member it changes
keeps the document of their earlier version, which this release does not serve (the version it was
rendered at is in its head, ``Rendering.kept``).
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("members", sa.Column("document", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not batch_alter_table: on SQLite it copies the table and drops the old one, which deletes every
    # member's search rows and memberships (ON DELETE CASCADE). SQLite drops a column itself since 3.35.
    op.drop_column("members", "document")
