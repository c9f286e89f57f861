# Two commands for a fresh machine (needs python3 with the venv module, and make):
#   make run    serve development.ini at http://127.0.0.1:6543/scim/v2 (SQLite in var/, created on first use)
#   make test   run the whole test suite
.PHONY: run test

VENV := .venv
# Reinstall only when setup.py changes (or the virtualenv is new): repeat runs start at once.
INSTALLED := $(VENV)/.installed

run: $(INSTALLED)
	$(VENV)/bin/pserve development.ini

# The unit tier first, with the coverage bar on the domain (100 %, lines and branches: it is the
# product, and cheap to cover there); then everything that needs a database or a server.
test: $(INSTALLED)
	$(VENV)/bin/pytest tests/unit --cov=wiggledesk_scim.domain --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=100
	$(VENV)/bin/pytest tests/integration

$(INSTALLED): setup.py
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[testing]'
	touch $@
