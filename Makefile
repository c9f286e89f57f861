# Two commands for a fresh machine (needs python3 with the venv module, and make):
#   make run    serve development.ini at http://127.0.0.1:6543/scim/v2 (SQLite in var/, created on first use)
#   make test   run the whole test suite
.PHONY: run test browser

VENV := .venv
# Reinstall only when setup.py changes (or the virtualenv is new): repeat runs start at once.
INSTALLED := $(VENV)/.installed

run: $(INSTALLED)
	$(VENV)/bin/pserve development.ini

# The unit tier first, with the coverage bar on the domain (100 %, lines and branches: it is the
# product, and cheap to cover there); then everything that needs a database or a server.
test: $(INSTALLED) browser
	$(VENV)/bin/pytest tests/unit --cov=wiggledesk_scim.domain --cov-branch --cov-report=term-missing:skip-covered --cov-fail-under=100
	$(VENV)/bin/pytest tests/integration

# The ops console's browser test (tests/integration/test_ops_browser.py) drives Debian's chromium through
# chromium-driver. As root, install them when missing; otherwise say how, and the test skips itself
# (unless WIGGLEDESK_REQUIRE_BROWSER=1, as in CI, which makes the missing browser a failure).
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
browser:
	@if [ -x $(CHROMIUM) ] && [ -x $(CHROMEDRIVER) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	else \
		echo "No $(CHROMIUM) or $(CHROMEDRIVER): the ops console's browser test will be skipped (install them with: sudo apt-get install chromium chromium-driver)"; \
	fi

$(INSTALLED): setup.py
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -e '.[testing]'
	touch $@
