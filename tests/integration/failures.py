"""Failures the tests provoke on purpose in a real app: a COMMIT that fails after the view answered."""
from __future__ import annotations

from pyramid.config import Configurator

from wiggledesk_scim.entrypoints.views import scim_view

COMMIT_FAILURE_PATH = "/test-only/commit-failure"


class FailingVote:
    """A data manager whose vote fails, so that the request's COMMIT fails after the view has answered."""

    def __init__(self, transaction_manager):
        self.transaction_manager = transaction_manager

    def sortKey(self):
        # Sorted before zope.sqlalchemy's "~sqlalchemy:…", so this vote fails before the database commits.
        return "0-failing-vote"

    def abort(self, transaction):
        pass

    def tpc_begin(self, transaction):
        pass

    def commit(self, transaction):
        pass

    def tpc_vote(self, transaction):
        raise RuntimeError("could not serialize access due to concurrent update")

    def tpc_finish(self, transaction):
        pass

    def tpc_abort(self, transaction):
        pass



def add_commit_failure_route(app) -> str:
    """Add to ``app`` a route whose view creates a member as POST /Users does and then makes the request's
    COMMIT fail (``FailingVote``); its path."""
    def create_but_fail_to_commit(request):
        response = scim_view({"POST": "create_user"}, "/scim/v2")(request)
        request.tm.get().join(FailingVote(request.tm))
        return response

    config = Configurator(registry=app.registry)
    config.add_route("test_only_commit_failure", COMMIT_FAILURE_PATH)
    config.add_view(create_but_fail_to_commit, route_name="test_only_commit_failure")
    config.commit()
    return COMMIT_FAILURE_PATH
