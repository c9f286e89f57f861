"""One contract for the OAuth clients and access tokens of every storage: the in-memory store (the reference),
SQLite and PostgreSQL.

``OAuthContract`` holds the tests; each storage is a subclass supplying one ``store`` fixture, as in
test_repository_contract, whose stores and fixtures (``StoreContract``: Contoso with API access, Fabrikam
without) this reuses. Every store must give the in-memory store's answers; the SQL stores must also check
a presented secret or access token in one indexed statement, and write a reading unit's last-use stamps
apart.
"""
from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import quote_plus

import pytest
from sqlalchemy import delete

from tests.integration.test_repository_contract import MemoryStore, SqlStore, Store, StoreContract
from tests.integration.units import statements_sent
from wiggledesk_scim.adapters.sqlalchemy.tables import access_tokens, client_secrets, oauth_clients
from wiggledesk_scim.domain.access import SECRET_REVOKED, StoredTokenAuthority, digest
from wiggledesk_scim.domain.errors import AccessRefused, AssertionRefused, NotFound
from wiggledesk_scim.domain.model import (AccessToken, AccessTokenGrant, ClientSecret, ClientSecretGrant,
                                          FederatedTrust, OAuthClient, Organisation, Principal)
from wiggledesk_scim.domain.oauth import ClientService, TokenEndpoint
from wiggledesk_scim.domain.ports import ClientAssertionVerifier

#: Ids no client, secret or organisation has: an unknown UUID, and text that cannot be an id at all.
UNKNOWN = "00000000-0000-4000-8000-00000000dead"
MALFORMED = [UNKNOWN, "no-such-id", "x" * 80, "nul\x00", "", None]
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def basic(client_id: str, secret: str) -> str:
    """An HTTP Basic header as Entra sends it (RFC 6749 §2.3.1: each part form-urlencoded first)."""
    return "Basic " + base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


class NoAssertions(ClientAssertionVerifier):
    """The end-to-end tests authenticate by secret: any assertion is refused."""

    def verify(self, assertion, trust, now) -> None:
        raise AssertionRefused("no assertion is expected here")


class OAuthContract(StoreContract):
    """How every storage keeps OAuth clients, their secrets and trusts, and access tokens: as
    ``adapters/memory.py`` does."""

    # -- builders ------------------------------------------------------------------------------------

    def client(self, store: Store, clock, ids, organisation: Organisation, name: str = "Entra provisioning", *,
               id: str | None = None, created: datetime | None = None) -> OAuthClient:
        """A new client of ``organisation``, stored; a little later than the last unless ``created``."""
        client = OAuthClient(id=id or ids.new_id(), organisation_id=organisation.id, name=name,
                             created=created or clock.advance(1.000001))
        store.run(lambda uow: uow.clients.add(client))
        return client

    def secret(self, store: Store, clock, ids, client: OAuthClient, plaintext: str, *, days: int = 730,
               created: datetime | None = None) -> ClientSecret:
        """A new secret of ``client`` whose digest is ``plaintext``'s, stored."""
        now = created or clock.advance(1.000001)
        secret = ClientSecret(id=ids.new_id(), client_id=client.id, digest=digest(plaintext), created=now,
                              expires=now + timedelta(days=days))
        store.run(lambda uow: uow.clients.add_secret(secret))
        return secret

    def access_token(self, store: Store, clock, ids, client: OAuthClient, secret: ClientSecret | None,
                     plaintext: str, *, seconds: float = 3600) -> AccessToken:
        """A new access token of ``client`` (under ``secret``, or on an assertion if None), stored."""
        now = clock.advance(0.000001)
        token = AccessToken(id=ids.new_id(), client_id=client.id, secret_id=None if secret is None else secret.id,
                            organisation_id=client.organisation_id, digest=digest(plaintext), created=now,
                            expires=now + timedelta(seconds=seconds))
        store.run(lambda uow: uow.access_tokens.add(token))
        return token

    def grant(self, store: Store, plaintext: str) -> AccessTokenGrant | None:
        return store.read(lambda uow: uow.access_tokens.grant_by_digest(digest(plaintext)))

    def secret_grant(self, store: Store, plaintext: str) -> ClientSecretGrant | None:
        return store.read(lambda uow: uow.clients.secret_by_digest(digest(plaintext)))

    def switch_api_access(self, store: Store, organisation: Organisation, on: bool) -> None:
        store.run(lambda uow: uow.organisations.update(replace(organisation, api_access=on)))

    def delete_by_hand(self, store: Store, *, client_id: str | None = None, secret_id: str | None = None) -> None:
        """What no code does: delete a client or a secret outright (an operator at the database)."""
        raise NotImplementedError

    # -- clients ---------------------------------------------------------------------------------------

    def test_a_client_round_trips_and_the_organisations_clients_are_listed_oldest_first(self, store, clock, ids,
                                                                                        contoso, fabrikam):
        """get returns the client as stored; list_for_organisation gives the organisation's own, by creation."""
        first = self.client(store, clock, ids, contoso, "Entra production")
        theirs = self.client(store, clock, ids, fabrikam, "Entra production")
        second = self.client(store, clock, ids, contoso, "Entra staging")

        assert store.read(lambda uow: uow.clients.get(first.id)) == first
        assert store.read(lambda uow: uow.clients.list_for_organisation(contoso.id)) == [first, second]
        assert store.read(lambda uow: uow.clients.list_for_organisation(fabrikam.id)) == [theirs]

    def test_clients_created_at_the_same_moment_are_listed_by_id(self, store, clock, ids, contoso):
        """Ties in creation time are broken by id, by code point."""
        now = clock.advance()
        later_id = self.client(store, clock, ids, contoso, "B", id="00000000-0000-4000-8000-0000000000b2", created=now)
        earlier_id = self.client(store, clock, ids, contoso, "A", id="00000000-0000-4000-8000-0000000000a1",
                                 created=now)

        assert store.read(lambda uow: uow.clients.list_for_organisation(contoso.id)) == [earlier_id, later_id]

    def test_revoking_a_client_keeps_its_first_revocation_time(self, store, clock, ids, contoso):
        """A revoked client stays (revoked); revoking it again changes nothing."""
        client = self.client(store, clock, ids, contoso)
        first = clock.advance()
        store.run(lambda uow: uow.clients.revoke(client.id, first))
        store.run(lambda uow: uow.clients.revoke(client.id, clock.advance()))

        assert store.read(lambda uow: uow.clients.get(client.id)) == replace(client, revoked=first)
        assert store.read(lambda uow: uow.clients.list_for_organisation(contoso.id)) == [replace(client, revoked=first)]

    def test_marking_a_client_and_a_secret_used_records_the_time(self, store, clock, ids, contoso):
        """mark_used and mark_secret_used move last_used, each time to the latest."""
        client = self.client(store, clock, ids, contoso)
        secret = self.secret(store, clock, ids, client, "wdscs_first")
        store.run(lambda uow: (uow.clients.mark_used(client.id, clock.advance()),
                               uow.clients.mark_secret_used(secret.id, clock.current)))
        used = clock.advance(60.000001)
        store.run(lambda uow: (uow.clients.mark_used(client.id, used), uow.clients.mark_secret_used(secret.id, used)))

        assert store.read(lambda uow: (uow.clients.get(client.id), uow.clients.get_secret(secret.id))) == (
            replace(client, last_used=used), replace(secret, last_used=used))

    def test_marking_a_gone_or_malformed_client_or_secret_used_does_nothing(self, store, clock, contoso):
        """Recording use of a client or secret that does not exist neither fails nor creates it."""
        def mark(uow):
            for unknown in MALFORMED:
                uow.clients.mark_used(unknown, clock.now())
                uow.clients.mark_secret_used(unknown, clock.now())
        store.run(mark)

        assert store.read(lambda uow: uow.clients.list_for_organisation(contoso.id)) == []

    @pytest.mark.parametrize("unknown", MALFORMED, ids=repr)
    def test_an_unknown_or_malformed_id_is_not_found_by_every_call(self, store, clock, ids, contoso, unknown):
        """get, get_secret, revoke and revoke_secret raise NotFound; the listings are empty and there is no
        trust, whatever the id is."""
        self.secret(store, clock, ids, self.client(store, clock, ids, contoso), "wdscs_kept")
        for call in (lambda uow: uow.clients.get(unknown), lambda uow: uow.clients.get_secret(unknown),
                     lambda uow: uow.clients.revoke(unknown, clock.now()),
                     lambda uow: uow.clients.revoke_secret(unknown, clock.now())):
            with pytest.raises(NotFound):
                store.run(call)

        assert store.read(lambda uow: (uow.clients.list_for_organisation(unknown), uow.clients.secrets_of(unknown),
                                       uow.clients.get_trust(unknown))) == ([], [], None)

    def test_work_left_uncommitted_is_discarded(self, store, clock, ids, contoso):
        """A client, secret and access token written by a unit that does not commit are not stored."""
        client = OAuthClient(id=ids.new_id(), organisation_id=contoso.id, name="Abandoned", created=clock.now())
        secret = ClientSecret(id=ids.new_id(), client_id=client.id, digest=digest("wdscs_abandoned"),
                              created=clock.now(), expires=clock.now() + timedelta(days=1))
        token = AccessToken(id=ids.new_id(), client_id=client.id, secret_id=secret.id, organisation_id=contoso.id,
                            digest=digest("wdsat_abandoned"), created=clock.now(), expires=clock.now())
        store.run(lambda uow: (uow.clients.add(client), uow.clients.add_secret(secret), uow.access_tokens.add(token)),
                  commit=False)

        assert store.read(lambda uow: uow.clients.list_for_organisation(contoso.id)) == []
        assert self.grant(store, "wdsat_abandoned") is None

    # -- secrets ---------------------------------------------------------------------------------------

    def test_a_clients_secrets_round_trip_oldest_first_with_their_expiry(self, store, clock, ids, contoso):
        """get_secret returns the secret as stored (its expiry to the microsecond); secrets_of gives the
        client's own, by creation, revoked or not."""
        client, other = self.client(store, clock, ids, contoso), self.client(store, clock, ids, contoso, "Other")
        old = self.secret(store, clock, ids, client, "wdscs_old", days=1)
        self.secret(store, clock, ids, other, "wdscs_others")
        new = self.secret(store, clock, ids, client, "wdscs_new", days=1095)
        revoked = clock.advance()
        store.run(lambda uow: uow.clients.revoke_secret(old.id, revoked))

        assert store.read(lambda uow: uow.clients.get_secret(new.id)) == new
        assert new.expires == new.created + timedelta(days=1095) and new.expires.microsecond == new.created.microsecond
        assert store.read(lambda uow: uow.clients.secrets_of(client.id)) == [replace(old, revoked=revoked), new]

    def test_revoking_a_secret_keeps_its_first_revocation_time(self, store, clock, ids, contoso):
        client = self.client(store, clock, ids, contoso)
        secret = self.secret(store, clock, ids, client, "wdscs_revoked")
        first = clock.advance()
        store.run(lambda uow: uow.clients.revoke_secret(secret.id, first))
        store.run(lambda uow: uow.clients.revoke_secret(secret.id, clock.advance()))

        assert store.read(lambda uow: uow.clients.get_secret(secret.id)).revoked == first

    def test_a_secret_is_found_by_its_digest_with_its_client_and_organisations_api_access(self, store, clock, ids,
                                                                                         contoso):
        """secret_by_digest: the secret (revoked or expired alike) with its client and its organisation's API
        access as they stand at the read; an unknown digest finds None."""
        client = self.client(store, clock, ids, contoso)
        secret = self.secret(store, clock, ids, client, "wdscs_entra", days=1)

        assert self.secret_grant(store, "wdscs_entra") == ClientSecretGrant(secret=secret, client=client,
                                                                            organisation_api_access=True)
        assert self.secret_grant(store, "wdscs_nobody") is None
        assert store.read(lambda uow: uow.clients.secret_by_digest("nul\x00")) is None

        revoked = clock.advance()
        store.run(lambda uow: (uow.clients.revoke(client.id, revoked), uow.clients.revoke_secret(secret.id, revoked)))
        self.switch_api_access(store, contoso, False)

        assert self.secret_grant(store, "wdscs_entra") == ClientSecretGrant(
            secret=replace(secret, revoked=revoked), client=replace(client, revoked=revoked),
            organisation_api_access=False)

    def test_each_secrets_grant_carries_its_own_organisations_api_access(self, store, clock, ids, contoso, fabrikam):
        """Contoso's secret reads Contoso's API access (on), Fabrikam's reads Fabrikam's (off)."""
        ours = self.client(store, clock, ids, contoso)
        theirs = self.client(store, clock, ids, fabrikam)
        self.secret(store, clock, ids, ours, "wdscs_ours")
        self.secret(store, clock, ids, theirs, "wdscs_theirs")

        assert [self.secret_grant(store, s).organisation_api_access for s in ("wdscs_ours", "wdscs_theirs")] == [
            True, False]
        assert [self.secret_grant(store, s).client for s in ("wdscs_ours", "wdscs_theirs")] == [ours, theirs]

    # -- trusts ----------------------------------------------------------------------------------------

    def test_a_trust_is_set_replaced_and_read_per_client(self, store, clock, ids, contoso):
        """set_trust makes the trust the client's, replacing any; a client without one has None."""
        client, plain = self.client(store, clock, ids, contoso), self.client(store, clock, ids, contoso, "Plain")
        trust = FederatedTrust.for_tenant(client.id, TENANT, audience="api://AzureADTokenExchange", subject="app-1")
        store.run(lambda uow: uow.clients.set_trust(trust))
        assert store.read(lambda uow: uow.clients.get_trust(client.id)) == trust

        moved = FederatedTrust(client_id=client.id, tenant="contoso.onmicrosoft.com",
                               issuer="https://issuer.contoso.example/v2.0", audience="api://contoso-scim",
                               subject="app-2", jwks_uri="https://issuer.contoso.example/keys")
        store.run(lambda uow: uow.clients.set_trust(moved))

        assert store.read(lambda uow: (uow.clients.get_trust(client.id), uow.clients.get_trust(plain.id))) == (
            moved, None)

    # -- access tokens ---------------------------------------------------------------------------------

    def test_an_access_tokens_grant_is_read_with_its_client_secret_and_organisation(self, store, clock, ids,
                                                                                    contoso):
        """grant_by_digest: the token (expired or not) with its client, the secret it was issued under and its
        organisation's API access; a token issued on an assertion has no secret; an unknown digest finds None."""
        client = self.client(store, clock, ids, contoso)
        secret = self.secret(store, clock, ids, client, "wdscs_entra")
        by_secret = self.access_token(store, clock, ids, client, secret, "wdsat_by_secret", seconds=-1)
        by_assertion = self.access_token(store, clock, ids, client, None, "wdsat_by_assertion")

        assert self.grant(store, "wdsat_by_secret") == AccessTokenGrant(token=by_secret, client=client, secret=secret,
                                                                        organisation_api_access=True)
        assert self.grant(store, "wdsat_by_assertion") == AccessTokenGrant(
            token=by_assertion, client=client, secret=None, organisation_api_access=True)
        assert self.grant(store, "wdsat_nobody") is None
        assert store.read(lambda uow: uow.access_tokens.grant_by_digest("nul\x00")) is None

    def test_a_grant_reflects_a_later_revocation_of_the_secret_or_client_and_api_access(self, store, clock, ids,
                                                                                        contoso):
        """What happened after the token was issued is what the next read sees: revocation of the secret, then
        of the client, then the organisation's API access switched off."""
        client = self.client(store, clock, ids, contoso)
        secret = self.secret(store, clock, ids, client, "wdscs_entra")
        self.access_token(store, clock, ids, client, secret, "wdsat_live")

        secret_revoked = clock.advance()
        store.run(lambda uow: uow.clients.revoke_secret(secret.id, secret_revoked))
        assert self.grant(store, "wdsat_live").secret.revoked == secret_revoked
        client_revoked = clock.advance()
        store.run(lambda uow: uow.clients.revoke(client.id, client_revoked))
        assert self.grant(store, "wdsat_live").client.revoked == client_revoked
        self.switch_api_access(store, contoso, False)
        assert self.grant(store, "wdsat_live").organisation_api_access is False

    def test_each_access_tokens_grant_belongs_to_its_own_clients_organisation(self, store, clock, ids, contoso,
                                                                             fabrikam):
        """Fabrikam's token names Fabrikam and reads Fabrikam's API access; Contoso's listing never shows its
        client, nor its secrets Contoso's client's."""
        ours, theirs = self.client(store, clock, ids, contoso), self.client(store, clock, ids, fabrikam)
        our_secret = self.secret(store, clock, ids, ours, "wdscs_ours")
        self.secret(store, clock, ids, theirs, "wdscs_theirs")
        self.access_token(store, clock, ids, ours, our_secret, "wdsat_ours")
        self.access_token(store, clock, ids, theirs, None, "wdsat_theirs")

        grants = [self.grant(store, token) for token in ("wdsat_ours", "wdsat_theirs")]

        assert [(g.token.organisation_id, g.client.organisation_id, g.organisation_api_access) for g in grants] == [
            (contoso.id, contoso.id, True), (fabrikam.id, fabrikam.id, False)]
        assert store.read(lambda uow: uow.clients.list_for_organisation(contoso.id)) == [ours]
        assert store.read(lambda uow: uow.clients.secrets_of(ours.id)) == [our_secret]

    def test_pruning_deletes_exactly_the_tokens_expired_before_the_time_and_counts_them(self, store, clock, ids,
                                                                                       contoso):
        """prune_expired(before): a token expiring before ``before`` goes, one expiring at it or later stays."""
        client = self.client(store, clock, ids, contoso)
        gone = [self.access_token(store, clock, ids, client, None, f"wdsat_gone_{n}", seconds=60) for n in range(3)]
        at_the_moment = self.access_token(store, clock, ids, client, None, "wdsat_at_the_moment", seconds=60)
        self.access_token(store, clock, ids, client, None, "wdsat_later", seconds=3600)

        assert store.run(lambda uow: uow.access_tokens.prune_expired(at_the_moment.expires)) == len(gone)
        assert store.run(lambda uow: uow.access_tokens.prune_expired(at_the_moment.expires)) == 0
        assert [self.grant(store, t) is None for t in ("wdsat_gone_0", "wdsat_at_the_moment", "wdsat_later")] == [
            True, False, False]

    def test_a_credential_whose_secret_or_client_is_gone_is_unknown(self, store, clock, ids, contoso):
        """Were a secret or a client deleted outright (no code does), what was issued under it reads as unknown:
        the in-memory store finds a dangling reference, the SQL stores' foreign keys cascade."""
        client = self.client(store, clock, ids, contoso)
        secret = self.secret(store, clock, ids, client, "wdscs_entra")
        self.access_token(store, clock, ids, client, secret, "wdsat_by_secret")
        self.access_token(store, clock, ids, client, None, "wdsat_by_assertion")

        self.delete_by_hand(store, secret_id=secret.id)
        assert [self.secret_grant(store, "wdscs_entra"), self.grant(store, "wdsat_by_secret")] == [None, None]
        assert self.grant(store, "wdsat_by_assertion") is not None
        self.delete_by_hand(store, client_id=client.id)
        assert self.grant(store, "wdsat_by_assertion") is None

    # -- end to end: the token endpoint, then SCIM requests -------------------------------------------------

    def test_a_secret_exchanged_at_the_token_endpoint_authenticates_until_it_is_revoked(self, store, clock, ids,
                                                                                       contoso):
        """ClientService creates a client; TokenEndpoint exchanges its secret (HTTP Basic) for an access token;
        StoredTokenAuthority accepts that token, as a GET's reading unit reads it, until the secret is revoked."""
        with store.transaction() as uow:
            created = ClientService(uow, clock, ids).create_client(contoso.id, "Entra provisioning")
        clock.advance(60)
        with store.transaction() as uow:
            answer = TokenEndpoint(uow, clock, ids, NoAssertions()).token(
                {"grant_type": ["client_credentials"], "scope": ["scim"]},
                basic(created.client.id, created.secret.plaintext))

        def authenticate(uow) -> Principal:
            return StoredTokenAuthority(uow, clock, ids).authenticate(answer["access_token"])
        principal = store.read(authenticate)

        assert (answer["token_type"], answer["expires_in"]) == ("Bearer", 3600)
        assert principal == Principal(organisation_id=contoso.id, admin_id=None, token_id=principal.token_id,
                                      client_id=created.client.id)
        assert store.read(lambda uow: (uow.clients.get(created.client.id).last_used,
                                       uow.clients.get_secret(created.secret.secret.id).last_used)) == (
            clock.now(), clock.now())

        with store.transaction() as uow:
            ClientService(uow, clock, ids).revoke_secret(created.secret.secret.id)
        with pytest.raises(AccessRefused) as refused:
            store.read(authenticate)

        assert (refused.value.detail, refused.value.forbidden, refused.value.organisation_id) == (
            SECRET_REVOKED, False, contoso.id)


# -- the stores ----------------------------------------------------------------------------------------

class TestInMemoryOAuth(OAuthContract):
    @pytest.fixture
    def store(self) -> Store:
        return MemoryStore()

    def delete_by_hand(self, store: MemoryStore, *, client_id: str | None = None,
                       secret_id: str | None = None) -> None:
        with store.state.lock:
            if secret_id is not None:
                del store.state.client_secrets[secret_id]
            if client_id is not None:
                del store.state.clients[client_id]


class SqlOAuthContract(OAuthContract):
    """The contract, plus what only a SQL store can show: the statements, the indexes, the writes apart."""

    @pytest.fixture
    def store(self, migrated_engine) -> SqlStore:
        return SqlStore(migrated_engine)

    def delete_by_hand(self, store: SqlStore, *, client_id: str | None = None,
                       secret_id: str | None = None) -> None:
        with store.engine.begin() as connection:
            if secret_id is not None:
                connection.execute(delete(client_secrets).where(client_secrets.c.id == secret_id))
            if client_id is not None:
                connection.execute(delete(oauth_clients).where(oauth_clients.c.id == client_id))

    def test_each_credential_check_is_one_statement(self, store, clock, ids, contoso):
        """secret_by_digest and grant_by_digest send one SELECT each, found or not."""
        client = self.client(store, clock, ids, contoso)
        secret = self.secret(store, clock, ids, client, "wdscs_entra")
        self.access_token(store, clock, ids, client, secret, "wdsat_live")

        for work in (lambda uow: uow.clients.secret_by_digest(digest("wdscs_entra")),
                     lambda uow: uow.clients.secret_by_digest(digest("wdscs_nobody")),
                     lambda uow: uow.access_tokens.grant_by_digest(digest("wdsat_live")),
                     lambda uow: uow.access_tokens.grant_by_digest(digest("wdsat_nobody"))):
            sent = statements_sent(store, work)
            assert [sql.split()[0] for sql, _ in sent] == ["SELECT"]

    @pytest.mark.parametrize("work, index", [
        (lambda uow: uow.access_tokens.grant_by_digest(digest("wdsat_7")), "uq_access_tokens_digest"),
        (lambda uow: uow.clients.secret_by_digest(digest("wdscs_7")), "uq_client_secrets_digest"),
        (lambda uow: uow.access_tokens.prune_expired(datetime.fromisoformat("2026-11-23T09:15:00+00:00")),
         "ix_access_tokens_expires"),
    ], ids=["grant_by_digest", "secret_by_digest", "prune_expired"])
    def test_credential_reads_and_pruning_are_index_backed(self, store, clock, ids, contoso, work, index):
        """Among many tokens and secrets, each check finds its row through the digest's unique index, and
        pruning its rows through the expiry index."""
        client = self.client(store, clock, ids, contoso)
        start = clock.advance()
        with store.engine.begin() as connection:
            connection.execute(client_secrets.insert(), [
                {"id": f"00000000-0000-4000-a000-{n:012d}", "client_id": client.id, "digest": digest(f"wdscs_{n}"),
                 "created": start, "expires": start + timedelta(days=730)} for n in range(2000)])
            connection.execute(access_tokens.insert(), [
                {"id": f"00000000-0000-4000-b000-{n:012d}", "client_id": client.id,
                 "secret_id": f"00000000-0000-4000-a000-{n:012d}", "organisation_id": contoso.id,
                 "digest": digest(f"wdsat_{n}"), "created": start, "expires": start + timedelta(hours=1, seconds=n)}
                for n in range(2000)])
            connection.exec_driver_sql("ANALYZE")

        statement, parameters = statements_sent(store, work)[-1]
        with store.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars().all()
            else:
                plan = [row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]

        assert any(index in line for line in plan), plan

    def test_a_reading_unit_writes_last_use_apart(self, store, clock, ids, contoso):
        """mark_used and mark_secret_used in a reading unit (a GET) are written in a transaction of their own,
        never refused and never through the reading unit's connection."""
        client = self.client(store, clock, ids, contoso)
        secret = self.secret(store, clock, ids, client, "wdscs_entra")
        used = clock.advance()

        store.read(lambda uow: (uow.clients.mark_used(client.id, used), uow.clients.mark_secret_used(secret.id, used)))

        assert store.read(lambda uow: (uow.clients.get(client.id).last_used,
                                       uow.clients.get_secret(secret.id).last_used)) == (used, used)


class TestSqliteOAuth(SqlOAuthContract):
    @pytest.fixture
    def database_url(self, sqlite_url) -> str:
        return sqlite_url


@pytest.mark.postgres
class TestPostgresOAuth(SqlOAuthContract):
    @pytest.fixture
    def database_url(self, postgres_url) -> str:
        return postgres_url
