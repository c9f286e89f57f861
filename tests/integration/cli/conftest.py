"""The ``wiggledesk-scim`` command, run in-process (``cli.main``) against an ini over the test's own
database (SQLite and PostgreSQL), beside the SCIM API over the same database to see what a command did."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from webtest import TestApp

from wiggledesk_scim.entrypoints import cli
from wiggledesk_scim.entrypoints.pyramid_app import CONTAINER_KEY, main

#: ``wiggledesk(*args)``: runs ``wiggledesk-scim INI *args``; its exit code, stdout and stderr.
Run = Callable[..., "tuple[int, str, str]"]


@pytest.fixture
def ini(tmp_path: Path, database_url: str, migrated_engine) -> Path:
    path = tmp_path / "test.ini"
    path.write_text("[app:main]\nuse = egg:wiggledesk-scim\nwiggledesk.storage = sqlalchemy\n"
                    f"sqlalchemy.url = {database_url.replace('%', '%%')}\n")
    return path


@pytest.fixture
def wiggledesk(capsys, ini: Path) -> Run:
    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main([str(ini), *args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture
def contoso(wiggledesk: Run) -> str:
    """Contoso, onboarded by the CLI with its admin ada@contoso.example; her token."""
    code, out, err = wiggledesk("onboard", "Contoso", "ada@contoso.example")
    assert code == 0, err
    return out.strip().splitlines()[-1]


@pytest.fixture
def scim(database_url, ini):
    """The SCIM API over the same database, as configured by default (tokens checked on every request),
    its access log off so that stderr holds only what the commands print."""
    app = main({}, **{"wiggledesk.storage": "sqlalchemy", "sqlalchemy.url": database_url,
                      "wiggledesk.access_log": "off"})
    yield TestApp(app)
    app.registry[CONTAINER_KEY].engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
