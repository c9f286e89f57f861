"""The ``wiggledesk-scim`` command: ``migrate`` the database schema, ``onboard`` an organisation, and
manage API ``tokens`` (list, issue, revoke).

Reads the same ini as the web app and reuses its wiring (``pyramid.paster.bootstrap`` and the request's
transaction manager), so a command changes the database exactly as a request would. Failures print one
line on stderr and exit non-zero; ``onboard`` prints the token alone on the last line of stdout, so a
script can take it with ``tail -n 1``.
"""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from datetime import timedelta
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
        elif args.command == "onboard":
            _onboard(args.config_uri, args.organisation_name, args.admin_email, args.base_url)
        else:
            _TOKEN_COMMANDS[args.tokens_command](args)
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
    tokens = commands.add_parser("tokens", help="list, issue and revoke API tokens",
                                 description="An admin may hold several named tokens, so one can be "
                                             "replaced without downtime. A secret is shown once, when issued.")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    listing = token_commands.add_parser("list", help="the organisation's tokens, one per line (never a secret)")
    listing.add_argument("organisation", metavar="ORG", help="the organisation's name or id")
    listing.add_argument("--json", action="store_true", help="one JSON record per line")
    issue = token_commands.add_parser("issue", help="a new token for an admin; the secret alone on the last line")
    issue.add_argument("organisation", metavar="ORG", help="the organisation's name or id")
    issue.add_argument("admin_email", metavar="ADMIN_EMAIL", help="the admin's userName (their e-mail address)")
    issue.add_argument("--name", default="API token", help='what to call it, e.g. "Entra production"')
    issue.add_argument("--expires-in", type=_days, metavar="DAYS", help="expire after this many days (default: never)")
    revoke = token_commands.add_parser("revoke", help="revoke a token: refused from the next request on")
    revoke.add_argument("token_id", metavar="TOKEN_ID", help="the id `tokens list` shows")
    return parser


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if not 1 <= days <= 3650:
        raise argparse.ArgumentTypeError("DAYS must be 1 to 3650")
    return days


@contextmanager
def _transaction(config_uri: str):
    """The app's container and a unit of work in one transaction, wired as a request is; commits if the
    block ends normally. Needs a database at the head revision."""
    with bootstrap(config_uri) as env:
        request = env["request"]
        container = container_of(request)
        try:
            _require_schema(container, config_uri)
            with request.tm:
                yield container, request.uow
        finally:
            if container.engine is not None:
                container.engine.dispose()  # the command is done with the database


def _organisation(uow, reference: str):
    """The organisation named or identified by ``reference``."""
    organisations = uow.organisations.list()
    found = [o for o in organisations if o.id == reference] or [o for o in organisations if o.name == reference]
    if not found:
        found = [o for o in organisations if o.name.casefold() == reference.casefold()]
    if len(found) > 1:
        raise CommandFailed(f'{len(found)} organisations are called "{reference}"; give the id instead')
    if not found:
        raise CommandFailed(f'no organisation is called "{reference}" or has that id (see `org list`)')
    return found[0]


def _moment(value) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tokens_list(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        with uow:
            organisation = _organisation(uow, args.organisation)
            tokens = uow.tokens.list_for_organisation(organisation.id)
            owners = {token.admin_id: uow.members.get(organisation.id, token.admin_id).user_name for token in tokens}
        now = container.clock.now()
    for token in tokens:
        record = {"id": token.id, "name": token.name, "admin": owners[token.admin_id],
                  "state": token.state(now), "created": _moment(token.created),
                  "last_used": _moment(token.last_used), "expires": _moment(token.expires),
                  "revoked": _moment(token.revoked)}
        if args.json:
            print(json.dumps(record))
        else:
            print("  ".join([record["id"], record["state"], f'"{token.name}"', record["admin"],
                             f"created {record['created']}", f"last used {record['last_used'] or 'never'}",
                             f"expires {record['expires'] or 'never'}"]
                            + ([f"revoked {record['revoked']}"] if token.revoked else [])))
    if not tokens and not args.json:
        print(f'{organisation.name} has no API tokens.', file=sys.stderr)


def _tokens_issue(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        with uow:
            organisation = _organisation(uow, args.organisation)
            admin = uow.members.find(organisation.id, user_name=args.admin_email)
        if admin is None:
            raise CommandFailed(f"{organisation.name} has no member {args.admin_email}")
        if not (admin.is_admin and admin.active and admin.api_access and organisation.api_access):
            raise CommandFailed(f"{args.admin_email} could not use a token: " + _why_not(organisation, admin))
        authority = container.authority(uow)
        valid_for = None if args.expires_in is None else timedelta(days=args.expires_in)
        token, secret = authority.issue_token(organisation.id, admin.id, name=args.name, valid_for=valid_for)
    print(f'Issued token {token.id} "{token.name}" for {admin.user_name} of {organisation.name}, '
          f"expires {_moment(token.expires) or 'never'}.")
    print("The secret is on the line below; it is shown only this once.")
    print(secret)


def _why_not(organisation, admin) -> str:
    reasons = []
    if not organisation.api_access:
        reasons.append("API access is off for the organisation (org api-access ORG on)")
    if not admin.is_admin:
        reasons.append("they are not an admin (member admin ORG EMAIL on)")
    if not admin.api_access:
        reasons.append("API access is off for them (member api-access ORG EMAIL on)")
    if not admin.active:
        reasons.append("they are deactivated")
    return "; ".join(reasons)


def _tokens_revoke(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        token = container.authority(uow).revoke(args.token_id)
    print(f'Revoked token {token.id} "{token.name}" at {_moment(token.revoked)}; it is refused from the '
          "next request on.")


_TOKEN_COMMANDS = {"list": _tokens_list, "issue": _tokens_issue, "revoke": _tokens_revoke}


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
    with _transaction(config_uri) as (container, uow):
        onboarding = container.onboard(uow, organisation_name, admin_email)
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
