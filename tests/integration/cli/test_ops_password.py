"""``wiggledesk-scim CONFIG ops-password``: its exact lines (the ini line on stdout, what to do with it on
stderr), without a database. Its refusals are pinned in tests/integration/test_ops_console.py."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from wiggledesk_scim.domain.credentials import PasswordHash


@pytest.fixture
def ini(tmp_path: Path) -> Path:
    """An ini whose database does not exist: ``ops-password`` needs none."""
    path = tmp_path / "offline.ini"
    path.write_text("[app:main]\nuse = egg:wiggledesk-scim\n"
                    "sqlalchemy.url = postgresql+psycopg://nobody@127.0.0.1:1/nowhere\n")
    return path


def test_ops_password_prints_the_hash_line_and_says_where_it_goes(wiggledesk, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery staple\n"))

    code, out, err = wiggledesk("ops-password")

    assert code == 0
    hashed = re.fullmatch(r"ops\.password_hash = (scrypt\$\S+)\n", out)
    assert hashed and PasswordHash.parse(hashed.group(1)).matches("correct horse battery staple")
    assert err == ("Paste that line into the ini's [app:main] section beside ops.username = <a username>, then "
                   "restart the service.\n")
