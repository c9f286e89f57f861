"""``wiggledesk-scim CONFIG refresh-documents``: members' stored User documents that are not current
(from before migration 0008, or rendered by another release) rendered again and kept, in batches."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from tests.integration.cli.conftest import bearer
from tests.support import FULL_USER
from wiggledesk_scim.adapters.sqlalchemy.mapping import USERS
from wiggledesk_scim.adapters.sqlalchemy.tables import members
from wiggledesk_scim.domain.scim.representation import USER_DOCUMENTS
from wiggledesk_scim.entrypoints import cli


def documents(engine) -> dict[str, str | None]:
    with engine.connect() as connection:
        return dict(connection.execute(select(members.c.id, members.c.document)).all())


def stored_members(engine) -> list:
    with engine.connect() as connection:
        return [USERS.resource_of(dict(row._mapping)) for row in connection.execute(select(*USERS.read_columns))]


@pytest.mark.parametrize("batch", [1, 2, 500])
def test_documents_that_are_not_current_are_rendered_again(wiggledesk, contoso, scim, migrated_engine,
                                                             monkeypatch, batch):
    """Every document left out of date is rendered again from its member, in batches of any size;
    current ones are left as they are, and a second run finds nothing to do."""
    for n in range(3):
        scim.post_json("/scim/v2/Users", {**FULL_USER, "userName": f"user{n}@contoso.example",
                                          "externalId": f"ext-{n}"}, headers=bearer(contoso), status=201)
    everyone = stored_members(migrated_engine)
    stale = sorted(member.id for member in everyone)[:3]
    with migrated_engine.begin() as connection:
        connection.execute(update(members).where(members.c.id == stale[0]).values(document=None))
        connection.execute(update(members).where(members.c.id == stale[1])
                           .values(document="0" * 16 + ":1\n{}"))
        connection.execute(update(members).where(members.c.id == stale[2])
                           .values(document=USER_DOCUMENTS.head(99) + "{}"))
    current = {member.id: documents(migrated_engine)[member.id] for member in everyone if member.id not in stale}
    monkeypatch.setattr(cli, "REFRESH_BATCH", batch)

    code, out, err = wiggledesk("refresh-documents")

    assert (code, err) == (0, "")
    assert out.strip() == f"Rendered 3 of {len(everyone)} members' documents again; the others were current."
    kept = documents(migrated_engine)
    assert kept == {member.id: USER_DOCUMENTS.render(member) for member in everyone}
    assert {member_id: kept[member_id] for member_id in current} == current
    code, out, _ = wiggledesk("refresh-documents")
    assert (code, out.strip()) == (0, f"Rendered 0 of {len(everyone)} members' documents again; the others were current.")
