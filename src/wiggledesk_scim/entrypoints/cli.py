"""The ``wiggledesk-scim`` command: ``migrate`` the database schema, ``onboard`` an organisation, manage
API ``tokens`` (list, issue, revoke) and OAuth ``clients`` (create, list, secrets, revoke, trust),
organisations' and members' settings (``org``, ``member``), add a member (``member add``, an admin for an
organisation whose only admin left), and read or prune the provisioning ``activity`` trail;
``ops-password`` hashes the ops console's password.

Reads the same ini as the web app and reuses its wiring (``pyramid.paster.bootstrap`` and the request's
transaction manager), so a command changes the database exactly as a request would. Failures print one
line on stderr and exit non-zero; ``onboard`` prints the token alone on the last line of stdout, so a
script can take it with ``tail -n 1``.
"""
from __future__ import annotations

import argparse
import getpass
import json
import sys
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from pyramid.paster import bootstrap, get_appsettings, setup_logging

from ..domain.access import LAST_USED_PRECISION, token_shortfalls
from ..domain.activity import EVENTS, REFUSED, lock_out, membership_change
from ..domain.credentials import PasswordHash
from ..domain.errors import DomainError, NotFound, OrganisationNameTaken, UniquenessConflict
from ..domain.oauth import DEFAULT_SECRET_DAYS, MAX_SECRET_DAYS
from ..domain.scim.representation import USER_DOCUMENTS
from .pyramid_app import SCIM_ROOT, container_of
from .wiring import OPS_PASSWORD_HASH_KEY, OPS_USERNAME_KEY, AppSettings, SettingsError

#: How many members ``refresh-documents`` looks at in one transaction.
REFRESH_BATCH = 500

EXIT_FAILURE = 1
#: The most events one ``activity`` command prints.
MAX_ACTIVITY_LIMIT = 100_000


class CommandFailed(Exception):
    """A reason to stop, worded for the person at the terminal."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        setup_logging(args.config_uri)
        if args.command == "migrate":
            _migrate(args.config_uri)
        elif args.command == "onboard":
            _onboard(args.config_uri, args.organisation_name, args.admin_email, args.base_url,
                     args.allow_duplicate_name)
        elif args.command == "tokens":
            _TOKEN_COMMANDS[args.tokens_command](args)
        elif args.command == "clients":
            if args.clients_command == "secret":
                _SECRET_COMMANDS[args.secret_command](args)
            else:
                _CLIENT_COMMANDS[args.clients_command](args)
        elif args.command == "org":
            _ORG_COMMANDS[args.org_command](args)
        elif args.command == "member":
            _MEMBER_COMMANDS[args.member_command](args)
        elif args.command == "activity":
            _activity(args)
        elif args.command == "prune-activity":
            _prune_activity(args)
        elif args.command == "refresh-documents":
            _refresh_documents(args)
        elif args.command == "ops-password":
            _ops_password()
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
                    "Secret Token alone on the last line. A name an organisation has already (ignoring "
                    "case) is refused: to give an existing organisation a new admin, use `member add`.")
    onboard.add_argument("organisation_name", metavar="ORGANISATION_NAME")
    onboard.add_argument("admin_email", metavar="ADMIN_EMAIL")
    onboard.add_argument("--base-url", metavar="URL",
                         help="the address Entra reaches this service at (default: the ini's "
                              "wiggledesk.public_url, else http://127.0.0.1:6543)")
    onboard.add_argument("--allow-duplicate-name", action="store_true",
                         help="create the organisation even if one is called that already (the name then "
                              "no longer names one organisation: give the id to other commands)")
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

    _add_clients_parser(commands)

    org = commands.add_parser("org", help="list organisations, show one, switch its API access",
                              description="Organisations and their API access. Switching it off refuses "
                                          "every token of the organisation from the next request on.")
    org_commands = org.add_subparsers(dest="org_command", required=True, metavar="ACTION")
    org_list = org_commands.add_parser("list", help="every organisation, one per line")
    org_list.add_argument("--json", action="store_true", help="one JSON record per line")
    org_show = org_commands.add_parser("show", help="members, teams, API access, tokens and recent activity")
    org_show.add_argument("organisation", metavar="ORG", help="the organisation's name or id")
    org_show.add_argument("--json", action="store_true", help="one JSON record")
    api_access = org_commands.add_parser("api-access", help="switch the organisation's API access on or off")
    api_access.add_argument("organisation", metavar="ORG", help="the organisation's name or id")
    api_access.add_argument("state", choices=("on", "off"))

    member = commands.add_parser("member", help="add a member, switch a member's API access or admin role",
                                 description="A token works only while its admin is an admin with API "
                                             "access; switching either off refuses their tokens from the "
                                             "next request on.")
    member_commands = member.add_subparsers(dest="member_command", required=True, metavar="ACTION")
    member_add = member_commands.add_parser(
        "add", help="add a member (userName and work e-mail EMAIL), e.g. a new admin",
        description="Add a member to an existing organisation, as onboard adds its first admin: userName "
                    "and work e-mail EMAIL, active. With --admin they are an admin with API access, so an "
                    "organisation whose only admin left gets one back; then issue them a token with "
                    "`tokens issue`. A member the identity provider created already is made an admin with "
                    "`member admin` and `member api-access` instead.")
    member_add.add_argument("organisation", metavar="ORG", help="the organisation's name or id")
    member_add.add_argument("email", metavar="EMAIL", help="the new member's e-mail address")
    member_add.add_argument("--admin", action="store_true", help="make them an admin with API access")
    for setting, help_text in (("api-access", "switch the member's API access on or off"),
                               ("admin", "make the member an admin, or not")):
        command = member_commands.add_parser(setting, help=help_text)
        command.add_argument("organisation", metavar="ORG", help="the organisation's name or id")
        command.add_argument("email", metavar="EMAIL", help="the member's userName or e-mail address")
        command.add_argument("state", choices=("on", "off"))

    activity = commands.add_parser(
        "activity", help="the organisation's provisioning activity trail, newest first",
        description="What each SCIM request changed (create, replace, update, deprovision, restore, "
                    "delete, with the names of the attributes; a team's events with the team's id and how "
                    "many members joined and left it, never who) or why it was refused (status, scimType). "
                    "One event per line, newest first.")
    activity.add_argument("organisation", metavar="ORG", help="the organisation's name or id")
    activity.add_argument("--since", type=_moment_argument, metavar="ISO",
                          help="only events at or after this time, e.g. 2026-11-24 or 2026-11-24T09:30Z (UTC "
                               "unless an offset is given)")
    activity.add_argument("--member", metavar="ID", help="only this member's events (the SCIM id)")
    activity.add_argument("--event", choices=EVENTS, help="only events of this kind")
    activity.add_argument("--limit", type=_limit, default=100, metavar="N", help="at most N events (default 100)")
    activity.add_argument("--json", action="store_true", help="one JSON record per line")

    prune = commands.add_parser(
        "prune-activity", help="delete activity records older than the retention",
        description="Delete the activity trail's records older than wiggledesk.activity.retention_days "
                    "(or --older-than), for every organisation. Run it daily, e.g. from cron.")
    prune.add_argument("--older-than", type=_days, metavar="DAYS",
                       help="the retention in days, instead of the ini's")

    commands.add_parser(
        "refresh-documents", help="render again the members' stored User documents that are not current",
        description="Render again, and keep, every member's SCIM User document that this release did not "
                    "render at the member's current version (rows from before it, or from a release that "
                    f"renders differently), in batches of {REFRESH_BATCH}, each its own transaction. Until "
                    "then such members are answered from their columns, more slowly. Safe to repeat and to "
                    "run while the service serves.")
    commands.add_parser(
        "ops-password", help="hash a password for the ops console (read from stdin)",
        description="Read a password (typed without echo at a terminal, else the first line of stdin) and "
                    "print the ops.password_hash line to paste into the ini beside ops.username. Needs no "
                    "database.")
    return parser


def _add_clients_parser(commands) -> None:
    clients = commands.add_parser(
        "clients", help="OAuth clients: create, list, add and revoke secrets, revoke, trust",
        description="An organisation's OAuth 2.0 clients, for Entra's client credentials grant or workload "
                    "identity federation. A client belongs to the organisation, not to a person. A secret is "
                    "shown once, when created; several may be active at once, so a secret is rotated without "
                    "downtime: add one, enter it in Entra, revoke the old one.")
    actions = clients.add_subparsers(dest="clients_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="a new client with a first secret; the secret alone on the last line")
    create.add_argument("organisation", metavar="ORG", help="the organisation's name or id")
    create.add_argument("--name", required=True, help='what to call it, e.g. "Entra provisioning"')
    create.add_argument("--secret-expires-in", type=_days, metavar="DAYS", default=DEFAULT_SECRET_DAYS,
                        help=f"the first secret expires after this many days (default {DEFAULT_SECRET_DAYS}, "
                             f"at most {MAX_SECRET_DAYS})")
    create.add_argument("--json", action="store_true", help="one JSON object")
    listing = actions.add_parser("list", help="the organisation's clients and their secrets (never a secret)")
    listing.add_argument("organisation", metavar="ORG", help="the organisation's name or id")
    listing.add_argument("--json", action="store_true", help="one JSON object")
    secret = actions.add_parser("secret", help="add or revoke a client's secrets")
    secret_actions = secret.add_subparsers(dest="secret_command", required=True, metavar="ACTION")
    add = secret_actions.add_parser("add", help="another secret for the client; the secret alone on the last line")
    add.add_argument("client_id", metavar="CLIENT_ID", help="the id `clients list` shows")
    add.add_argument("--expires-in", type=_days, metavar="DAYS", default=DEFAULT_SECRET_DAYS,
                     help=f"expire after this many days (default {DEFAULT_SECRET_DAYS}, at most {MAX_SECRET_DAYS})")
    add.add_argument("--json", action="store_true", help="one JSON object")
    revoke_secret = secret_actions.add_parser("revoke", help="revoke a secret and the access tokens issued under it")
    revoke_secret.add_argument("secret_id", metavar="SECRET_ID", help="the id `clients list` shows")
    revoke = actions.add_parser("revoke", help="revoke a client: its secrets, trust and access tokens stop working")
    revoke.add_argument("client_id", metavar="CLIENT_ID", help="the id `clients list` shows")
    trust = actions.add_parser("trust", help="accept Entra-signed assertions (workload identity federation)",
                               description="Make the client accept assertions that Microsoft Entra signed for the "
                                           "customer's app: its tenant, audience and subject. The issuer and "
                                           "JWKS URI default to Entra's for the tenant. Replaces any trust the "
                                           "client had.")
    trust.add_argument("client_id", metavar="CLIENT_ID", help="the id `clients list` shows")
    trust.add_argument("--tenant", required=True, help="the customer's tenant id (a GUID)")
    trust.add_argument("--audience", required=True, help="the assertion's aud, e.g. api://AzureADTokenExchange")
    trust.add_argument("--subject", required=True, help="the assertion's sub (the app's id in the tenant)")
    trust.add_argument("--issuer", metavar="URL", help="the assertion's iss (default: Entra's for the tenant)")
    trust.add_argument("--jwks-uri", metavar="URL", help="where the signing keys are (default: Entra's for the tenant)")


def _moment_argument(text: str) -> datetime:
    """An ISO 8601 date or time; UTC unless it says otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time, e.g. 2026-11-24T09:30Z") \
            from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= limit <= MAX_ACTIVITY_LIMIT:
        raise argparse.ArgumentTypeError(f"N must be 1 to {MAX_ACTIVITY_LIMIT}")
    return limit


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
    with _bootstrapped(config_uri) as request:
        with request.tm:
            yield container_of(request), request.uow


@contextmanager
def _bootstrapped(config_uri: str):
    """A script's request of the app (its ``tm`` and ``uow``, wired as a request's), over a database at
    the head revision; the engine disposed of afterwards."""
    with bootstrap(config_uri) as env:
        request = env["request"]
        container = container_of(request)
        try:
            _require_schema(container, config_uri)
            yield request
        finally:
            if container.engine is not None:
                container.engine.dispose()  # the command is done with the database


def _organisation(container, uow, reference: str):
    """The organisation named or identified by ``reference``."""
    try:
        return container.operations(uow).organisation(reference)
    except NotFound:
        raise CommandFailed(f'no organisation is called "{reference}" or has that id (see `org list`)') from None


def _moment(value) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


#: The label of a token's last use: written at most once per LAST_USED_RESOLUTION, so it says how exact it is.
_LAST_USED = f"last used ({LAST_USED_PRECISION})"


def _tokens_list(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        with uow:
            organisation = _organisation(container, uow, args.organisation)
            tokens = uow.tokens.list_for_organisation(organisation.id)
        owners = container.operations(uow).token_owners(organisation.id, tokens)
        now = container.clock.now()
    for token in tokens:
        owner = owners.get(token.admin_id)
        record = {"id": token.id, "name": token.name,
                  "admin": owner.user_name if owner is not None else f"{token.admin_id} (deleted)",
                  "state": token.state(now), "created": _moment(token.created),
                  "last_used": _moment(token.last_used), "expires": _moment(token.expires),
                  "revoked": _moment(token.revoked)}
        if args.json:
            print(json.dumps(record))
        else:
            print("  ".join([record["id"], record["state"], f'"{token.name}"', record["admin"],
                             f"created {record['created']}", f"{_LAST_USED} {record['last_used'] or 'never'}",
                             f"expires {record['expires'] or 'never'}"]
                            + ([f"revoked {record['revoked']}"] if token.revoked else [])))
    if not tokens and not args.json:
        print(f'{organisation.name} has no API tokens.', file=sys.stderr)


def _tokens_issue(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        with uow:
            organisation = _organisation(container, uow, args.organisation)
            admin = uow.members.find(organisation.id, user_name=args.admin_email)
        if admin is None:
            raise CommandFailed(f"{organisation.name} has no member {args.admin_email}")
        authority = container.authority(uow)
        valid_for = None if args.expires_in is None else timedelta(days=args.expires_in)
        token, secret = authority.issue_token(organisation.id, admin.id, name=args.name, valid_for=valid_for)
    expiry = "never expires" if token.expires is None else f"expires {_moment(token.expires)}"
    print(f'Issued token {token.id} "{token.name}" to {admin.user_name} of {organisation.name}; it {expiry}.')
    print("The secret is on the line below; it is shown only this once.")
    print(secret)


def _tokens_revoke(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        token = container.authority(uow).revoke(args.token_id)
    print(f'Revoked token {token.id} "{token.name}" at {_moment(token.revoked)}; it is refused from the '
          "next request on.")


_TOKEN_COMMANDS = {"list": _tokens_list, "issue": _tokens_issue, "revoke": _tokens_revoke}


# -- OAuth clients ---------------------------------------------------------------------------------

def _print_secret(record: dict, as_json: bool, sentence: str) -> None:
    """A new secret: one JSON object, or the sentence and then the secret alone on the last line."""
    if as_json:
        print(json.dumps(record))
        return
    print(sentence)
    print("The secret is on the line below; it is shown only this once.")
    print(record["client_secret"])


def _clients_create(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        with uow:
            organisation = _organisation(container, uow, args.organisation)
        created = container.clients(uow).create_client(organisation.id, args.name,
                                                       secret_days=args.secret_expires_in)
    client, secret = created.client, created.secret
    expires = _moment(secret.secret.expires)
    _print_secret({"client_id": client.id, "client_secret": secret.plaintext, "secret_id": secret.secret.id,
                   "expires": expires}, args.json,
                  f'Created client {client.id} "{client.name}" for {organisation.name}, with secret '
                  f"{secret.secret.id}, which expires {expires}.")


def _clients_list(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        with uow:
            organisation = _organisation(container, uow, args.organisation)
        overviews = container.clients(uow).list_clients(organisation.id)
        now = container.clock.now()
    records = [{
        "id": overview.client.id, "name": overview.client.name, "state": overview.client.state(),
        "created": _moment(overview.client.created), "last_used": _moment(overview.client.last_used),
        "revoked": _moment(overview.client.revoked),
        "secrets": [{"id": secret.id, "state": secret.state(now), "created": _moment(secret.created),
                     "expires": _moment(secret.expires), "last_used": _moment(secret.last_used),
                     "revoked": _moment(secret.revoked), "warning": secret.expiry_warning(now)}
                    for secret in overview.secrets],
        "trust": None if overview.trust is None else {
            "tenant": overview.trust.tenant, "issuer": overview.trust.issuer, "audience": overview.trust.audience,
            "subject": overview.trust.subject, "jwks_uri": overview.trust.jwks_uri},
    } for overview in overviews]
    if args.json:
        print(json.dumps({"organisation_id": organisation.id, "organisation": organisation.name,
                          "clients": records}))
        return
    for record in records:
        print("  ".join([record["id"], record["state"], f'"{record["name"]}"', f"created {record['created']}",
                         f"last used {record['last_used'] or 'never'}"]
                        + ([f"revoked {record['revoked']}"] if record["revoked"] else [])))
        for secret in record["secrets"]:
            print("  ".join([f"    secret {secret['id']}", secret["state"], f"expires {secret['expires']}",
                             f"last used {secret['last_used'] or 'never'}"]
                            + ([f"warning: {secret['warning']}"] if secret["warning"] else [])))
        trust = record["trust"]
        if trust is not None:
            print(f"    trusts tenant {trust['tenant']}, audience {trust['audience']}, subject {trust['subject']}")
    if not records:
        print(f"{organisation.name} has no OAuth clients.", file=sys.stderr)


def _clients_secret_add(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        issued = container.clients(uow).add_secret(args.client_id, days=args.expires_in)
    secret = issued.secret
    expires = _moment(secret.expires)
    _print_secret({"secret_id": secret.id, "client_secret": issued.plaintext, "expires": expires}, args.json,
                  f"Added secret {secret.id} to client {secret.client_id}, which expires {expires}; the "
                  "client's other secrets keep working until revoked.")


def _clients_secret_revoke(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        secret = container.clients(uow).revoke_secret(args.secret_id)
    print(f"Revoked secret {secret.id} of client {secret.client_id} at {_moment(secret.revoked)}; it and the "
          "access tokens issued under it are refused from the next request on.")


def _clients_revoke(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        client = container.clients(uow).revoke_client(args.client_id)
    print(f'Revoked client {client.id} "{client.name}" at {_moment(client.revoked)}; its secrets, trust and '
          "access tokens are refused from the next request on.")


def _clients_trust(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        trust = container.clients(uow).set_trust(args.client_id, tenant=args.tenant, audience=args.audience,
                                                 subject=args.subject, issuer=args.issuer, jwks_uri=args.jwks_uri)
    print(f"Client {trust.client_id} now accepts assertions of tenant {trust.tenant} with audience "
          f"{trust.audience} and subject {trust.subject}, issued by {trust.issuer} and signed by a key of "
          f"{trust.jwks_uri}.")


_CLIENT_COMMANDS = {"create": _clients_create, "list": _clients_list, "revoke": _clients_revoke,
                    "trust": _clients_trust}
_SECRET_COMMANDS = {"add": _clients_secret_add, "revoke": _clients_secret_revoke}


# -- organisations and members -------------------------------------------------------------------

def _on_off(value: bool) -> str:
    return "on" if value else "off"


def _overview_record(overview, now) -> dict:
    organisation = overview.organisation
    return {"id": organisation.id, "name": organisation.name, "api_access": organisation.api_access,
            "members": overview.members, "active_members": overview.active_members,
            "inactive_members": overview.inactive_members, "teams": overview.teams,
            "tokens": [{"id": t.id, "name": t.name, "state": t.state(now), "last_used": _moment(t.last_used)}
                       for t in overview.tokens],
            "last_request": _moment(overview.last_request),
            "last_24h": dict(overview.last_day), "last_7d": dict(overview.last_week)}


def _counts(counts) -> str:
    return ", ".join(f"{event} {counts[event]}" for event in EVENTS if counts.get(event)) or "none"


def _org_list(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        overviews = container.operations(uow).overviews()
        now = container.clock.now()
    for overview in overviews:
        record = _overview_record(overview, now)
        if args.json:
            print(json.dumps(record))
        else:
            print("  ".join([record["id"], f'"{record["name"]}"', f"api-access {_on_off(record['api_access'])}",
                             f"members {record['members']} ({record['active_members']} active)",
                             f"teams {record['teams']}", f"tokens {len(record['tokens'])}",
                             f"last request {record['last_request'] or 'never'}"]))
    if not overviews and not args.json:
        print("There are no organisations yet (see `onboard`).", file=sys.stderr)


def _org_show(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        operations = container.operations(uow)
        overview = operations.overview(_organisation(container, uow, args.organisation).id)
        now = container.clock.now()
    record = _overview_record(overview, now)
    if args.json:
        print(json.dumps(record))
        return
    print(f'{record["name"]} (id {record["id"]})')
    print(f"  API access:    {_on_off(record['api_access'])}")
    print(f"  Members:       {record['members']} ({record['active_members']} active, "
          f"{record['inactive_members']} inactive)")
    print(f"  Teams:         {record['teams']}")
    print(f"  Last request:  {record['last_request'] or 'never'}")
    print(f"  Last 24 hours: {_counts(overview.last_day)}")
    print(f"  Last 7 days:   {_counts(overview.last_week)}")
    print(f"  Tokens:        {len(overview.tokens) or 'none'}")
    for token in record["tokens"]:
        print(f'    {token["id"]}  {token["state"]}  "{token["name"]}"  {_LAST_USED} {token["last_used"] or "never"}')


def _org_api_access(args) -> None:
    on = args.state == "on"
    with _transaction(args.config_uri) as (container, uow):
        organisation = container.operations(uow).set_api_access(
            _organisation(container, uow, args.organisation).id, on)
    effect = ("its admins' tokens work again from the next request" if on else
              "every one of its tokens is refused (403) from the next request on")
    print(f"API access is {_on_off(on)} for {organisation.name}; {effect}.")


_ORG_COMMANDS = {"list": _org_list, "show": _org_show, "api-access": _org_api_access}


def _member_add(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        with uow:
            organisation = _organisation(container, uow, args.organisation)
        try:
            member = container.add_member(uow, organisation.id, args.email, admin=args.admin)
        except UniquenessConflict as taken:
            raise CommandFailed(f"{taken.detail}; to make them an admin, switch `member admin` and "
                                "`member api-access` on for them") from None
    if not member.is_admin:
        print(f"Added {member.user_name} to {organisation.name} (member {member.id}); they are not an admin.")
        return
    print(f"Added {member.user_name} to {organisation.name} (member {member.id}) as an admin with API access.")
    print(f"Next, issue them a token: wiggledesk-scim {args.config_uri} tokens issue {organisation.id} "
          f"{member.user_name}")


def _member_setting(args) -> None:
    on = args.state == "on"
    with _transaction(args.config_uri) as (container, uow):
        operations = container.operations(uow)
        organisation = _organisation(container, uow, args.organisation)
        if args.member_command == "admin":
            member = operations.set_member_admin(organisation.id, args.email, on)
        else:
            member = operations.set_member_api_access(organisation.id, args.email, on)
    who = f"{member.user_name} of {organisation.name}"
    if args.member_command == "admin":
        change = f"{who} is {'now' if on else 'no longer'} an admin (member {member.id})"
    else:
        change = f"API access is {_on_off(on)} for {who} (member {member.id})"
    shortfalls = "; ".join(token_shortfalls(organisation, member))
    if not shortfalls:
        effect = "their tokens work from the next request"
    elif on:
        effect = f"their tokens are still refused: {shortfalls}"
    else:
        effect = f"their tokens are refused from the next request on: {shortfalls}"
    print(f"{change}; {effect}.")


_MEMBER_COMMANDS = {"add": _member_add, "api-access": _member_setting, "admin": _member_setting}


# -- the activity trail ----------------------------------------------------------------------------

def _activity(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        organisation = _organisation(container, uow, args.organisation)
        records = container.operations(uow).activity(organisation.id, since=args.since, member_id=args.member,
                                                     event=args.event, limit=args.limit)
    for record in records:
        line = {"time": record.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "event": record.event, "member_id": record.member_id, "attributes": list(record.attributes),
                "status": record.status, "scim_type": record.scim_type, "request_id": record.request_id,
                "token_id": record.token_id, "team_id": record.team_id, "added": record.added,
                "removed": record.removed, "token_owner": record.token_owner}
        if args.json:
            print(json.dumps(line))
            continue
        # "team" before a team's id: a refusal may be about a member or a team, and --member takes only
        # the one.
        subject = record.member_id or (f"team {record.team_id}" if record.team_id else "-")
        parts = [line["time"], record.event, subject]
        if record.event == REFUSED:
            parts.append(f"status {record.status}" + (f" {record.scim_type}" if record.scim_type else ""))
        elif record.attributes:
            parts.append(",".join(record.attributes))
        members = membership_change(record)
        if members is not None:
            parts.append(members)
        parts.append(f"request {record.request_id or '-'}")
        locked_out = lock_out(record)
        if locked_out is not None:
            parts.append(locked_out)
        print("  ".join(parts))
    if not records and not args.json:
        print(f"{organisation.name} has no activity matching that.", file=sys.stderr)


def _prune_activity(args) -> None:
    with _transaction(args.config_uri) as (container, uow):
        days = args.older_than or container.settings.activity_retention_days
        pruned = container.operations(uow).prune_activity(timedelta(days=days))
    print(f"Deleted {pruned} activity {'record' if pruned == 1 else 'records'} older than {days} days.")


def _refresh_documents(args) -> None:
    with _bootstrapped(args.config_uri) as request:
        operations = container_of(request).operations(request.uow)
        refreshed = looked_at = 0
        after = None
        while True:
            with request.tm:  # one transaction per batch: writers wait for one batch at most
                count, seen, after = operations.refresh_renditions(USER_DOCUMENTS, after, REFRESH_BATCH)
            refreshed, looked_at = refreshed + count, looked_at + seen
            if after is None:
                break
    print(f"Rendered {refreshed} of {looked_at} {'member' if looked_at == 1 else 'members'}' documents again; "
          f"the others were current.")


def _ops_password() -> None:
    if sys.stdin.isatty():
        password = getpass.getpass("Ops console password: ")
        if password and getpass.getpass("The same again: ") != password:
            raise CommandFailed("the two passwords differ; nothing was printed")
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise CommandFailed("the password is empty; give one on stdin")
    print(f"{OPS_PASSWORD_HASH_KEY} = {PasswordHash.of(password)}")
    print(f"Paste that line into the ini's [app:main] section beside {OPS_USERNAME_KEY} = <a username>, "
          "then restart the service.", file=sys.stderr)


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
        was = "it had none before" if before is None else f"it was at {before}"
        print(f"The database schema is now at revision {after}, the latest ({was}).")


def _onboard(config_uri: str, organisation_name: str, admin_email: str, base_url: str | None,
             allow_duplicate_name: bool) -> None:
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CommandFailed(f"--base-url {base_url!r} must be an address such as "
                                "https://scim.wiggledesk.example")
    with _transaction(config_uri) as (container, uow):
        try:
            onboarding = container.onboard(uow, organisation_name, admin_email,
                                           allow_duplicate_name=allow_duplicate_name)
        except OrganisationNameTaken as taken:
            raise CommandFailed(f"{taken.detail}; to give it another admin, use `member add "
                                f"{taken.holders[0]} EMAIL --admin`, or give --allow-duplicate-name to "
                                "create another organisation of that name") from None
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
