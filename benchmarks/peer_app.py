"""The peer of issue 18, scim2-server, seeded and served for ``benchmarks/run.py --peer`` (see peer.py).

Runs in the peer's own venv (``benchmarks/.peer-venv``: scim2-server and the same waitress as ours), never in
the project's: it imports nothing of wiggledesk-scim nor of the other benchmark modules.

    .peer-venv/bin/python peer_app.py --ini INI --port PORT --token TOKEN --ids OUT --tenant NAME=FILE ...

The application is built as scim2-server's own ``scim2-server`` command builds it (testserver/cli.py:
RFC 7643's schemas and resource types, its default ServiceProviderConfig plus the bearer-token scheme, a
``ScimService``, one ``InMemoryStorage`` and one ``BearerTokenApplication`` per tenant accepting the one
static ``--token``, the tenants behind its ``TenantDispatcher`` at ``/<tenant>/v2``): scim2-server 0.8 has
no other storage. Each tenant is seeded before serving from ``FILE``, one creation body per line (the
members' User JSON, made by the benchmark from the same members as ours), through the peer's own steps of
a create minus HTTP: ``service.read_creation`` (validation) then ``storage.create``. The member ids, in the
file's order, go to ``--ids`` as ``{tenant: [id, ...]}`` before the port opens. Then waitress serves it
with the ini's ``[server:main]`` settings (threads = 4, ...), only ``listen`` replaced, as pserve serves ours.
"""
from __future__ import annotations

import argparse
import configparser
import json
import secrets
import time
from pathlib import Path

from scim2_models import ScimProvider
from scim2_server.applications.wsgi import TenantDispatcher
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (load_default_resource_types, load_default_schemas,
                                load_default_service_provider_config)

SCIM_JSON = "application/scim+json"


def build_service() -> ScimService:
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(load_default_schemas().values(), load_default_resource_types().values(),
                                           config=config)
    return ScimService(provider, secret=secrets.token_urlsafe(32))


def seed(service: ScimService, storage: InMemoryStorage, bodies: Path) -> list[str]:
    """Every creation body of ``bodies`` created in ``storage``; the new ids, in order."""
    users = service.get_resource_type("User")
    ids = []
    with service.provider, open(bodies, "rb") as lines:
        for line in lines:
            resource = service.read_creation(users, line, SCIM_JSON)
            with storage.operation():
                ids.append(storage.create(users, resource).id)
    return ids


def server_settings(ini: Path, port: int) -> dict[str, str]:
    """The ini's ``[server:main]`` as waitress's keyword arguments, listening on 127.0.0.1:``port``."""
    parser = configparser.RawConfigParser()
    parser.read(ini)
    settings = {key: value for key, value in parser.items("server:main") if key != "use"}
    settings["listen"] = f"127.0.0.1:{port}"
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ini", type=Path, required=True, help="the ini whose [server:main] waitress takes")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True, help="the one bearer token accepted")
    parser.add_argument("--ids", type=Path, required=True, help="write the seeded ids here, as JSON")
    parser.add_argument("--tenant", action="append", required=True, metavar="NAME=FILE",
                        help="a tenant and its creation bodies, one JSON object a line (repeatable)")
    args = parser.parse_args()
    began = time.monotonic()
    service = build_service()
    applications, ids = {}, {}
    for spec in args.tenant:
        name, _, bodies = spec.partition("=")
        storage = InMemoryStorage()
        ids[name] = seed(service, storage, Path(bodies))
        applications[name] = BearerTokenApplication(storage, service.provider, service=service,
                                                    bearer_tokens=[args.token])
    args.ids.write_text(json.dumps(ids))
    print(f"seeded {sum(len(v) for v in ids.values())} members in {time.monotonic() - began:.1f} s", flush=True)

    from waitress import serve

    serve(TenantDispatcher(applications.get), **server_settings(args.ini, args.port))


if __name__ == "__main__":
    main()
