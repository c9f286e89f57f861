"""The composition root: reads the settings once and builds the object graph the web app and the CLI share.

Imports no Pyramid, so the web app, the CLI and the integration tests all wire the product the same way.
Knows which adapter backs which port; knows nothing of HTTP, routes or requests.
"""
from __future__ import annotations

import os
from datetime import timedelta
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping
from urllib.parse import urlsplit

from ..adapters.federation import JwksKeys, JwtClientAssertionVerifier
from ..adapters.memory import InMemoryStore, InMemoryUnitOfWork
from ..adapters.system import SystemClock, UuidGenerator
from ..domain.access import AcceptedTokens, StoredTokenAuthority
from ..domain.credentials import OpsCredentials, PasswordHash
from ..domain.errors import InvalidValue, StoreUnavailable
from ..domain.fair_use import FairUse, TokenFailures
from ..domain.oauth import (DEFAULT_ACCESS_TOKEN_SECONDS, MAX_ACCESS_TOKEN_SECONDS, MIN_ACCESS_TOKEN_SECONDS,
                            ClientService, TokenEndpoint, access_token_lifetime)
from ..domain.model import Member
from ..domain.ports import Clock, IdGenerator, UnitOfWork
from ..domain.scim.api import ScimApi
from ..domain.operations import Operations
from ..domain.services import MemberService, Onboarding, add_member, onboard
from ..domain.teams import TeamService

STORAGE_KEY = "wiggledesk.storage"
URL_KEY = "sqlalchemy.url"
MAX_RESULTS_KEY = "wiggledesk.scim.max_results"
TOKEN_CACHE_KEY = "wiggledesk.token_cache_seconds"
ACTIVITY_RETENTION_KEY = "wiggledesk.activity.retention_days"
FAIR_USE_RATE_KEY = "wiggledesk.fair_use.rate"
FAIR_USE_BURST_KEY = "wiggledesk.fair_use.burst"
AUTO_MIGRATE_KEY = "wiggledesk.auto_migrate"
PUBLIC_URL_KEY = "wiggledesk.public_url"
ACCESS_TOKEN_SECONDS_KEY = "wiggledesk.oauth.access_token_seconds"
HIDE_PARAMETERS_KEY = "sqlalchemy.hide_parameters"
ACCESS_LOG_KEY = "wiggledesk.access_log"
ACCESS_LOG_FILE_KEY = "wiggledesk.access_log.file"
OPS_USERNAME_KEY = "ops.username"
OPS_PASSWORD_HASH_KEY = "ops.password_hash"
#: pyramid_retry's own key, validated here like ours.
RETRY_ATTEMPTS_KEY = "retry.attempts"

STORAGES = ("sqlalchemy", "memory")
#: How the access log writes its one line per request (entrypoints/access_log.py), or ``off``.
ACCESS_LOG_FORMATS = ("plain", "json", "off")
DEFAULT_MAX_RESULTS = 200
MAX_RESULTS_LIMIT = 1000
DEFAULT_PUBLIC_URL = "http://127.0.0.1:6543"
#: How long a process takes an accepted token as accepted without reading it again (domain/access.py):
#: the bound on how late a revocation or a switched-off API access reaches a running process.
DEFAULT_TOKEN_CACHE_SECONDS = 0
MAX_TOKEN_CACHE_SECONDS = 300
#: How long the activity trail is kept by ``prune-activity``: long enough for support to look back over a
#: quarter's provisioning cycles.
DEFAULT_ACTIVITY_RETENTION_DAYS = 90
MAX_ACTIVITY_RETENTION_DAYS = 3650
#: Fair use (domain/fair_use.py): off unless the ini sets a rate; the inis ship with one.
DEFAULT_FAIR_USE_BURST = 200
MAX_FAIR_USE_RATE = 100_000
#: How often a request is tried in all when PostgreSQL gives up its transaction over a serialization
#: failure or a deadlock; the last failure answers 503. Each attempt reruns the whole request, so a
#: few are enough for a race and more would only keep a client waiting on a database in trouble.
DEFAULT_RETRY_ATTEMPTS = 3
MAX_RETRY_ATTEMPTS = 10

#: ``sqlalchemy.url = env:NAME`` reads the URL from the environment variable NAME. PasteDeploy has no
#: way to interpolate environment variables into an ini, and production keeps its credentials out of
#: files, so this one indirection lives here, where a missing variable can be reported plainly.
ENV_PREFIX = "env:"

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class SettingsError(ValueError):
    """A setting an operator must fix; the message names the key and says what to write."""


@dataclass(frozen=True)
class AppSettings:
    """The validated ``[app:main]`` settings. ``engine_settings`` holds every ``sqlalchemy.*`` key, the
    URL already resolved, ready for the engine factory (pool options become ini keys that way)."""

    storage: str = "sqlalchemy"
    database_url: str | None = None
    max_results: int = DEFAULT_MAX_RESULTS
    token_cache_seconds: int = DEFAULT_TOKEN_CACHE_SECONDS
    activity_retention_days: int = DEFAULT_ACTIVITY_RETENTION_DAYS
    #: SCIM requests per second per organisation and process (0: no limit), and how many at once.
    fair_use_rate: float = 0.0
    fair_use_burst: int = DEFAULT_FAIR_USE_BURST
    auto_migrate: bool = False
    public_url: str = DEFAULT_PUBLIC_URL
    access_log: str = "plain"
    #: The access log's file, or None for the process's stderr.
    access_log_file: str | None = None
    #: How often a request is tried in all over a lost race (pyramid_retry); 1: no retries.
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    #: The lifetime of the access tokens the token endpoint issues (ENTRA.md §2.2: 1 to 6 hours).
    access_token_seconds: int = DEFAULT_ACCESS_TOKEN_SECONDS
    #: Who may open the ops console (entrypoints/ops); None: there is no console.
    ops_credentials: OpsCredentials | None = None
    engine_settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
                      ) -> "AppSettings":
        environ = os.environ if environ is None else environ
        storage = _text(settings, STORAGE_KEY, "sqlalchemy").lower()
        if storage not in STORAGES:
            raise SettingsError(
                f"{STORAGE_KEY} = {storage!r} is not a storage we have; write "
                f"{STORAGE_KEY} = sqlalchemy (a database, the default) or memory (nothing survives a restart)")
        database_url = None
        engine_settings: dict[str, Any] = {}
        if storage == "sqlalchemy":
            database_url = _database_url(settings, environ)
            engine_settings = {key: value for key, value in settings.items()
                               if key.startswith("sqlalchemy.")}
            engine_settings[URL_KEY] = database_url
            # SQLAlchemy puts a failed statement's parameters into the exception's message, which
            # the 500 handler logs; they hold token digests and personal data. Hidden unless asked.
            engine_settings[HIDE_PARAMETERS_KEY] = _boolean(settings, HIDE_PARAMETERS_KEY, True)
        return cls(
            storage=storage,
            database_url=database_url,
            max_results=_whole_number(
                settings, MAX_RESULTS_KEY, DEFAULT_MAX_RESULTS, 1, MAX_RESULTS_LIMIT,
                "the most members one list request returns"),
            token_cache_seconds=_whole_number(
                settings, TOKEN_CACHE_KEY, DEFAULT_TOKEN_CACHE_SECONDS, 0, MAX_TOKEN_CACHE_SECONDS,
                "how many seconds a process trusts a token it accepted before reading it again; 0 reads "
                "it on every request"),
            fair_use_rate=_rate(settings),
            fair_use_burst=_whole_number(
                settings, FAIR_USE_BURST_KEY, DEFAULT_FAIR_USE_BURST, 1, 100_000,
                "how many SCIM requests an organisation may send at once before the rate applies"),
            activity_retention_days=_whole_number(
                settings, ACTIVITY_RETENTION_KEY, DEFAULT_ACTIVITY_RETENTION_DAYS, 1, MAX_ACTIVITY_RETENTION_DAYS,
                "how many days `prune-activity` keeps the provisioning activity trail"),
            auto_migrate=_boolean(settings, AUTO_MIGRATE_KEY, False),
            public_url=_public_url(settings),
            access_log=_access_log(settings),
            access_log_file=_text(settings, ACCESS_LOG_FILE_KEY, "") or None,
            retry_attempts=_whole_number(
                settings, RETRY_ATTEMPTS_KEY, DEFAULT_RETRY_ATTEMPTS, 1, MAX_RETRY_ATTEMPTS,
                "how often a request is tried in all when PostgreSQL gives up its transaction over a "
                "serialization failure or a deadlock; 1 turns retries off"),
            access_token_seconds=_whole_number(
                settings, ACCESS_TOKEN_SECONDS_KEY, DEFAULT_ACCESS_TOKEN_SECONDS, MIN_ACCESS_TOKEN_SECONDS,
                MAX_ACCESS_TOKEN_SECONDS, "how many seconds an access token of the token endpoint is valid; "
                "Entra's gallery accepts 3600 to 21600"),
            ops_credentials=_ops_credentials(settings),
            engine_settings=engine_settings,
        )


def _text(settings: Mapping[str, Any], key: str, default: str) -> str:
    value = settings.get(key)
    if value is None:
        return default
    value = str(value).strip()
    return value or default


def _rate(settings: Mapping[str, Any]) -> float:
    value = settings.get(FAIR_USE_RATE_KEY)
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0.0
    try:
        rate = float(str(value).strip())
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= MAX_FAIR_USE_RATE or rate != rate:
        raise SettingsError(
            f"{FAIR_USE_RATE_KEY} = {value!r} must be a number of requests per second from 0 to "
            f"{MAX_FAIR_USE_RATE} (SCIM requests per second each organisation may send to one process; "
            f"0 or no value: no limit)")
    return rate


def _boolean(settings: Mapping[str, Any], key: str, default: bool) -> bool:
    value = settings.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(f"{key} = {value!r} is not a yes/no value; write {key} = true or {key} = false")


def _whole_number(settings: Mapping[str, Any], key: str, default: int, low: int, high: int,
                  meaning: str) -> int:
    value = settings.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise SettingsError(
            f"{key} = {value!r} must be a whole number from {low} to {high} "
            f"({meaning}; the default is {default})")
    return number


def _public_url(settings: Mapping[str, Any]) -> str:
    value = _text(settings, PUBLIC_URL_KEY, DEFAULT_PUBLIC_URL)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(
            f"{PUBLIC_URL_KEY} = {value!r} must be the address Entra reaches this service at, "
            f"such as https://scim.wiggledesk.example")
    return value.rstrip("/")


def _access_log(settings: Mapping[str, Any]) -> str:
    value = _text(settings, ACCESS_LOG_KEY, "plain")
    if value.lower() not in ACCESS_LOG_FORMATS:
        raise SettingsError(
            f"{ACCESS_LOG_KEY} = {value!r} is not an access log format; write {ACCESS_LOG_KEY} = plain "
            f"(key=value pairs, the default), json (one JSON object per line) or off")
    return value.lower()


def _ops_credentials(settings: Mapping[str, Any]) -> OpsCredentials | None:
    username = _text(settings, OPS_USERNAME_KEY, "")
    password_hash = _text(settings, OPS_PASSWORD_HASH_KEY, "")
    if not username and not password_hash:
        return None
    if not username or not password_hash:
        given, missing = ((OPS_USERNAME_KEY, OPS_PASSWORD_HASH_KEY) if username
                          else (OPS_PASSWORD_HASH_KEY, OPS_USERNAME_KEY))
        raise SettingsError(
            f"{given} is set but {missing} is not; the ops console needs both (make the hash with "
            f"`wiggledesk-scim CONFIG ops-password`), or neither to have no console")
    # Neither message echoes the hash: it is not a secret, but it is no one's business in a log either.
    try:
        parsed = PasswordHash.parse(password_hash)
    except InvalidValue as error:
        raise SettingsError(f"{OPS_PASSWORD_HASH_KEY} is not usable: {error.detail}; paste the line "
                            f"`wiggledesk-scim CONFIG ops-password` prints") from None
    try:
        return OpsCredentials(username, parsed)
    except InvalidValue as error:
        raise SettingsError(f"{OPS_USERNAME_KEY} = {username!r} is not usable: {error.detail}") from None


def _database_url(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    value = _text(settings, URL_KEY, "")
    if not value:
        raise SettingsError(
            f"{URL_KEY} is not set in the [app:main] section; set it to a database URL such as "
            f"postgresql+psycopg://wiggledesk@db.internal/wiggledesk or sqlite:///%(here)s/var/wiggledesk-scim.sqlite, "
            f"or write {STORAGE_KEY} = memory to keep everything in memory")
    if value.startswith(ENV_PREFIX):
        name = value[len(ENV_PREFIX):].strip()
        resolved = environ.get(name, "").strip() if name else ""
        if not resolved:
            raise SettingsError(
                f"{URL_KEY} = {value} reads the environment variable {name or '(no name given)'}, "
                f"which is not set; export it with the database URL "
                f"(e.g. {name or 'WIGGLEDESK_DATABASE_URL'}=postgresql+psycopg://wiggledesk@db.internal/wiggledesk)")
        value = resolved
    if "://" not in value:
        # Never echo the value: it may hold a password.
        raise SettingsError(
            f"{URL_KEY} is not a database URL; it must look like dialect+driver://user@host/database, "
            f"e.g. postgresql+psycopg://wiggledesk@db.internal/wiggledesk")
    return value


class InMemoryRequestUnitOfWork(InMemoryUnitOfWork):
    """An in-memory unit of work with the ``close()`` every request calls; there is nothing to release."""

    def close(self) -> None:
        pass


class InMemoryStorage:
    """``wiggledesk.storage = memory``: one store per process, shared by every request.

    Each unit-of-work block is atomic on its own (the store's lock and snapshot); the request's
    transaction manager is not involved, as there is no database to commit to.
    """

    #: No transaction here can lose a race to another (each block holds the store's one lock).
    races = False

    def __init__(self, store: InMemoryStore | None = None):
        self.store = store or InMemoryStore()

    def open(self, transaction_manager: Any, *, read_only: bool = False) -> InMemoryRequestUnitOfWork:
        return InMemoryRequestUnitOfWork(self.store)

    def unavailable(self, error: BaseException) -> StoreUnavailable | None:
        """``error`` if it is a ``StoreUnavailable``, else None: there is no database to fail."""
        return error if isinstance(error, StoreUnavailable) else None


@dataclass
class Container:
    """The object graph: one per process, built once by ``build_container``; request-scoped objects are
    made from it per unit of work."""

    settings: AppSettings
    #: ``InMemoryStorage`` or ``SqlAlchemyStorage``: ``open(manager, read_only=...)`` gives a request its
    #: unit of work, ``unavailable(error)`` says whether an error means the store cannot answer now, and
    #: ``races`` whether a transaction can lose a race that running it again would win.
    storage: Any
    clock: Clock = field(default_factory=SystemClock)
    ids: IdGenerator = field(default_factory=UuidGenerator)
    engine: Any = None
    #: Tokens accepted lately, shared by this process's requests (None: read on every request).
    accepted_tokens: AcceptedTokens | None = None
    #: Each organisation's token bucket in this process (None: no limit).
    fair_use: FairUse | None = None
    #: The JWKS keys of federated trusts, by URI and kid: one cache per process, so that its limit of one
    #: refetch per 30 s per URI holds for the whole process, not per request (ADR 12).
    jwks_keys: JwksKeys = field(default_factory=JwksKeys)
    #: Token-endpoint failures, counted in the fair-use buckets (None when there is no limit).
    token_failures: TokenFailures | None = None

    def __post_init__(self) -> None:
        if self.accepted_tokens is None and self.settings.token_cache_seconds > 0:
            self.accepted_tokens = AcceptedTokens(self.clock, timedelta(seconds=self.settings.token_cache_seconds))
        if self.fair_use is None and self.settings.fair_use_rate > 0:
            self.fair_use = FairUse(self.settings.fair_use_rate, self.settings.fair_use_burst)
        if self.token_failures is None and self.fair_use is not None:
            self.token_failures = TokenFailures(self.fair_use)

    def api(self, uow: UnitOfWork) -> ScimApi:
        return ScimApi(MemberService(uow, self.clock, self.ids), self.authority(uow),
                       max_results=self.settings.max_results, fair_use=self.fair_use,
                       teams=TeamService(uow, self.clock, self.ids))

    def token_endpoint(self, uow: UnitOfWork) -> TokenEndpoint:
        """``POST /oauth2/token``'s logic over ``uow``, with the process's one JWKS cache."""
        return TokenEndpoint(uow, self.clock, self.ids, JwtClientAssertionVerifier(self.jwks_keys),
                             access_token_lifetime(self.settings.access_token_seconds))

    def clients(self, uow: UnitOfWork) -> ClientService:
        """The operations on OAuth clients (the CLI's ``clients`` commands) over ``uow``."""
        return ClientService(uow, self.clock, self.ids)

    def authority(self, uow: UnitOfWork) -> StoredTokenAuthority:
        return StoredTokenAuthority(uow, self.clock, self.ids, self.accepted_tokens)

    def operations(self, uow: UnitOfWork) -> Operations:
        """Ops' and support's tools (the CLI, the ops console) over ``uow``."""
        return Operations(uow, self.clock, self.authority(uow))

    def readiness_problem(self) -> str | None:
        """Why this process cannot serve yet (for ``/readyz`` and its log line), or None if it can:
        the database does not answer, or its schema is not the revision this release ships."""
        if self.engine is None:
            return None  # memory storage is ready as soon as the process is
        from ..adapters.sqlalchemy import migrate

        try:
            current = migrate.current_revision(self.engine)
        except Exception as error:  # any failure to reach the database means "not ready"
            # The error's class and first line: never the URL, which may hold a password.
            text = str(error).strip().splitlines()
            return f"the database does not answer ({type(error).__name__}: {text[0] if text else 'no details'})"
        head, shipped = self._revisions
        if current is None or (current != head and current in shipped):
            return (f"the database schema is at revision {current or 'none'}, this release needs "
                    f"{head}; run `wiggledesk-scim CONFIG migrate`")
        # At this release's head, or at a revision it does not ship: a newer release migrated during an
        # upgrade. Migrations only add to the schema, so this one keeps serving until it is replaced.
        return None

    @cached_property
    def _revisions(self) -> tuple[str | None, frozenset[str]]:
        from ..adapters.sqlalchemy import migrate

        return migrate.head_revision(), migrate.shipped_revisions()

    def onboard(self, uow: UnitOfWork, organisation_name: str, admin_email: str, *,
                allow_duplicate_name: bool = False) -> Onboarding:
        return onboard(uow, self.clock, self.ids, self.authority(uow), organisation_name, admin_email,
                       allow_duplicate_name=allow_duplicate_name)

    def add_member(self, uow: UnitOfWork, organisation_id: str, email: str, *, admin: bool) -> Member:
        return add_member(uow, self.clock, self.ids, organisation_id, email, admin=admin)


#: Where the app keeps its container in Pyramid's registry.
CONTAINER_KEY = "wiggledesk.container"


def container_of(request) -> Container:
    """The container of the app that serves ``request`` (or of a script's ``bootstrap`` request)."""
    return request.registry[CONTAINER_KEY]


def build_container(settings: Mapping[str, Any] | AppSettings) -> Container:
    """Validate the settings and build the adapters. Opens no connection, except to migrate the schema
    when ``wiggledesk.auto_migrate`` is on (development)."""
    app_settings = settings if isinstance(settings, AppSettings) else AppSettings.from_settings(settings)
    if app_settings.storage == "memory":
        return Container(settings=app_settings, storage=InMemoryStorage())
    # Imported here so that memory storage never loads SQLAlchemy.
    from ..adapters.sqlalchemy import SqlAlchemyStorage, engine_from_settings, migrate

    engine = engine_from_settings(dict(app_settings.engine_settings), prefix="sqlalchemy.")
    if app_settings.auto_migrate:
        migrate.upgrade(engine)
    return Container(settings=app_settings, storage=SqlAlchemyStorage(engine), engine=engine)
