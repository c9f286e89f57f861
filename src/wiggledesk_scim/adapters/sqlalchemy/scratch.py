"""Throwaway PostgreSQL schemas: a fresh, empty schema per test run, conformance run or benchmark.

Tooling, not the service: nothing the application serves uses it. It lives here so the integration
tests, ``scripts/`` and ``benchmarks/`` share one way of doing it.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.pool import NullPool


@contextmanager
def fresh_postgres_schema(server: URL | str, prefix: str, **connect_args) -> Iterator[str]:
    """A URL whose connections work in a new, empty schema of ``server``'s database (its search_path,
    through libpq's ``options``), dropped with everything in it on leaving."""
    server = make_url(server)
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, poolclass=NullPool, connect_args=connect_args)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception:
        admin.dispose()
        raise
    options = " ".join(filter(None, [server.query.get("options"), f"-csearch_path={schema}"]))
    try:
        yield server.update_query_dict({"options": options}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            # A connection leaked in a transaction would make DROP wait for ever.
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
