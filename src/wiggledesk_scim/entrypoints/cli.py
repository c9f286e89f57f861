"""The ``wiggledesk-scim`` command: ``migrate`` the database schema, ``onboard`` an organisation.

Reads the same ini as the web app and reuses its wiring (``pyramid.paster.bootstrap`` and the request's
transaction manager), so a command changes the database exactly as a request would. Failures print one
line on stderr and exit non-zero; ``onboard`` prints the token alone on the last line of stdout, so a
script can take it with ``tail -n 1``.
"""
from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from pyramid.paster import bootstrap, get_appsettings, setup_logging

from ..domain.errors import DomainError
from .pyramid_app import SCIM_ROOT, container_of
from .wiring import AppSettings, SettingsError

EXIT_FAILURE = 1


class CommandFailed(Exception):
    """A reason to stop, worded for the person at the terminal."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        setup_logging(args.config_uri)
        if args.command == "migrate":
            _migrate(args.config_uri)
        else:
            _onboard(args.config_uri, args.organisation_name, args.admin_email, args.base_url)
    except (CommandFailed, SettingsError, DomainError) as exc:
        return _fail(str(exc))
    except FileNotFoundError as exc:
        return _fail(f"cannot read {exc.filename or args.config_uri}: {exc.strerror or exc}")
    except Exception as exc:  # anything else still deserves one readable line, not a traceback
        return _fail(f"{type(exc).__name__}: {_first_line(exc)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wiggledesk-scim",
        description="Administer a wiggledesk-scim installation configured by CONFIG_URI "
                    "(an ini file such as development.ini).")
    parser.add_argument("config_uri", metavar="CONFIG_URI", help="the ini file, e.g. production.ini")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision",
                        description="Upgrade the database schema to the latest revision. "
                                    "Run it before serving a new release; it is safe to repeat.")
    onboard = commands.add_parser(
        "onboard", help="create an organisation, its admin and an API token for Entra",
        description="Create an organisation with API access, its first admin with API access, and "
                    "a token for that admin. Prints the Tenant URLs to enter in Entra, and the "
                    "Secret Token alone on the last line.")
    onboard.add_argument("organisation_name", metavar="ORGANISATION_NAME")
    onboard.add_argument("admin_email", metavar="ADMIN_EMAIL")
    onboard.add_argument("--base-url", metavar="URL",
                         help="the address Entra reaches this service at (default: the ini's "
                              "wiggledesk.public_url, else http://127.0.0.1:6543)")
    return parser


def _migrate(config_uri: str) -> None:
    settings = AppSettings.from_settings(get_appsettings(config_uri))
    if settings.storage != "sqlalchemy":
        raise CommandFailed(f"{config_uri} keeps everything in memory (wiggledesk.storage = memory); "
                            "there is no database schema to migrate")
    from ..adapters.sqlalchemy import engine_from_settings, migrate

    engine = engine_from_settings(dict(settings.engine_settings), prefix="sqlalchemy.")
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"The database schema was already at the latest revision, {after}.")
    else:
        print(f"The database schema is now at revision {after} (the latest; it was at {before or 'none'}).")


def _onboard(config_uri: str, organisation_name: str, admin_email: str, base_url: str | None) -> None:
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CommandFailed(f"--base-url {base_url!r} must be an address such as "
                                "https://scim.wiggledesk.example")
    with bootstrap(config_uri) as env:
        request = env["request"]
        container = container_of(request)
        _require_schema(container, config_uri)
        with request.tm:
            onboarding = container.onboard(request.uow, organisation_name, admin_email)
        root = (base_url or container.settings.public_url).rstrip("/")
    organisation = onboarding.organisation
    print(f'Created organisation "{organisation.name}" (id {organisation.id}) with API access, and its '
          f"admin {onboarding.admin.user_name} (id {onboarding.admin.id}).")
    print("In Entra, open the enterprise application > Provisioning > Admin Credentials and enter:")
    print(f"  Tenant URL:    {root}{SCIM_ROOT}")
    print(f"                 (or {root}{SCIM_ROOT}/Users, the form our first announcement gave; both work)")
    print("  Secret Token:  the line below (it is shown only this once; store it in Entra now)")
    print(onboarding.token)


def _require_schema(container, config_uri: str) -> None:
    """Onboarding without a database, or into one whose schema is missing or old, would fail obscurely."""
    if container.engine is None:
        raise CommandFailed(f"{config_uri} keeps everything in memory (wiggledesk.storage = memory), so the "
                            "organisation would vanish when this command ends; onboard needs a database")
    from ..adapters.sqlalchemy import migrate

    if not migrate.is_at_head(container.engine):
        raise CommandFailed(f"the database schema is not at the latest revision; run "
                            f"`wiggledesk-scim {config_uri} migrate` first")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no details"


def _fail(reason: str) -> int:
    print(f"wiggledesk-scim: {reason}", file=sys.stderr)
    return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
